/**
 * Next-token cross-entropy (pretraining, SFT) and the per-token quantities every policy loss
 * reads off a language model's logits: log-probabilities of chosen tokens and entropy.
 */
import { gather, logSoftmax, mul, neg, scale, softmax, sum } from "../dsl/build.js";
import type { Expr } from "../dsl/expr.js";
import { edgeSize, maskedMean, maskedSum } from "./masked.js";

/** log softmax(logits)[id] along `vocab`, stably: `tokenLogProbs(logits, ids)` has the edges of ids. */
export function tokenLogProbs(logits: Expr, ids: Expr, vocab = "vocab"): Expr {
  edgeSize(logits, vocab, "tokenLogProbs");
  return gather(logSoftmax(logits, vocab), ids, vocab);
}

/**
 * log π(y) of whole sequences: Σ over `seq` of mask·log p(token) — the DPO input.
 * `sequenceLogProbs(logits, ids, mask)` has edges {batch}. Length normalisation is the caller's.
 */
export function sequenceLogProbs(logits: Expr, ids: Expr, mask?: Expr, options: { vocab?: string; seq?: string } = {}): Expr {
  const seq = options.seq ?? "seq";
  const logp = tokenLogProbs(logits, ids, options.vocab ?? "vocab");
  edgeSize(logp, seq, "sequenceLogProbs");
  return maskedSum(logp, mask, seq);
}

/** Entropy of the categorical distribution along `vocab`: −Σ softmax·logSoftmax. `entropyFromLogits(logits)` drops vocab. */
export function entropyFromLogits(logits: Expr, vocab = "vocab"): Expr {
  edgeSize(logits, vocab, "entropyFromLogits");
  return neg(sum(mul(softmax(logits, vocab), logSoftmax(logits, vocab)), vocab));
}

export interface CrossEntropyInputs {
  /** Unnormalised scores with a vocab edge, e.g. {batch, seq, vocab}. */
  readonly logits: Expr;
  /** Integer target ids with the logits' other edges, e.g. {batch, seq}. */
  readonly targets: Expr;
  /** 0/1: which tokens count (e.g. response tokens in SFT); all of them by default. */
  readonly mask?: Expr;
}

export interface CrossEntropyOptions {
  readonly vocab?: string;
  /** "mean" over unmasked tokens (default) or their "sum". */
  readonly reduction?: "mean" | "sum";
}

/** Σ mask·(−log softmax(logits)[target]) / Σ mask: `crossEntropy({ logits, targets, mask })`. */
export function crossEntropy(inputs: CrossEntropyInputs, options: CrossEntropyOptions = {}): Expr {
  const nll = scale(tokenLogProbs(inputs.logits, inputs.targets, options.vocab ?? "vocab"), -1);
  const reduction = options.reduction ?? "mean";
  switch (reduction) {
    case "mean":
      return maskedMean(nll, inputs.mask);
    case "sum":
      return maskedSum(nll, inputs.mask);
  }
}
