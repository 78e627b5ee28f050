/**
 * Parameters as a plain, typed structure: tensors by variable name, each laid out in its
 * variable's declared edge order. Seeded initialisation, copying (a frozen reference model),
 * counting and disposal.
 */
import type { Variable } from "../dsl/expr.js";
import { tf } from "../lower/backend.js";
import { makeRng, normals, subSeed } from "../util/random.js";
import { type GptConfig, gptParams } from "./gpt.js";

/** Parameter values by variable name. */
export type Params = Record<string, tf.Tensor>;

const shapeOf = (v: Variable): number[] => v.edges.map((e) => e.size);

/**
 * GPT-2-style initialisation, seeded: N(0, 0.02) weights, residual output projections scaled
 * by 1/√(2·layers), norm gains 1, a zero value head. Identical on every backend.
 */
export function initGpt(config: GptConfig, seed: number): Params {
  const vars = gptParams(config);
  const params: Params = {};
  for (const [name, v] of Object.entries(vars)) {
    const n = v.edges.reduce((k, e) => k * e.size, 1);
    const rng = makeRng(subSeed(seed, name));
    let values: Float32Array;
    if (/norm/.test(name)) values = new Float32Array(n).fill(1);
    else if (name === "valueHead") values = new Float32Array(n);
    else if (/\.(wo|w2)$/.test(name)) values = normals(n, rng, 0.02 / Math.sqrt(2 * config.layers));
    else values = normals(n, rng, 0.02);
    params[name] = tf.tensor(values, shapeOf(v));
  }
  return params;
}

/** Number of scalar parameters. */
export function countParams(params: Params): number {
  return Object.values(params).reduce((n, t) => n + t.size, 0);
}

/** An independent copy (e.g. the frozen reference policy). */
export function copyParams(params: Params): Params {
  return Object.fromEntries(Object.entries(params).map(([k, t]) => [k, tf.clone(t)]));
}

export function disposeParams(params: Params): void {
  for (const t of Object.values(params)) t.dispose();
}
