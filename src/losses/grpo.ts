/**
 * GRPO (DeepSeekMath; TRL's GRPOTrainer): advantages are rewards z-scored within each group
 * of completions of one prompt, the per-token loss is PPO's clipped surrogate plus β·k3 KL to
 * a reference, and the per-token losses are aggregated one of three ways.
 *
 * Edges: rewards {group, sample} (G samples per prompt); per-token tensors {group, sample, t}.
 */
import { add, clip, constant, div, exp, greater, less, mean, minimum, mul, rename, scale, sqrt, stopGradient, sub, sum } from "../dsl/build.js";
import { RicciError } from "../errors.js";
import type { Expr } from "../dsl/expr.js";
import { perTokenKl } from "./kl.js";
import { edgeSize, maskedMean, maskedSum, requireSameEdges } from "./masked.js";

/** "group": divide by the group's std (the paper); "batch": by the whole batch's std; "none": no scaling (Dr. GRPO). */
export type GrpoScale = "group" | "batch" | "none";
/** "sequence": mean over tokens then sequences (the paper); "token": Σ over all tokens / Σ mask (DAPO/BNPO); "drGrpo": Σ / (sequences × maxLength). */
export type GrpoAggregation = "sequence" | "token" | "drGrpo";

export interface GrpoAdvantageOptions {
  readonly scale?: GrpoScale;
  /** Added to the std; TRL uses 1e-4. */
  readonly epsilon?: number;
  readonly group?: string;
  readonly sample?: string;
}

/**
 * (r − mean_group r) / (std + ε) with the unbiased (N − 1) std, as torch.std in TRL:
 * `grpoAdvantages(rewards)` has the rewards' edges.
 *
 * The centring is written as the mean of pairwise differences (1/G)·Σ_j (r_i − r_j), equal to
 * r_i − mean r, so that a group of equal rewards gives exactly 0 — a plain r − mean(r) leaves
 * rounding noise (e.g. 0.7·3/3 ≠ 0.7) that the 1e-4 denominator magnifies.
 */
export function grpoAdvantages(rewards: Expr, options: GrpoAdvantageOptions = {}): Expr {
  const group = options.group ?? "group";
  const sample = options.sample ?? "sample";
  const epsilon = options.epsilon ?? 1e-4;
  const size = edgeSize(rewards, sample, "grpoAdvantages");
  edgeSize(rewards, group, "grpoAdvantages");
  const other = `${sample}_other`;
  const centred = mean(sub(rewards, rename(rewards, { [sample]: other })), other);
  switch (options.scale ?? "group") {
    case "none":
      return centred;
    case "group":
      // torch.std of one sample is NaN; TRL treats it as 0, and so do we (the advantage is 0 anyway).
      if (size === 1) return centred;
      return div(centred, add(sqrt(scale(sum(mul(centred, centred), sample), 1 / (size - 1))), epsilon));
    case "batch": {
      const count = rewards.edges.reduce((n, d) => n * d.size, 1);
      if (count === 1) return centred;
      const batchCentred = sub(rewards, mean(rewards));
      return div(centred, add(sqrt(scale(sum(mul(batchCentred, batchCentred)), 1 / (count - 1))), epsilon));
    }
  }
}

export interface GrpoInputs {
  /** log π_θ of the sampled tokens, {group, sample, t}. */
  readonly logp: Expr;
  /** log π_old; defaults to stopGradient(logp) (one update per batch: ratio exactly 1). */
  readonly oldLogp?: Expr;
  /** log π_ref, needed when beta ≠ 0. */
  readonly refLogp?: Expr;
  /** Rewards {group, sample}, turned into advantages by grpoAdvantages; or give `advantages` directly. */
  readonly rewards?: Expr;
  readonly advantages?: Expr;
  /** 0/1 completion mask {group, sample, t} (0 on padding; also 0 on truncated completions to drop them). */
  readonly mask?: Expr;
}

export interface GrpoOptions extends GrpoAdvantageOptions {
  /** Ratio clip [1 − epsilonLow, 1 + epsilonHigh]; 0.2 each (DAPO suggests epsilonHigh 0.28). */
  readonly epsilonLow?: number;
  readonly epsilonHigh?: number;
  /** Weight of the k3 KL to the reference; 0.04 (DeepSeekMath). TRL now defaults to 0. */
  readonly beta?: number;
  readonly aggregation?: GrpoAggregation;
  /** The fixed length of Dr. GRPO's denominator; defaults to the size of the time edge. */
  readonly maxLength?: number;
  readonly time?: string;
}

/** Scalars, except `advantages` ({group, sample}). */
export interface GrpoLoss {
  readonly loss: Expr;
  /** The clipped-surrogate part alone, aggregated like the loss. */
  readonly policyLoss: Expr;
  /** Mean k3 KL over unmasked tokens (0 when beta is 0 and no refLogp is given). */
  readonly kl: Expr;
  /** Fraction of unmasked tokens whose ratio lies outside [1 − ε_low, 1 + ε_high] (no gradient). */
  readonly clipFraction: Expr;
  readonly advantages: Expr;
}

/** The GRPO objective: `grpoLoss({ logp, refLogp, rewards, mask }, { beta: 0.04 }).loss`. */
export function grpoLoss(inputs: GrpoInputs, options: GrpoOptions = {}): GrpoLoss {
  const { logp, mask } = inputs;
  const time = options.time ?? "t";
  const steps = edgeSize(logp, time, "grpoLoss");
  if (inputs.oldLogp !== undefined) requireSameEdges(inputs.oldLogp, logp, "grpoLoss", "old log-probs");
  const advantages = stopGradient(grpoAdvantageInput(inputs, options));
  const low = 1 - (options.epsilonLow ?? 0.2);
  const high = 1 + (options.epsilonHigh ?? 0.2);
  const ratio = exp(sub(logp, stopGradient(inputs.oldLogp ?? logp)));
  const perTokenPolicy = scale(minimum(mul(ratio, advantages), mul(clip(ratio, low, high), advantages)), -1);
  const beta = options.beta ?? 0.04;
  let perTokenKlValue: Expr | undefined;
  if (inputs.refLogp !== undefined) perTokenKlValue = perTokenKl(logp, stopGradient(inputs.refLogp), "k3");
  else if (beta !== 0) throw new RicciError("grpoLoss: beta ≠ 0 needs refLogp (or set beta: 0)");
  const perToken = beta === 0 || perTokenKlValue === undefined ? perTokenPolicy : add(perTokenPolicy, scale(perTokenKlValue, beta));
  const aggregate = (x: Expr): Expr => aggregateTokens(x, mask, options.aggregation ?? "sequence", time, options.maxLength ?? steps);
  const outside = add(less(ratio, low), greater(ratio, high));
  return {
    loss: aggregate(perToken),
    policyLoss: aggregate(perTokenPolicy),
    kl: perTokenKlValue === undefined ? constant(0) : maskedMean(perTokenKlValue, mask),
    clipFraction: maskedMean(outside, mask),
    advantages,
  };
}

function grpoAdvantageInput(inputs: GrpoInputs, options: GrpoOptions): Expr {
  if ((inputs.rewards === undefined) === (inputs.advantages === undefined)) {
    throw new RicciError("grpoLoss: give exactly one of rewards and advantages");
  }
  const advantages = inputs.advantages ?? grpoAdvantages(inputs.rewards!, options);
  const time = options.time ?? "t";
  const perSequence = inputs.logp.edges.filter((d) => d.name !== time);
  if (advantages.edges.length !== perSequence.length || !perSequence.every((d) => advantages.edges.some((a) => a.name === d.name && a.size === d.size))) {
    throw new RicciError(`grpoLoss: advantages must have the per-sequence edges of logp (all but "${time}")`);
  }
  return advantages;
}

/** Reduces per-token values to a scalar by one of the three GRPO conventions. */
export function aggregateTokens(perToken: Expr, mask: Expr | undefined, aggregation: GrpoAggregation, time = "t", maxLength?: number): Expr {
  const steps = edgeSize(perToken, time, "aggregateTokens");
  switch (aggregation) {
    case "sequence":
      return mean(maskedMean(perToken, mask, time));
    case "token":
      return maskedMean(perToken, mask);
    case "drGrpo": {
      const sequences = perToken.edges.reduce((n, d) => (d.name === time ? n : n * d.size), 1);
      return scale(maskedSum(perToken, mask), 1 / (sequences * (maxLength ?? steps)));
    }
  }
}

