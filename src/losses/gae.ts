/**
 * Generalised advantage estimation as a contraction. With TD residuals
 * δ_t = r_t + γ·(1 − done_t)·V_{t+1} − V_t, the advantages A_t = Σ_s D[t, s]·δ_s use a
 * discount tensor D[t, s] = Π_{u=t}^{s−1} γλ(1 − done_u) for s ≥ t (0 below the diagonal):
 * one einsum instead of a backward loop. The DSL has no tensor-from-array node, so D and the
 * shift matrix (V_{t+1} from V) are variables whose values come from the helpers below.
 */
import { add, constant, dot, einsum, mul, rename, scale, sub, sum } from "../dsl/build.js";
import { RicciError } from "../errors.js";
import type { Expr } from "../dsl/expr.js";
import { edgeSize, requireSameEdges } from "./masked.js";

/** Row-major {t, s} matrix with 1 where s = t + 1: `dot(S, rename(V, { t: "s" }))` is V_{t+1} (0 at the end). */
export function shiftMatrix(steps: number): Float64Array {
  checkSteps(steps, "shiftMatrix");
  const m = new Float64Array(steps * steps);
  for (let t = 0; t + 1 < steps; t++) m[t * steps + t + 1] = 1;
  return m;
}

/** Row-major {t, s} matrix (γλ)^{s−t} for s ≥ t, else 0 — one episode, no termination: `discountMatrix(5, 1, 0.95)`. */
export function discountMatrix(steps: number, gamma: number, lambda: number): Float64Array {
  checkSteps(steps, "discountMatrix");
  return discountTensor([new Float64Array(steps)], gamma, lambda);
}

/**
 * Row-major {batch, t, s} tensor D[b, t, s] = Π_{u=t}^{s−1} γλ(1 − done[b][u]) for s ≥ t, else 0:
 * a done at step u stops the sum for every t ≤ u at u. `discountTensor([[0, 1, 0]], 1, 0.95)`.
 */
export function discountTensor(dones: readonly ArrayLike<number>[], gamma: number, lambda: number): Float64Array {
  if (dones.length === 0) throw new RicciError("discountTensor: needs at least one row of dones");
  const steps = dones[0].length;
  checkSteps(steps, "discountTensor");
  const d = new Float64Array(dones.length * steps * steps);
  dones.forEach((row, b) => {
    if (row.length !== steps) throw new RicciError(`discountTensor: row ${b} has ${row.length} steps, row 0 has ${steps}`);
    for (let t = 0; t < steps; t++) {
      let weight = 1;
      for (let s = t; s < steps; s++) {
        d[(b * steps + t) * steps + s] = weight;
        weight *= gamma * lambda * (1 - row[s]);
      }
    }
  });
  return d;
}

function checkSteps(steps: number, where: string): void {
  if (!Number.isInteger(steps) || steps < 1) throw new RicciError(`${where}: the number of steps must be a positive integer, got ${steps}`);
}

export interface GaeInputs {
  /** Per-step rewards, e.g. {batch, t}. */
  readonly rewards: Expr;
  /** Value estimates V(s_t), same edges as rewards. */
  readonly values: Expr;
  /** Variable {t, s} holding `shiftMatrix(T)`. */
  readonly shift: Expr;
  /** Variable {batch, t, s} holding `discountTensor(dones, γ, λ)` (or {t, s} with `discountMatrix`). */
  readonly discount: Expr;
  /** 0/1 with the rewards' edges: 1 where the episode ended at this step (V_{t+1} is not bootstrapped). */
  readonly dones?: Expr;
  /** V of the state after the last step (one per row, e.g. {batch}); 0 by default. */
  readonly bootstrap?: Expr;
}

export interface GaeOptions {
  /** Discount γ; must match the one given to discountTensor (TRL default 1). */
  readonly gamma?: number;
  /** The time edge (default "t") and the inner edge of shift/discount (default "s"). */
  readonly time?: string;
  readonly inner?: string;
}

export interface GaeResult {
  readonly deltas: Expr;
  readonly advantages: Expr;
  /** advantages + values: the value-function targets. */
  readonly returns: Expr;
}

/** A_t = Σ_s D[t, s]·δ_s and R_t = A_t + V_t: `gae({ rewards, values, shift, discount, dones }, { gamma: 1 })`. */
export function gae(inputs: GaeInputs, options: GaeOptions = {}): GaeResult {
  const { rewards, values, shift, discount } = inputs;
  const gamma = options.gamma ?? 1;
  const t = options.time ?? "t";
  const s = options.inner ?? "s";
  const steps = edgeSize(rewards, t, "gae");
  requireSameEdges(values, rewards, "gae", "values");
  if (inputs.dones !== undefined) requireSameEdges(inputs.dones, rewards, "gae", "dones");
  if (edgeSize(shift, t, "gae: shift") !== steps || edgeSize(shift, s, "gae: shift") !== steps || shift.edges.length !== 2) {
    throw new RicciError(`gae: shift must have edges {${t}: ${steps}, ${s}: ${steps}}`);
  }
  if (edgeSize(discount, t, "gae: discount") !== steps || edgeSize(discount, s, "gae: discount") !== steps) {
    throw new RicciError(`gae: discount must have edges {${t}: ${steps}, ${s}: ${steps}} (and optionally the batch edges)`);
  }
  const out = rewards.edges.map((d) => d.name);
  // The shift matrix's last row is empty, so 1 − Σ_s S[t, s] marks the final step, where the
  // bootstrap value stands in for V_{t+1}.
  const shifted = dot(shift, rename(values, { [t]: s }), s);
  const next = inputs.bootstrap === undefined ? shifted : add(shifted, mul(inputs.bootstrap, sub(1, sum(shift, s))));
  const continues = inputs.dones === undefined ? constant(1) : sub(1, inputs.dones);
  const deltas = einsum([sub(add(rewards, scale(mul(continues, next), gamma)), values)], out);
  const advantages = einsum([rename(deltas, { [t]: s }), discount], out);
  return { deltas, advantages, returns: add(advantages, values) };
}
