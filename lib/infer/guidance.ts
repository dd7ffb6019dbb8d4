/**
 * Classifier-free guidance over the learned conditions (as diffusion models and MusicGen use it): each draw's logits
 * are `u + scale × (c − u)`, `c` from the sequence with the asked condition tokens and `u` from its twin with every
 * condition as its `_none` token, the unconditional prompt training's condition dropout taught the model. Every
 * sequence gets every sampled token, so they differ only in their leads; a scale above 1 follows the conditions
 * more closely than the model learned to (the key token alone moves a test piece's NLL by ~0.02 nats/token: the
 * model reads the key mostly from the notes), at twice the decoding work.
 *
 * The key can be guided harder than the rest (`keyGuidanceScale`, a model's `key_guidance_scale`): with `c¬k` the
 * twin that drops only the key, the logits are `u + s × (c¬k − u) + sₖ × (c − c¬k)` (composable guidance: each
 * difference is one condition's direction), a weighted sum of the rows of up to three sequences
 * ({@linkcode guidancePlan}); with only the key asked `c¬k` is `u`, and `sₖ = s` is the plain form above.
 *
 * @module
 */
import type { RowSource } from "./_cpu_loop.ts";

/**
 * One twin of a guided sequence: its prompt (the asked prompt with some condition ids as their `_none`, the same
 * length) and the weight of its row in the mix (negative for the guided-away twins).
 *
 * @example
 * ```ts
 * import type { GuidanceTwin } from "./guidance.ts";
 * const t: GuidanceTwin = { prompt: [1, 5, 6, 7, 8], weight: -2 };
 * ```
 */
export interface GuidanceTwin {
  /** The twin's prompt ids. */
  readonly prompt: readonly number[];
  /** Its row's weight. */
  readonly weight: number;
}

/**
 * A guided generation's mix: the asked sequence's row weight and its twins (the weights sum to 1).
 *
 * @example
 * ```ts
 * import type { Guidance } from "./guidance.ts";
 * const g: Guidance = { weight: 3, twins: [{ prompt: [1, 5, 6, 7, 8], weight: -2 }] }; // scale 3
 * ```
 */
export interface Guidance {
  /** The asked sequence's row weight. */
  readonly weight: number;
  /** The twins, none repeated, none with weight 0. */
  readonly twins: readonly GuidanceTwin[];
}

/**
 * The mix of a prompt's guidance (see the module doc): `dropAll` and `dropKey` map a prompt to its twin without any
 * condition and without the key (`dropKey` undefined: no key asked). Undefined when it is the plain conditional row
 * (both scales 1, or the twins equal the prompt). Twins with the same prompt are merged.
 *
 * @example
 * ```ts
 * import { guidancePlan } from "./guidance.ts";
 * const prompt = [1, 5, 40, 7, 8], u = [1, 5, 6, 7, 8]; // 40: a key; 6: Key_none; the rest _none already
 * guidancePlan(prompt, u, u, 1, 5); // { weight: 5, twins: [{ prompt: u, weight: -4 }] }: the key at 5
 * guidancePlan(prompt, u, undefined, 1, 5); // undefined: no key asked, nothing else guided
 * ```
 */
export function guidancePlan(
  prompt: readonly number[],
  dropAll: readonly number[],
  dropKey: readonly number[] | undefined,
  scale: number,
  keyScale: number,
): Guidance | undefined {
  const same = (a: readonly number[], b: readonly number[]) =>
    a.length === b.length && a.every((x, i) => x === b[i]);
  // u + s (c¬k − u) + sₖ (c − c¬k): c weighs sₖ, c¬k weighs s − sₖ, u weighs 1 − s (without a key c¬k is c)
  const k = dropKey ? keyScale : scale;
  const parts: { prompt: readonly number[]; weight: number }[] = [{ prompt, weight: k }];
  if (dropKey) parts.push({ prompt: dropKey, weight: scale - keyScale });
  parts.push({ prompt: dropAll, weight: 1 - scale });
  const merged: { prompt: readonly number[]; weight: number }[] = [];
  for (const p of parts) {
    const m = merged.find((q) => same(q.prompt, p.prompt));
    if (m) m.weight += p.weight;
    else merged.push({ ...p });
  }
  const [main, ...twins] = merged;
  const kept = twins.filter((t) => t.weight !== 0);
  return kept.length ? { weight: main.weight, twins: kept } : undefined;
}

/**
 * Mixes one conditional and one unconditional logits row into `out`: `u + scale × (c − u)`.
 *
 * @example
 * ```ts
 * import { guidanceMix } from "./guidance.ts";
 * const out = guidanceMix(new Float32Array([2, 0]), new Float32Array([1, 0]), 3);
 * Array.from(out); // [4, 0]
 * ```
 */
export function guidanceMix(
  cond: Float32Array,
  uncond: Float32Array,
  scale: number,
  out: Float32Array = new Float32Array(cond.length),
): Float32Array {
  for (let j = 0; j < cond.length; j++) out[j] = uncond[j] + scale * (cond[j] - uncond[j]);
  return out;
}

/**
 * Guided rows for `sampleLoop`: `inner` is a row source over `(1 + twins) × batch` sequences (built for that many
 * slots); sequence `b` runs in slot `b` and its twin `t` (its prompt, followed by the tokens `b` drew after the
 * asked prompt) in slot `(1 + t) × batch + b`. Each draw's row `b` is `weight × row b + Σ twin weight × its row`.
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./load.ts";
 * import { cpuRows } from "./_cpu_loop.ts";
 * import { guidedRows } from "./guidance.ts";
 * const model = await loadModel("models/default", { device: "cpu" });
 * const half = (ids: number[]) => ids.length - model.context / 2;
 * const g = { weight: 3, twins: [{ prompt: [1, 5, 6, 7, 8], weight: -2 }] }; // Key token 40 against its _none, at 3
 * const rows = guidedRows(cpuRows(model.cpuDecoder!(2), 2, model.context, half), g);
 * const first = await rows([[1, 5, 40, 7, 8]]).rows(0);
 * ```
 */
export function guidedRows(
  inner: (hist: number[][]) => RowSource,
  guidance: Guidance,
): (hist: number[][]) => RowSource {
  const { weight, twins } = guidance;
  const promptLength = twins[0].prompt.length;
  return (hist) => {
    const B = hist.length;
    const seqs = twins.map((t) => hist.map((h) => [...t.prompt, ...h.slice(promptLength)]));
    const src = inner([...hist, ...seqs.flat()]);
    const sync = () => {
      for (const twin of seqs) {
        for (let b = 0; b < B; b++) {
          for (let i = twin[b].length; i < hist[b].length; i++) twin[b].push(hist[b][i]);
        }
      }
    };
    const out = Array.from({ length: B }, () => new Float32Array(0));
    return {
      room: src.room ? () => (sync(), src.room!()) : undefined,
      async rows(draw) {
        sync();
        const r = await src.rows(draw);
        return out.map((o, b) => {
          const c = r[b];
          if (o.length !== c.length) o = out[b] = new Float32Array(c.length);
          for (let j = 0; j < c.length; j++) o[j] = weight * c[j];
          twins.forEach((t, i) => {
            const row = r[(1 + i) * B + b], w = t.weight;
            for (let j = 0; j < c.length; j++) o[j] += w * row[j];
          });
          return o;
        });
      },
    };
  };
}
