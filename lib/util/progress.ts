/**
 * Progress for long work: a one-line bar with count, rate and ETA on stderr (only when it is a terminal, or when
 * forced), plus an optional JSONL log of the same events for machines.
 *
 * @module
 */

/** Options for {@link Progress}. */
export interface ProgressOptions {
  /** What is being counted, e.g. "files", "tokens", "B". */
  unit?: string;
  /** Write the bar even when stderr is not a terminal (one line per update). */
  force?: boolean;
  /** Minimum milliseconds between redraws. */
  intervalMs?: number;
  /** Called with every update (e.g. to append to a JSONL log). */
  onUpdate?: (e: { done: number; total: number; rate: number; etaSeconds: number; extra?: string }) => void;
}

function fmtNum(n: number): string {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + "G";
  if (n >= 1e6) return (n / 1e6).toFixed(2) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** Formats seconds as `1h02m`, `3m05s` or `12s`. */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (h) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m) return `${m}m${String(sec).padStart(2, "0")}s`;
  return `${sec}s`;
}

/**
 * A progress bar: `label [#####.....] 512/1.02k files 85.3 files/s ETA 6s`.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * const bar = new Progress("tokenize", 100, { unit: "files" });
 * for (let i = 0; i < 100; i++) bar.tick();
 * bar.done();
 * ```
 */
export class Progress {
  #done = 0;
  #start = performance.now();
  #last = 0;
  #isTty: boolean;
  #opts: ProgressOptions;
  #enc = new TextEncoder();

  /** `label` starts the line; `total` is the unit count at 100% (0 or less: no percentage or ETA). */
  constructor(readonly label: string, public total: number, opts: ProgressOptions = {}) {
    this.#opts = opts;
    let tty = false;
    try {
      tty = Deno.stderr.isTerminal();
    } catch { /* not available */ }
    this.#isTty = tty;
  }

  /** Units done so far. */
  get count(): number {
    return this.#done;
  }

  /** Adds `n` done units and redraws if due. */
  tick(n = 1, extra?: string): void {
    this.update(this.#done + n, extra);
  }

  /** Sets the done count and redraws if due. */
  update(done: number, extra?: string): void {
    this.#done = done;
    const now = performance.now();
    if (now - this.#last < (this.#opts.intervalMs ?? 200) && done < this.total) return;
    this.#last = now;
    this.#draw(extra);
  }

  /** Current rate (units per second) and ETA (seconds). */
  stats(): { rate: number; etaSeconds: number; elapsedSeconds: number } {
    const elapsed = (performance.now() - this.#start) / 1000;
    const rate = elapsed > 0 ? this.#done / elapsed : 0;
    const eta = rate > 0 ? (this.total - this.#done) / rate : Infinity;
    return { rate, etaSeconds: eta, elapsedSeconds: elapsed };
  }

  #draw(extra?: string): void {
    const { rate, etaSeconds } = this.stats();
    this.#opts.onUpdate?.({ done: this.#done, total: this.total, rate, etaSeconds, extra });
    if (!this.#isTty && !this.#opts.force) return;
    const width = 24;
    const frac = this.total > 0 ? Math.min(1, this.#done / this.total) : 0;
    const filled = Math.round(frac * width);
    const unit = this.#opts.unit ?? "";
    const line = `${this.label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ` +
      `${fmtNum(this.#done)}/${fmtNum(this.total)} ${unit} ${fmtNum(rate)} ${unit}/s ETA ${
        formatDuration(etaSeconds)
      }` +
      (extra ? ` ${extra}` : "");
    Deno.stderr.writeSync(this.#enc.encode(this.#isTty ? `\r\x1b[K${line}` : `${line}\n`));
  }

  /** Final redraw and newline. */
  done(extra?: string): void {
    this.#last = 0;
    this.#draw(extra);
    if (this.#isTty) Deno.stderr.writeSync(this.#enc.encode("\n"));
  }
}

/**
 * Appends JSON lines to a file (created with its directory); each `write` is one line, flushed at once.
 *
 * @example
 * ```ts
 * import { JsonlLog } from "./progress.ts";
 * const log = new JsonlLog("/tmp/etude_example.jsonl");
 * log.write({ step: 1, loss: 2.5 });
 * log.close();
 * ```
 */
export class JsonlLog {
  #file: Deno.FsFile;
  #enc = new TextEncoder();
  /** Opens `path` (its folder is created), truncating it unless `opts.append`. */
  constructor(readonly path: string, opts: { append?: boolean } = {}) {
    const dir = path.replace(/[^/]*$/, "");
    if (dir) Deno.mkdirSync(dir, { recursive: true });
    this.#file = Deno.openSync(path, {
      create: true,
      write: true,
      append: opts.append ?? true,
      truncate: !(opts.append ?? true),
    });
  }
  /** Writes one record as a line, with a `time` field (ISO) added when absent. */
  write(record: Record<string, unknown>): void {
    const rec = "time" in record ? record : { time: new Date().toISOString(), ...record };
    this.#file.writeSync(this.#enc.encode(JSON.stringify(rec) + "\n"));
  }
  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}
