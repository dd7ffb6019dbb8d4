// The piano roll: notes as bars on a canvas, pitch up, time across; a cursor while playing. Plain browser
// JavaScript, no build step.

/** The tick at the roll's right edge: the notes' end, at least sixteen beats. */
export function rollEnd(notes, tpb) {
  let end = 1;
  for (const n of notes) end = Math.max(end, n.start + n.duration);
  return Math.max(end, tpb * 16);
}

/**
 * Bar start ticks from 0 to one bar past `end`: each bar as long as the meter in force at its start (the tokenizer's
 * rule: a time signature applies from the first bar line at or after its tick), 4/4 before any.
 */
export function barTicks(timeSignatures, tpb, end) {
  const sigs = [...(timeSignatures ?? [])].sort((a, b) => a.tick - b.tick);
  const out = [];
  let start = 0, len = 4 * tpb, k = 0;
  for (;;) {
    while (k < sigs.length && sigs[k].tick <= start) {
      const s = sigs[k++];
      if (s.numerator > 0 && s.denominator > 0) {
        len = Math.max(1, Math.round((s.numerator * tpb * 4) / s.denominator));
      }
    }
    out.push(start);
    if (start > end || out.length > 100_000) return out;
    start += len;
  }
}

/** The bar (1-based) holding `tick`, given `bars` from {@link barTicks}. */
export function barAtTick(tick, bars) {
  let lo = 0, hi = bars.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (bars[mid] <= tick) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

/**
 * The bar (1-based, in the piece's meters as the roll's grid draws them) under a horizontal position `x` in [0, 1]
 * of the roll.
 */
export function barAtX(x, notes, tpb, timeSignatures) {
  const end = rollEnd(notes, tpb);
  return barAtTick(Math.max(0, Math.min(1, x)) * end, barTicks(timeSignatures, tpb, end));
}

/**
 * Draws `notes` (ticks, `tpb` a beat) on `canvas`; a cursor at `cursorTick` when it is 0 or more; bar lines in the
 * piece's meters (`timeSignatures`, 4/4 without); bars `selection.from..to` (1-based) shaded when given.
 */
export function drawRoll(canvas, notes, tpb, cursorTick = -1, selection = null, timeSignatures = []) {
  const W = canvas.width, H = canvas.height;
  const g = canvas.getContext("2d");
  g.fillStyle = "#1e1c1a";
  g.fillRect(0, 0, W, H);
  let lo = 48, hi = 84;
  for (const n of notes) {
    lo = Math.min(lo, n.pitch);
    hi = Math.max(hi, n.pitch);
  }
  lo -= 2;
  hi += 2;
  const end = rollEnd(notes, tpb);
  const rows = hi - lo + 1;
  const rowH = H / rows;
  const x = (t) => (t / end) * W;
  // black-key lanes
  for (let p = lo; p <= hi; p++) {
    if ([1, 3, 6, 8, 10].includes(((p % 12) + 12) % 12)) {
      g.fillStyle = "#262320";
      g.fillRect(0, H - (p - lo + 1) * rowH, W, rowH);
    }
    if (p % 12 === 0) {
      g.fillStyle = "#3a3530";
      g.fillRect(0, H - (p - lo) * rowH, W, 1);
    }
  }
  // octave labels
  g.fillStyle = "#9a9086";
  g.font = `${Math.round(11 * (globalThis.devicePixelRatio || 1))}px system-ui, sans-serif`;
  for (let p = lo; p <= hi; p++) if (p % 12 === 0) g.fillText(`C${p / 12 - 1}`, 4, H - (p - lo) * rowH - 3);
  // bar lines, in the piece's meters
  const bars = barTicks(timeSignatures, tpb, end);
  g.fillStyle = "#34302b";
  for (const t of bars) if (t < end) g.fillRect(Math.round(x(t)), 0, 1, H);
  // the bars selected for infilling
  if (selection) {
    g.fillStyle = "rgba(245, 210, 138, 0.16)";
    const at = (bar) => bars[Math.min(bar, bars.length - 1)];
    const a = x(at(selection.from - 1)), b = x(at(selection.to));
    g.fillRect(a, 0, b - a, H);
  }
  // notes, colour by velocity
  for (const n of notes) {
    const v = Math.max(0, Math.min(127, n.velocity)) / 127;
    const hue = 22 + (1 - v) * 160;
    g.fillStyle = `hsl(${hue} ${55 + v * 30}% ${48 + v * 14}%)`;
    const y = H - (n.pitch - lo + 1) * rowH;
    g.fillRect(x(n.start), y + 0.5, Math.max(2, x(n.duration) - 1), Math.max(2, rowH - 1));
  }
  if (cursorTick >= 0) {
    g.fillStyle = "#f5d28a";
    g.fillRect(Math.round(x(cursorTick)), 0, 2, H);
  }
}
