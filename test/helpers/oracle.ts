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

/** The first entry where |got − want| > tol · max(1, |want|), described, or null when all agree. */
export function firstMismatch(got: ArrayLike<number>, want: ArrayLike<number>, tol: number): string | null {
  if (got.length !== want.length) return `length ${got.length} vs ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol * Math.max(1, Math.abs(want[i])))) return `entry ${i}: ${got[i]} vs ${want[i]}`;
  }
  return null;
}

/** Seeded uniform values in [lo, hi). */
export function seededValues(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const rng = makeRng(seed);
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * rng());
}
