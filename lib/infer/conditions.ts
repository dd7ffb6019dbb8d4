/**
 * Learned conditions through `generate` (a model trained on `tokenize --conditioning` data): what a generation asks
 * for ({@linkcode GenerateConditions}), whether a model has them ({@linkcode modelSupports}), the condition tokens
 * after `BOS` ({@linkcode conditionLead}, the `key`, `tempo` and `density` controls setting theirs too) and the bias
 * that keeps a model from sampling them ({@linkcode conditionBias}).
 *
 * @module
 */
import type { Tokenizer } from "../tokenizers/tokenizer.ts";
import type { GrammarTables } from "./grammar.ts";
import type { Controls } from "./controls.ts";
import type { LoadedModel } from "./load.ts";
import { GenerateParamError } from "./param_error.ts";
import {
  CATEGORIES,
  classOf,
  conditionIds,
  type ConditioningIds,
  conditioningIds,
  TEMPO_CLASSES,
} from "../data/conditioning.ts";

/**
 * The learned conditions a generation asks for (`GenerateOptions.conditions`); a condition left out is its `_none`
 * token.
 *
 * @example
 * ```ts
 * import type { GenerateConditions } from "./conditions.ts";
 * const c: GenerateConditions = { style: "pop", key: "E minor", density: "high" };
 * ```
 */
export interface GenerateConditions {
  /** `classical` (performance) or `pop`. */
  style?: "classical" | "pop";
  /** A key, like `"E minor"` or `"Bb major"`, or `{ tonic: 4, mode: "minor" }` (pitch class 0–11). */
  key?: string | { tonic: number; mode: "major" | "minor" };
  /** The tempo class: `slow`, `medium` or `fast`. */
  tempo?: "slow" | "medium" | "fast";
  /** The note density class: `low`, `medium` or `high`. */
  density?: "low" | "medium" | "high";
}

/**
 * The tempo classes' bpm thresholds a `tempo` control is read with on a conditioning model (below the first: `slow`,
 * from the second: `fast`): the tertiles of the tempo maps of `data/prepared/corpus-cond` (POP909's; its MAESTRO
 * performances carry no tempo map), the data this project's conditioning models are trained on. A model trained on
 * other data: pass `conditions.tempo` instead.
 *
 * @example
 * ```ts
 * import { CONDITION_TEMPO_BPM } from "./conditions.ts";
 * CONDITION_TEMPO_BPM; // [72, 117]: --tempo 96 → TempoClass_medium
 * ```
 */
export const CONDITION_TEMPO_BPM: readonly [number, number] = Object.freeze([72, 117] as [number, number]);

/** Per tokenizer: its conditioning ids (undefined: no conditioning tokens). */
const CONDITIONING = new WeakMap<Tokenizer, { c?: ConditioningIds }>();

/**
 * The conditioning and FIM ids of a model's vocabulary, or undefined (trained without `--conditioning`).
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./load.ts";
 * import { conditioningOf } from "./conditions.ts";
 * const model = await loadModel("models/default");
 * conditioningOf(model)?.fim.mid; // the FIM_MID id, or undefined for a model trained without conditioning
 * ```
 */
export function conditioningOf(model: LoadedModel): ConditioningIds | undefined {
  let e = CONDITIONING.get(model.tokenizer);
  if (!e) CONDITIONING.set(model.tokenizer, e = { c: conditioningIds(model.tokenizer.vocab) });
  return e.c;
}

/**
 * Whether a model was trained with learned conditions and infilling (its vocabulary has the condition tokens and
 * the FIM sentinels of `tokenize --conditioning`): what the faces ask before offering `style` and `infill`.
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./load.ts";
 * import { modelSupports } from "./conditions.ts";
 * const model = await loadModel("models/default");
 * modelSupports(model); // { conditioning: false, infill: false } for a model trained without them
 * ```
 */
export function modelSupports(model: LoadedModel): { conditioning: boolean; infill: boolean } {
  const yes = conditioningOf(model) !== undefined;
  return { conditioning: yes, infill: yes };
}

/**
 * Why a model refuses a condition or infilling.
 *
 * @example
 * ```ts
 * import { untrained } from "./conditions.ts";
 * untrained("infilling", "FIM_PRE/FIM_SUF/FIM_MID"); // "this model was not trained with infilling (its …"
 * ```
 */
export function untrained(what: "conditioning" | "infilling", tokens: string): string {
  return `this model was not trained with ${what} (its vocabulary has no ${tokens} tokens; train one on data ` +
    "made with `deno task tokenize --conditioning`)";
}

/**
 * The condition ids after `BOS` (none for a model without them: explicit conditions are then refused). A condition
 * not asked is its `_none` token: training drops each condition to `_none` (`dropConditions`), and every training
 * piece starts `BOS` + four condition tokens, so `BOS` + four `_none` is the unconditional prompt the model knows.
 * `opts` is the generation's options (`GenerateOptions`): its `conditions`, and the `controls` that also set one.
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./load.ts";
 * import { conditioningOf, conditionLead } from "./conditions.ts";
 * const model = await loadModel("models/default");
 * conditionLead(conditioningOf(model), { conditions: { style: "pop" } }); // four ids, or [] (and a refusal)
 * ```
 */
export function conditionLead(
  c: ConditioningIds | undefined,
  opts: { readonly conditions?: GenerateConditions; readonly controls?: Controls },
): number[] {
  const req = opts.conditions ?? {};
  const fields = ["style", "key", "tempo", "density"] as const;
  if (!c) {
    fields.forEach((f, i) => {
      if (req[f] !== undefined) {
        throw new GenerateParamError(
          f,
          "a value, on a model trained with conditioning",
          req[f],
          undefined,
          undefined,
          undefined,
          untrained("conditioning", `${CATEGORIES[i]}_*`),
        );
      }
    });
    return [];
  }
  const ctl = opts.controls;
  const tempo = req.tempo ??
    (ctl?.tempo !== undefined ? TEMPO_CLASSES[classOf(ctl.tempo, CONDITION_TEMPO_BPM)] : undefined);
  const density = req.density ?? (typeof ctl?.density === "string" ? ctl.density : undefined);
  try {
    return conditionIds(c, { style: req.style, key: req.key ?? ctl?.key, tempo, density });
  } catch (e) {
    const m = /^(\w+): (.*)$/.exec((e as Error).message.split("\n")[0]);
    if (!m) throw e;
    const f = m[1] as typeof fields[number];
    throw new GenerateParamError(f, m[2], req[f], undefined, undefined, undefined, m[2]);
  }
}

/**
 * The static bias with the condition tokens and FIM sentinels (and any BPE token holding one) at -inf; `bias` as it
 * is for a model without them.
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./load.ts";
 * import { conditionBias, conditioningOf } from "./conditions.ts";
 * const model = await loadModel("models/default");
 * const bias = conditionBias(model.grammar, conditioningOf(model)); // undefined without conditioning tokens
 * ```
 */
export function conditionBias(
  g: GrammarTables,
  c: ConditioningIds | undefined,
  bias?: Float32Array,
): Float32Array | undefined {
  if (!c) return bias;
  const out = bias ? Float32Array.from(bias) : new Float32Array(g.base.length);
  const fim = [c.fim.pre, c.fim.suf, c.fim.mid];
  g.base.forEach((seq, v) => {
    if (seq.some((b) => (b < c.category.length && c.category[b] >= 0) || fim.includes(b))) out[v] = -Infinity;
  });
  return out;
}
