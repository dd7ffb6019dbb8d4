/**
 * Classifier-free guidance over the learned conditions (as diffusion models and MusicGen use it): each draw's logits
 * are `u + scale × (c − u)`, `c` from the sequence with the asked condition tokens and `u` from its twin with every
 * condition as its `_none` token, the unconditional prompt training's condition dropout taught the model. Every
 * sequence gets every sampled token, so they differ only in their leads; a scale above 1 follows the conditions
 * more closely than the model learned to (the key token alone moves a test piece's NLL by ~0.02 nats/token: the
 * model reads the key mostly from the notes), at twice the decoding work.
 *
 * The key and the density can be guided harder than the rest (`keyGuidanceScale`, `densityGuidanceScale`, a
 * model's `key_guidance_scale` / `density_guidance_scale`): the prompt is built up one step at a time, `u`, then
 * the other conditions (`p₁`), then the density (`p₂`), then the key (`c`), and the logits are
 * `u + s × (p₁ − u) + s_d × (p₂ − p₁) + sₖ × (c − p₂)` (composable guidance: each difference is one condition's
 * direction), a weighted sum of the rows of up to four sequences ({@linkcode guidancePlan}); a step that asks
 * nothing new merges with the one before, and equal scales give the plain form above.
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
 * One step of a guidance chain: a prompt (the previous step's with more condition tokens asked) and the scale of its
 * difference from the previous step.
 *
 * @example
 * ```ts
 * import type { GuidanceStep } from "./guidance.ts";
 * const s: GuidanceStep = { prompt: [1, 5, 40, 7, 8], scale: 5 }; // the key (id 40) added, guided at 5
 * ```
 */
export interface GuidanceStep {
  /** The prompt ids after this step. */
  readonly prompt: readonly number[];
  /** The scale of its difference from the previous step's rows. */
  readonly scale: number;
}

/**
 * The mix of a guidance chain (see the module doc): `u` (every condition `_none`), then `steps`, each adding
 * conditions, the last one the asked prompt: `u + Σ sⱼ × (pⱼ − pⱼ₋₁)`, as row weights (`pⱼ` weighs `sⱼ − sⱼ₊₁`, `u`
 * weighs `1 − s₁`, they sum to 1). Equal prompts are merged and zero weights dropped; undefined when what is left is
 * the asked prompt alone (every scale 1, or nothing asked).
 *
 * @example
 * ```ts
 * import { guidancePlan } from "./guidance.ts";
 * const u = [1, 5, 6, 7, 8], c = [1, 5, 40, 7, 8]; // 40: a key, 6: Key_none; nothing else asked
 * guidancePlan(u, [{ prompt: u, scale: 1 }, { prompt: c, scale: 5 }]); // { weight: 5, twins: [{ prompt: u, weight: -4 }] }
 * guidancePlan(u, [{ prompt: u, scale: 5 }, { prompt: c, scale: 1 }]); // undefined: the key, the one asked, at 1
 * ```
 */
export function guidancePlan(
  unconditional: readonly number[],
  steps: readonly GuidanceStep[],
): Guidance | undefined {
  const same = (a: readonly number[], b: readonly number[]) =>
    a.length === b.length && a.every((x, i) => x === b[i]);
  const parts = [{ prompt: unconditional, weight: 1 - steps[0].scale }];
  steps.forEach((st, j) => parts.push({ prompt: st.prompt, weight: st.scale - (steps[j + 1]?.scale ?? 0) }));
  const merged: { prompt: readonly number[]; weight: number }[] = [];
  for (const p of parts.reverse()) { // the asked prompt first
    const m = merged.find((q) => same(q.prompt, p.prompt));
    if (m) m.weight += p.weight;
    else merged.push({ ...p });
  }
  const [main, ...twins] = merged;
  const kept = twins.filter((t) => t.weight !== 0);
  return kept.length ? { weight: main.weight, twins: kept } : undefined;
}

/**
 * The per-condition scales that guide beyond `guidanceScale` (what a take records and the CLI prints): the key's and
 * the density's, each only when that condition is asked (a key; a density class, whose learned token it sets: a
 * numeric density is its bias alone) and its scale is above `guidanceScale`.
 *
 * @example
 * ```ts
 * import { conditionGuidance } from "./guidance.ts";
 * conditionGuidance({ keyGuidanceScale: 5, densityGuidanceScale: 5, controls: { key: "A minor" } });
 * // { keyGuidanceScale: 5 }: no density asked
 * ```
 */
export function conditionGuidance(v: {
  guidanceScale?: number;
  keyGuidanceScale?: number;
  densityGuidanceScale?: number;
  controls?: { key?: string; density?: string | number };
}): { keyGuidanceScale?: number; densityGuidanceScale?: number } {
  const base = v.guidanceScale ?? 1, out: { keyGuidanceScale?: number; densityGuidanceScale?: number } = {};
  if (v.controls?.key !== undefined && (v.keyGuidanceScale ?? 1) > base) {
    out.keyGuidanceScale = v.keyGuidanceScale;
  }
  if (typeof v.controls?.density === "string" && (v.densityGuidanceScale ?? 1) > base) {
    out.densityGuidanceScale = v.densityGuidanceScale;
  }
  return out;
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
