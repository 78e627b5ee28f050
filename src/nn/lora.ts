/**
 * LoRA adapters (Hu et al. 2021; PEFT's conventions) written in the DSL: each adapted
 * projection W of the GPT becomes the expression
 *   W + (alpha/rank) · A·B        A {in…, lora: rank},  B {lora: rank, out…}
 * where "in" are the edges W contracts with the activations (d; ff for w2; head and hd for wo)
 * and "out" the rest. The base W stays a variable that is fed, never differentiated; the
 * gradient of any loss with respect to A and B is the one `grad` derives, like any other.
 * Init as PEFT's: A uniform in ±1/√fan_in (Kaiming-uniform with a = √5), B = 0, so the adapted
 * model starts equal to the base. `mergeLora` folds the adapters back into plain weights, so a
 * merged checkpoint is an ordinary GPT that nothing downstream needs to know about.
 */
import { add, dot, scale, variable } from "../dsl/build.js";
import type { Expr, Variable } from "../dsl/expr.js";
import { RicciError } from "../errors.js";
import { tf } from "../lower/backend.js";
import { makeRng, subSeed } from "../util/random.js";
import { type GptConfig, type GptParams, gptParams } from "./gpt.js";
import type { Params } from "./params.js";

/** The projections LoRA can adapt, and the edges of each that meet the activations. */
const INPUT_EDGES = { wq: ["d"], wk: ["d"], wv: ["d"], wo: ["head", "hd"], w1: ["d"], w3: ["d"], w2: ["ff"] } as const;
export type LoraTarget = keyof typeof INPUT_EDGES;
export const LORA_TARGETS: readonly LoraTarget[] = ["wq", "wk", "wv", "wo", "w1", "w3", "w2"];

/** `{ rank: 8 }`: rank-8 adapters on every attention and MLP projection of every layer, alpha 16. */
export interface LoraOptions {
  readonly rank: number;
  /** PEFT's lora_alpha: the update is scaled by alpha/rank. Default 2·rank (scale 2). */
  readonly alpha?: number;
  /** Which projections of every layer (default all seven: wq, wk, wv, wo, w1, w3, w2). */
  readonly targets?: readonly LoraTarget[];
}

/** The rank edge of the adapters. */
const RANK = "lora";

/** PEFT's lora_alpha of `lora`: as given, else 2·rank. */
export const loraAlpha = (lora: LoraOptions): number => lora.alpha ?? 2 * lora.rank;

/** alpha/rank, after checking the options. */
export function loraScale(lora: LoraOptions): number {
  if (!(Number.isInteger(lora.rank) && lora.rank >= 1)) throw new RicciError(`lora: rank must be a positive integer, got ${lora.rank}`);
  const alpha = loraAlpha(lora);
  if (!(alpha > 0 && Number.isFinite(alpha))) throw new RicciError(`lora: alpha must be a positive number, got ${alpha}`);
  for (const t of lora.targets ?? []) if (!(t in INPUT_EDGES)) throw new RicciError(`lora: unknown target "${t}" (one of ${LORA_TARGETS.join(", ")})`);
  return alpha / lora.rank;
}

/** The base parameter names adapted: `layer0.wq`, `layer0.wk`, … */
export function loraTargetNames(config: GptConfig, lora: LoraOptions): string[] {
  const targets = lora.targets ?? LORA_TARGETS;
  return Array.from({ length: config.layers }, (_, l) => targets.map((t) => `layer${l}.${t}`)).flat();
}

const kindOf = (name: string): LoraTarget => name.slice(name.lastIndexOf(".") + 1) as LoraTarget;

/** The adapter variables by name: `layer0.wq.loraA` {d, lora}, `layer0.wq.loraB` {lora, head, pair, two}, … */
export function loraParams(config: GptConfig, lora: LoraOptions): Record<string, Variable> {
  loraScale(lora);
  const base = gptParams(config);
  const out: Record<string, Variable> = {};
  for (const name of loraTargetNames(config, lora)) {
    const inputs: readonly string[] = INPUT_EDGES[kindOf(name)];
    const edges = base[name].edges;
    const sizes = (keep: (edge: string) => boolean): Record<string, number> => Object.fromEntries(edges.filter((e) => keep(e.name)).map((e) => [e.name, e.size]));
    out[`${name}.loraA`] = variable(`${name}.loraA`, { ...sizes((e) => inputs.includes(e)), [RANK]: lora.rank });
    out[`${name}.loraB`] = variable(`${name}.loraB`, { [RANK]: lora.rank, ...sizes((e) => !inputs.includes(e)) });
  }
  return out;
}

/**
 * `params` with every target replaced by its effective weight W + (alpha/rank)·A·B:
 * `gptForward(config, withLora(gptParams(config), loraParams(config, lora), lora), data)`.
 */
export function withLora(params: GptParams, adapters: Readonly<Record<string, Variable>>, lora: LoraOptions): GptParams {
  const s = loraScale(lora);
  const out: Record<string, Expr> = { ...params };
  for (const name of Object.keys(adapters).filter((n) => n.endsWith(".loraA")).map((n) => n.slice(0, -".loraA".length))) {
    out[name] = add(params[name], scale(dot(adapters[`${name}.loraA`], adapters[`${name}.loraB`], RANK), s));
  }
  return out;
}

/** Seeded adapter values (PEFT's init): A uniform in ±1/√fan_in, B zeros. */
export function initLora(config: GptConfig, lora: LoraOptions, seed: number): Params {
  const out: Params = {};
  for (const [name, v] of Object.entries(loraParams(config, lora))) {
    const shape = v.edges.map((e) => e.size);
    const n = shape.reduce((k, x) => k * x, 1);
    if (name.endsWith(".loraB")) {
      out[name] = tf.zeros(shape);
      continue;
    }
    const fanIn = n / lora.rank;
    const bound = 1 / Math.sqrt(fanIn);
    const rng = makeRng(subSeed(seed, `lora/${name}`));
    out[name] = tf.tensor(Float32Array.from({ length: n }, () => (2 * rng() - 1) * bound), shape);
  }
  return out;
}

/**
 * Plain GPT weights W + (alpha/rank)·A·B for the targets, the base's other tensors as they are
 * (the same tensor objects, not copies): `mergeLora(base, adapters, lora)`. The new tensors are the caller's.
 */
export function mergeLora(config: GptConfig, base: Params, adapters: Params, lora: LoraOptions): Params {
  const s = loraScale(lora);
  const out: Params = { ...base };
  for (const name of loraTargetNames(config, lora)) {
    const a = adapters[`${name}.loraA`];
    const b = adapters[`${name}.loraB`];
    const w = base[name];
    out[name] = tf.tidy(() => tf.add(w, tf.mul(tf.reshape(tf.matMul(tf.reshape(a, [-1, lora.rank]), tf.reshape(b, [lora.rank, -1])), w.shape), s)));
  }
  return out;
}

/**
 * A model fine-tuned through adapters: the frozen base, the adapters the optimizer updates in
 * place, and the merged weights (base + scale·A·B; its own tensors) that sampling, evaluation and
 * the policy checkpoint read. `merge()` refreshes them after an update.
 */
export interface LoraModel {
  readonly config: GptConfig;
  readonly lora: LoraOptions;
  readonly base: Params;
  readonly adapters: Params;
  readonly merged: Params;
  /** Recomputes the merged targets from base and adapters (in place in `merged`). */
  merge(): void;
  /** What a LoRA objective is fed as its weights: the base and the adapters, `{ ...base, ...adapters }`. */
  inputs(): Params;
}

/** `loraModel(config, sftParams, { rank: 8 }, seed)`: fresh adapters (B = 0) on `base`, which it never changes. */
export function loraModel(config: GptConfig, base: Params, lora: LoraOptions, seed: number): LoraModel {
  const adapters = initLora(config, lora, seed);
  const targets = new Set(loraTargetNames(config, lora));
  const merged: Params = Object.fromEntries(Object.entries(base).filter(([n]) => !targets.has(n)).map(([n, t]) => [n, tf.clone(t)]));
  const merge = (): void => {
    const fresh = mergeLora(config, base, adapters, lora);
    for (const name of targets) {
      merged[name]?.dispose();
      merged[name] = fresh[name];
    }
  };
  merge();
  return { config, lora, base, adapters, merged, merge, inputs: () => ({ ...base, ...adapters }) };
}

/** Trainable parameters and AdamW's state floats (two moments each) of a LoRA model against full fine-tuning. */
export function loraSizes(config: GptConfig, lora: LoraOptions): { trainable: number; full: number; optimizerFloats: number; fullOptimizerFloats: number } {
  const count = (vars: Record<string, Variable>): number => Object.values(vars).reduce((n, v) => n + v.edges.reduce((k, e) => k * e.size, 1), 0);
  const trainable = count(loraParams(config, lora));
  const full = count(gptParams(config));
  return { trainable, full, optimizerFloats: 2 * trainable, fullOptimizerFloats: 2 * full };
}
