/**
 * TRPO's pieces: the importance-weighted surrogate mean(ratio·A) to maximise and the mean KL
 * between the old (frozen) and new token distributions that bounds the step. Built from
 * logits so that `hvp(kl, W, v)` at the old parameters is the Fisher-vector product that
 * conjugate gradient needs.
 */
import { scale, stopGradient, exp, mul, sub } from "../dsl/build.js";
import type { Expr } from "../dsl/expr.js";
import { tokenLogProbs } from "./crossEntropy.js";
import { categoricalKl } from "./kl.js";
import { maskedMean, requireSameEdges } from "./masked.js";

export interface TrpoInputs {
  /** Logits of the policy being optimised, e.g. {batch, t, vocab}. */
  readonly logits: Expr;
  /** Integer ids of the sampled tokens, e.g. {batch, t}. */
  readonly actions: Expr;
  /** Advantages (data), with the actions' edges. */
  readonly advantages: Expr;
  /** 0/1 with the actions' edges. */
  readonly mask?: Expr;
  /** Logits of the policy that sampled the actions; defaults to stopGradient(logits), i.e. the current point. */
  readonly oldLogits?: Expr;
}

export interface TrpoObjective {
  /** mean over unmasked tokens of π(a)/π_old(a)·A — to maximise. */
  readonly surrogate: Expr;
  /** −surrogate, for minimisers. */
  readonly loss: Expr;
  /** mean over unmasked tokens of KL(π_old ‖ π) = Σ_vocab p_old (log p_old − log p). */
  readonly kl: Expr;
}

/** `const { surrogate, kl } = trpoObjective({ logits, actions, advantages, mask })`; then `hvp(kl, W, v)`. */
export function trpoObjective(inputs: TrpoInputs, options: { vocab?: string } = {}): TrpoObjective {
  const vocab = options.vocab ?? "vocab";
  const { logits, actions, mask } = inputs;
  requireSameEdges(inputs.advantages, actions, "trpoObjective", "advantages");
  const oldLogits = stopGradient(inputs.oldLogits ?? logits);
  const logRatio = sub(tokenLogProbs(logits, actions, vocab), tokenLogProbs(oldLogits, actions, vocab));
  const surrogate = maskedMean(mul(exp(logRatio), stopGradient(inputs.advantages)), mask);
  return { surrogate, loss: scale(surrogate, -1), kl: maskedMean(categoricalKl(oldLogits, logits, vocab), mask) };
}
