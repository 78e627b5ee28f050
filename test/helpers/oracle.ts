/** Independent oracles for gradient checks: float64 central differences through `evaluate`. */
import { type Expr, type Variable, evaluate } from "../../src/index.js";

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

/** Seeded uniform values in [lo, hi) (mulberry32). */
export function seededValues(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const r = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = lo + (hi - lo) * r;
  }
  return out;
}
