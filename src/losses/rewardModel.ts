/**
 * The Bradley–Terry reward-model loss (TRL's RewardTrainer): the chosen completion should
 * score higher than the rejected one, P(y_w ≻ y_l) = σ(r_w − r_l − margin).
 */
import { type Operand, add, greater, mean, scale, softplus, square, sub } from "../dsl/build.js";
import type { Expr } from "../dsl/expr.js";
import { requireSameEdges } from "./masked.js";

export interface BradleyTerryInputs {
  /** Scores of the preferred completions, e.g. {batch}. */
  readonly chosen: Expr;
  /** Scores of the rejected completions, same edges as `chosen`. */
  readonly rejected: Expr;
  /** Required score gap (a number, or per-pair margins with the scores' edges); 0 by default. */
  readonly margin?: Operand;
}

export interface BradleyTerryOptions {
  /** TRL's center_rewards_coefficient c: adds c·mean((r_w + r_l)²) to pin scores near 0. Default 0. */
  readonly centerCoefficient?: number;
}

/**
 * mean(−log σ(r_w − r_l − margin)) + c·mean((r_w + r_l)²), with −log σ(x) written softplus(−x)
 * so large gaps neither overflow nor lose precision: `bradleyTerryLoss({ chosen, rejected })`.
 */
export function bradleyTerryLoss(inputs: BradleyTerryInputs, options: BradleyTerryOptions = {}): Expr {
  const { chosen, rejected } = inputs;
  requireSameEdges(rejected, chosen, "bradleyTerryLoss", "rejected scores");
  const gap = sub(sub(chosen, rejected), inputs.margin ?? 0);
  const loss = mean(softplus(scale(gap, -1)));
  const c = options.centerCoefficient ?? 0;
  return c === 0 ? loss : add(loss, scale(mean(square(add(chosen, rejected))), c));
}

/** Fraction of pairs ranked correctly, r_w > r_l (no gradient): `rewardAccuracy(chosen, rejected)`. */
export function rewardAccuracy(chosen: Expr, rejected: Expr): Expr {
  requireSameEdges(rejected, chosen, "rewardAccuracy", "rejected scores");
  return mean(greater(chosen, rejected));
}
