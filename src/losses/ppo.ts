/**
 * PPO's clipped surrogate with value-loss clipping, entropy bonus and optional in-loss KL, in
 * TRL's conventions; plus TRL's reward shaping (per-token KL penalty, score on the last token)
 * and advantage whitening. Per-token tensors share edges, e.g. {batch, t}.
 */
import {
  abs, add, clip, constant, div, exp, greater, maximum, mul, oneHot, pow, scale, square, stopGradient, sub, sum,
} from "../dsl/build.js";
import { volume } from "../dsl/edges.js";
import { RicciError } from "../errors.js";
import type { Expr } from "../dsl/expr.js";
import { entropyFromLogits } from "./crossEntropy.js";
import { type KlEstimator, perTokenKl } from "./kl.js";
import { edgeSize, maskedMean, requireSameEdges } from "./masked.js";

export interface PpoInputs {
  /** log π_θ(a_t) of the sampled tokens under the policy being trained, e.g. {batch, t}. */
  readonly logp: Expr;
  /** log π_old(a_t) from the rollout (no gradient flows into it). */
  readonly oldLogp: Expr;
  /** Advantages, e.g. from `gae` then `whiten` (treated as data: no gradient). */
  readonly advantages: Expr;
  /** 0/1: response tokens that count. */
  readonly mask?: Expr;
  /** Value head output; with `returns` it adds the value loss. */
  readonly values?: Expr;
  /** Rollout-time values: when given, the value prediction is clipped around them. */
  readonly oldValues?: Expr;
  /** Value targets (data). */
  readonly returns?: Expr;
  /** Per-token entropy; or give `logits` to compute it. */
  readonly entropy?: Expr;
  readonly logits?: Expr;
  /** Reference log-probs, for an in-loss KL penalty (klLossCoef > 0). */
  readonly refLogp?: Expr;
}

export interface PpoOptions {
  /** ε of the ratio clip [1 − ε, 1 + ε]; TRL default 0.2. */
  readonly clipRange?: number;
  /** Value clip around oldValues; TRL default 0.2. */
  readonly clipRangeValue?: number;
  /** Weight of the value loss; TRL default 0.1. */
  readonly vfCoef?: number;
  /** Weight of the entropy bonus; default 0. */
  readonly entCoef?: number;
  /**
   * Weight of an in-loss KL to the reference (verl's kl_loss_coef); default 0. Not `klCoef`,
   * which is TRL's in-reward KL penalty (`klPenaltyRewards`, PPO's trainer option).
   */
  readonly klLossCoef?: number;
  /** Estimator of the in-loss KL (verl's kl_loss_type); default "k3" (k1 has no useful gradient as a loss). */
  readonly klLossEstimator?: KlEstimator;
  readonly vocab?: string;
}

/** The total and its parts, each a scalar expression. */
export interface PpoLoss {
  /** policyLoss + vfCoef·valueLoss − entCoef·entropy + klLossCoef·kl. */
  readonly loss: Expr;
  readonly policyLoss: Expr;
  readonly valueLoss: Expr;
  readonly entropy: Expr;
  readonly kl: Expr;
  /** Fraction of tokens with |ratio − 1| > ε (no gradient). */
  readonly clipFraction: Expr;
  /** ½·mean (logp − oldLogp)², TRL's approxkl (no gradient). */
  readonly approxKl: Expr;
}

/** PPO-clip: `ppoLoss({ logp, oldLogp, advantages, mask, values, oldValues, returns }).loss`. */
export function ppoLoss(inputs: PpoInputs, options: PpoOptions = {}): PpoLoss {
  const { logp, mask } = inputs;
  const epsilon = options.clipRange ?? 0.2;
  for (const [what, e] of Object.entries({ oldLogp: inputs.oldLogp, advantages: inputs.advantages })) {
    requireSameEdges(e, logp, "ppoLoss", what);
  }
  const logRatio = sub(logp, stopGradient(inputs.oldLogp));
  const ratio = exp(logRatio);
  const negAdvantages = scale(stopGradient(inputs.advantages), -1);
  // max of the two negated surrogates = −min(r·A, clip(r)·A): the pessimistic bound.
  const surrogate = maximum(mul(negAdvantages, ratio), mul(negAdvantages, clip(ratio, 1 - epsilon, 1 + epsilon)));
  const policyLoss = maskedMean(surrogate, mask);
  const valueLoss = ppoValueLoss(inputs, options.clipRangeValue ?? 0.2);
  const entropy = ppoEntropy(inputs, options.vocab ?? "vocab", options.entCoef ?? 0);
  const klLossCoef = options.klLossCoef ?? 0;
  let kl: Expr = constant(0);
  if (inputs.refLogp !== undefined) kl = maskedMean(perTokenKl(logp, stopGradient(inputs.refLogp), options.klLossEstimator ?? "k3"), mask);
  else if (klLossCoef !== 0) throw new RicciError("ppoLoss: klLossCoef is set but no refLogp was given");
  const loss = add(
    policyLoss,
    scale(valueLoss, options.vfCoef ?? 0.1),
    scale(entropy, -(options.entCoef ?? 0)),
    scale(kl, klLossCoef),
  );
  return {
    loss,
    policyLoss,
    valueLoss,
    entropy,
    kl,
    clipFraction: maskedMean(greater(abs(sub(ratio, 1)), epsilon), mask),
    approxKl: stopGradient(scale(maskedMean(square(logRatio), mask), 0.5)),
  };
}

/** ½·mean max((v − R)², (clip(v, v_old − c, v_old + c) − R)²), or ½·mean (v − R)² without oldValues. */
function ppoValueLoss(inputs: PpoInputs, clipRangeValue: number): Expr {
  const { values, returns, oldValues, mask } = inputs;
  if (values === undefined && returns === undefined) return constant(0);
  if (values === undefined || returns === undefined) throw new RicciError("ppoLoss: the value loss needs both values and returns");
  requireSameEdges(values, inputs.logp, "ppoLoss", "values");
  requireSameEdges(returns, inputs.logp, "ppoLoss", "returns");
  const targets = stopGradient(returns);
  const unclipped = square(sub(values, targets));
  if (oldValues === undefined) return scale(maskedMean(unclipped, mask), 0.5);
  requireSameEdges(oldValues, inputs.logp, "ppoLoss", "oldValues");
  const anchor = stopGradient(oldValues);
  const clipped = clip(values, sub(anchor, clipRangeValue), add(anchor, clipRangeValue));
  return scale(maskedMean(maximum(unclipped, square(sub(clipped, targets))), mask), 0.5);
}

function ppoEntropy(inputs: PpoInputs, vocab: string, entCoef: number): Expr {
  if (inputs.entropy !== undefined && inputs.logits !== undefined) throw new RicciError("ppoLoss: give entropy or logits, not both");
  const perToken = inputs.entropy ?? (inputs.logits === undefined ? undefined : entropyFromLogits(inputs.logits, vocab));
  if (perToken === undefined) {
    if (entCoef !== 0) throw new RicciError("ppoLoss: entCoef is set but neither entropy nor logits was given");
    return constant(0);
  }
  requireSameEdges(perToken, inputs.logp, "ppoLoss", "the per-token entropy");
  return maskedMean(perToken, inputs.mask);
}

export interface KlRewardInputs {
  /** Sequence-level scores from the reward model, e.g. {batch}. */
  readonly scores: Expr;
  /** Policy and reference log-probs of the sampled tokens, e.g. {batch, t}. */
  readonly logp: Expr;
  readonly refLogp: Expr;
  /** Integer position (along the time edge) of each sequence's last real token, e.g. {batch}. */
  readonly lastIndex: Expr;
  /** 0/1: response tokens; the KL penalty is 0 elsewhere. */
  readonly mask?: Expr;
}

/**
 * TRL's per-token PPO rewards: −klCoef·KL_t on every token, plus the score on the last real
 * token (not on padding after EOS). Rewards are data, so no gradient flows out.
 * `klPenaltyRewards({ scores, logp, refLogp, lastIndex, mask }, { klCoef: 0.05 })` has logp's edges.
 */
export function klPenaltyRewards(
  inputs: KlRewardInputs,
  options: { klCoef?: number; estimator?: KlEstimator; time?: string } = {},
): Expr {
  const time = options.time ?? "t";
  const steps = edgeSize(inputs.logp, time, "klPenaltyRewards");
  let kl = perTokenKl(inputs.logp, inputs.refLogp, options.estimator ?? "k1");
  if (inputs.mask !== undefined) {
    requireSameEdges(inputs.mask, inputs.logp, "klPenaltyRewards", "the mask");
    kl = mul(kl, inputs.mask);
  }
  const scoreAtEnd = mul(oneHot(inputs.lastIndex, { [time]: steps }), inputs.scores);
  return stopGradient(add(scale(kl, -(options.klCoef ?? 0.05)), scoreAtEnd));
}

/**
 * (x − mean)/√(var + 1e-8) over unmasked entries with the unbiased variance, as TRL's
 * masked_whiten (shiftMean false adds the mean back): `whiten(advantages, mask)`.
 */
export function whiten(x: Expr, mask?: Expr, options: { shiftMean?: boolean } = {}): Expr {
  const count = mask === undefined ? constant(volume(x.edges)) : sum(mask);
  const mu = maskedMean(x, mask);
  const centred = sub(x, mu);
  const variance = mul(maskedMean(square(centred), mask), div(count, sub(count, 1)));
  const whitened = mul(centred, pow(add(variance, 1e-8), -0.5));
  return options.shiftMean === false ? add(whitened, mu) : whitened;
}
