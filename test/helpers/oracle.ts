/** Independent oracles for gradient checks: float64 central differences through `evaluate`. */
import { type Expr, type Variable, evaluate } from "../../src/index.js";
import { makeRng } from "../../src/util/random.js";

export type Inputs64 = Record<string, Float64Array>;

/** Central-difference gradient of scalar `f` w.r.t. `v` (row-major in v's declared edges). */
export function numericGrad(f: Expr, inputs: Inputs64, v: Variable, eps = 1e-6): Float64Array {
  const x = inputs[v.name];
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const saved = x[i];
    x[i] = saved + eps;
    const plus = evaluate(f, inputs).data[0];
    x[i] = saved - eps;
    const minus = evaluate(f, inputs).data[0];
    x[i] = saved;
    out[i] = (plus - minus) / (2 * eps);
  }
  return out;
}

/** max |a − b| / max(1, max |b|): relative error that tolerates small entries. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let size = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    size = Math.max(size, Math.abs(b[i]));
  }
  return diff / Math.max(1, size);
}

/** Seeded uniform values in [lo, hi). */
export function seededValues(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const rng = makeRng(seed);
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * rng());
}
