/**
 * Direct preference optimisation (Rafailov et al.) and its IPO variant, from sequence
 * log-probabilities of the chosen (w) and rejected (l) completions under the policy and a
 * frozen reference. Inputs are e.g. {batch}; `sequenceLogProbs` computes them from logits.
 * Length normalisation (IPO's paper averages log-probs over tokens) is the caller's choice:
 * pass Σ log p or mean log p accordingly.
 */
import { add, greater, mean, scale, softplus, square, stopGradient, sub } from "../dsl/build.js";
import type { Expr } from "../dsl/expr.js";
import { requireSameEdges } from "./masked.js";

export interface DpoInputs {
  readonly policyChosen: Expr;
  readonly policyRejected: Expr;
  /** The reference's log-probs are data: no gradient flows into them. */
  readonly referenceChosen: Expr;
  readonly referenceRejected: Expr;
}

export interface DpoOptions {
  /** Temperature β of the implicit reward; TRL default 0.1. */
  readonly beta?: number;
  /** "sigmoid": −log σ(β·h) (DPO); "ipo": (h − 1/(2β))². */
  readonly variant?: "sigmoid" | "ipo";
  /** cDPO / robust label smoothing for "sigmoid": the fraction of pairs assumed flipped; default 0. */
  readonly labelSmoothing?: number;
}

/** The loss (a scalar) and TRL's logged reward statistics. */
export interface DpoLoss {
  readonly loss: Expr;
  /** β·(log π(y_w) − log π_ref(y_w)) per pair (no gradient). */
  readonly chosenRewards: Expr;
  readonly rejectedRewards: Expr;
  /** mean(chosenRewards − rejectedRewards). */
  readonly rewardMargin: Expr;
  /** Fraction of pairs with chosenRewards > rejectedRewards. */
  readonly rewardAccuracy: Expr;
}

/** DPO's implicit reward β·(log π(y) − log π_ref(y)), as data: `implicitReward(policyLogp, refLogp, 0.1)`. */
export function implicitReward(policyLogp: Expr, referenceLogp: Expr, beta = 0.1): Expr {
  requireSameEdges(referenceLogp, policyLogp, "implicitReward", "reference log-probs");
  return stopGradient(scale(sub(policyLogp, referenceLogp), beta));
}

/**
 * With h = (π_w − ref_w) − (π_l − ref_l): mean softplus(−β·h) for "sigmoid" (−log σ written
 * stably), mean (h − 1/(2β))² for "ipo". `dpoLoss({ policyChosen, policyRejected, referenceChosen, referenceRejected }).loss`.
 */
export function dpoLoss(inputs: DpoInputs, options: DpoOptions = {}): DpoLoss {
  const { policyChosen, policyRejected } = inputs;
  for (const [what, e] of Object.entries({ policyRejected, referenceChosen: inputs.referenceChosen, referenceRejected: inputs.referenceRejected })) {
    requireSameEdges(e, policyChosen, "dpoLoss", what);
  }
  const beta = options.beta ?? 0.1;
  const chosenLogRatio = sub(policyChosen, stopGradient(inputs.referenceChosen));
  const rejectedLogRatio = sub(policyRejected, stopGradient(inputs.referenceRejected));
  const h = sub(chosenLogRatio, rejectedLogRatio);
  const chosenRewards = implicitReward(policyChosen, inputs.referenceChosen, beta);
  const rejectedRewards = implicitReward(policyRejected, inputs.referenceRejected, beta);
  return {
    loss: dpoPairLoss(h, beta, options),
    chosenRewards,
    rejectedRewards,
    rewardMargin: mean(sub(chosenRewards, rejectedRewards)),
    rewardAccuracy: mean(greater(chosenRewards, rejectedRewards)),
  };
}

function dpoPairLoss(h: Expr, beta: number, options: DpoOptions): Expr {
  const variant = options.variant ?? "sigmoid";
  switch (variant) {
    case "sigmoid": {
      const smoothing = options.labelSmoothing ?? 0;
      const logits = scale(h, beta);
      const agree = mean(softplus(scale(logits, -1)));
      return smoothing === 0 ? agree : add(scale(agree, 1 - smoothing), scale(mean(softplus(logits)), smoothing));
    }
    case "ipo":
      return mean(square(sub(h, 1 / (2 * beta))));
  }
}
