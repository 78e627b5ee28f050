/**
 * KL divergence estimators between the policy and a reference, per token, from the log-probs
 * of sampled tokens (Schulman's k1/k2/k3), and the exact KL between two categorical
 * distributions given their logits.
 */
import { exp, logSoftmax, maximum, mul, scale, softmax, square, sub, sum } from "../dsl/build.js";
import type { Expr } from "../dsl/expr.js";
import { edgeSize, requireSameEdges } from "./masked.js";

/** k1 = logp − ref (unbiased, can be negative); k2 = ½(logp − ref)²; k3 = e^{ref−logp} − (ref − logp) − 1 (unbiased, ≥ 0; clamped at 0 against rounding). */
export type KlEstimator = "k1" | "k2" | "k3";

/**
 * Per-token estimate of KL(π ‖ π_ref) from tokens sampled from π: `perTokenKl(logp, refLogp, "k3")`.
 * k3 is the form TRL, OpenRLHF and verl use (not expm1(logp − ref) − (logp − ref), which estimates the reverse KL).
 */
export function perTokenKl(logp: Expr, refLogp: Expr, estimator: KlEstimator = "k1"): Expr {
  requireSameEdges(refLogp, logp, "perTokenKl", "reference log-probs");
  switch (estimator) {
    case "k1":
      return sub(logp, refLogp);
    case "k2":
      return scale(square(sub(logp, refLogp)), 0.5);
    case "k3": {
      // e^x − x − 1 ≥ 0 exactly, but for |x| ≲ 1e-8 it rounds to about ±1e-16 (there is no
      // expm1 in the table); clamping at 0 keeps the estimate a valid KL and only changes
      // the gradient there by O(|x|).
      const logRatio = sub(refLogp, logp);
      return maximum(sub(sub(exp(logRatio), logRatio), 1), 0);
    }
  }
}

/**
 * KL(p ‖ q) = Σ_vocab p·(log p − log q) for p = softmax(pLogits), q = softmax(qLogits), removing
 * `vocab`: `categoricalKl(stopGradient(logits), logits)` is TRPO's constraint.
 */
export function categoricalKl(pLogits: Expr, qLogits: Expr, vocab = "vocab"): Expr {
  edgeSize(pLogits, vocab, "categoricalKl");
  requireSameEdges(qLogits, pLogits, "categoricalKl", "the second logits");
  return sum(mul(softmax(pLogits, vocab), sub(logSoftmax(pLogits, vocab), logSoftmax(qLogits, vocab))), vocab);
}

