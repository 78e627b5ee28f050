/**
 * Direct preference optimisation (Rafailov et al.; TRL's DPOTrainer) on preference pairs: the
 * policy's sequence log-probabilities log π(y) = Σ_t mask·log π(y_t | …) of the chosen and
 * rejected completions, against a frozen reference's, in `dpoLoss` (src/losses/dpo.ts).
 *
 * Layout: a batch of P pairs is `policyGraph`'s 2P rows (chosen at 2i, rejected at 2i + 1, by
 * `packPreferencePairs`); the masked sum over `seq` gives {batch} sequence log-probs, and the
 * two sides are gathered out as {comparison} tensors. The reference's log-probs are data
 * (computed beforehand by a forward pass of the same graph under the reference weights), which
 * is cheaper than a stopGradient branch: no reference pass inside the training graph.
 */
import type { PreferencePair } from "../data/preferences.js";
import { add, div, mean, scale, sum, variable } from "../dsl/build.js";
import { RicciError } from "../errors.js";
import type { Expr, Variable } from "../dsl/expr.js";
import { type DpoOptions, dpoLoss } from "../losses/dpo.js";
import { maskedSum } from "../losses/masked.js";
import { compile } from "../lower/compile.js";
import type { GptConfig } from "../nn/gpt.js";
import type { LoraOptions } from "../nn/lora.js";
import type { Params } from "../nn/params.js";
import { type Objective, objective } from "../train/objective.js";
import { type PolicyGraph, policyGraph } from "./policy.js";
import { type PackedPairs, packPreferencePairs, pairSelection, splitPairs } from "./rewardModel.js";

/** Sequence log-probs of packed preference pairs: {comparison} per side. */
export interface PairLogProbGraph {
  readonly policy: PolicyGraph;
  /** Σ_t mask·log π over each row's response tokens (EOS included): {batch}. */
  readonly sequenceLogp: Expr;
  readonly chosen: Expr;
  readonly rejected: Expr;
  /** Response tokens (EOS included) of each chosen completion: {comparison}. */
  readonly chosenTokens: Expr;
  inputs(batch: PackedPairs): Record<string, Int32Array | Float32Array | Float64Array>;
}

/**
 * `pairLogProbGraph(config, 16)`: the graph for batches of 16 pairs (32 rows). With `lora` the
 * projections carry adapters (src/nn/lora.ts), which are then the graph's only parameters.
 */
export function pairLogProbGraph(config: GptConfig, pairs: number, lora: LoraOptions | null = null): PairLogProbGraph {
  const policy = policyGraph(config, 2 * pairs, config.context, 1, lora);
  const sequenceLogp = maskedSum(policy.logp, policy.mask, "seq");
  const selection = pairSelection(pairs);
  return {
    policy,
    sequenceLogp,
    ...splitPairs(sequenceLogp, selection),
    chosenTokens: splitPairs(sum(policy.mask, "seq"), selection).chosen,
    inputs: (b) => {
      if (b.pairs !== pairs) throw new RicciError(`pairLogProbGraph: built for ${pairs} pairs, given ${b.pairs}`);
      return { ...policy.inputs(b.packed), chosenRow: b.chosenRow, rejectedRow: b.rejectedRow };
    },
  };
}

/** Sequence log-probs of each side of each pair. */
export interface PairLogProbs {
  readonly chosen: Float32Array;
  readonly rejected: Float32Array;
}

/**
 * Sequence log-probs of `pairs` under `params` (forward passes, no gradient), in chunks of
 * `chunk` pairs: `pairLogProbs(config, reference, batch)`.
 */
export function pairLogProbs(config: GptConfig, params: Params, pairs: readonly PreferencePair[], chunk = 100): PairLogProbs {
  const chosen = new Float32Array(pairs.length);
  const rejected = new Float32Array(pairs.length);
  for (let i = 0; i < pairs.length; i += chunk) {
    const part = pairs.slice(i, i + chunk);
    const graph = pairLogProbGraph(config, part.length);
    const out = compile({ chosen: graph.chosen, rejected: graph.rejected }).runSync({ ...graph.inputs(packPreferencePairs(part, config.context)), ...params });
    chosen.set(out.chosen.dataSync(), i);
    rejected.set(out.rejected.dataSync(), i);
    out.chosen.dispose();
    out.rejected.dispose();
  }
  return { chosen, rejected };
}

/** The DPO objective for batches of `pairs` pairs. */
export interface DpoObjective {
  readonly graph: PairLogProbGraph;
  /** Loss + gradients; metrics: dpoLoss, chosenNll, rewardAccuracy, rewardMargin, chosenReward, rejectedReward, policyChosen, policyRejected. */
  readonly objective: Objective;
  readonly referenceChosen: Variable;
  readonly referenceRejected: Variable;
  inputs(batch: PackedPairs, reference: PairLogProbs): Record<string, Int32Array | Float32Array | Float64Array>;
}

export interface DpoObjectiveOptions extends DpoOptions {
  /**
   * TRL's rpo_alpha (RPO, Pang et al. 2024): adds α·NLL of the chosen completions (mean per
   * response token) to the DPO loss, which keeps the chosen likelihood from falling. Default 0
   * (plain DPO).
   */
  readonly rpoAlpha?: number;
}

/**
 * `dpoObjective(config, 16, { beta: 0.1 }).objective.run(params, o.inputs(batch, referenceLogps))`.
 * With `lora`, the gradient is the adapters' and `run` takes `{ ...base, ...adapters }`.
 */
export function dpoObjective(config: GptConfig, pairs: number, options: DpoObjectiveOptions = {}, lora: LoraOptions | null = null): DpoObjective {
  const graph = pairLogProbGraph(config, pairs, lora);
  const referenceChosen = variable("referenceChosen", { comparison: pairs });
  const referenceRejected = variable("referenceRejected", { comparison: pairs });
  const parts = dpoLoss({ policyChosen: graph.chosen, policyRejected: graph.rejected, referenceChosen, referenceRejected }, options);
  const chosenNll = scale(div(sum(graph.chosen), sum(graph.chosenTokens)), -1);
  const alpha = options.rpoAlpha ?? 0;
  const loss = alpha === 0 ? parts.loss : add(parts.loss, scale(chosenNll, alpha));
  const metrics = {
    dpoLoss: parts.loss,
    chosenNll,
    rewardAccuracy: parts.rewardAccuracy,
    rewardMargin: parts.rewardMargin,
    chosenReward: mean(parts.chosenRewards),
    rejectedReward: mean(parts.rejectedRewards),
    policyChosen: mean(graph.chosen),
    policyRejected: mean(graph.rejected),
  };
  return {
    graph,
    objective: objective(loss, graph.policy.parameters, metrics),
    referenceChosen,
    referenceRejected,
    inputs: (b, reference) => {
      if (reference.chosen.length !== b.pairs || reference.rejected.length !== b.pairs) {
        throw new RicciError(`dpoObjective: ${b.pairs} pairs but reference log-probs for ${reference.chosen.length}/${reference.rejected.length}`);
      }
      return { ...graph.inputs(b), referenceChosen: reference.chosen, referenceRejected: reference.rejected };
    },
  };
}

export interface PreferenceReport {
  /**
   * Fraction of pairs whose implicit reward β·(log π − log π_ref) ranks chosen above rejected,
   * ties counted half: the policy equal to the reference scores exactly 0.5 (it cannot tell).
   */
  readonly implicitRewardAccuracy: number;
  /** Fraction with log π(chosen) > log π(rejected) (the policy's own likelihood ranking). */
  readonly likelihoodAccuracy: number;
  /** Mean implicit-reward margin β·(h_chosen − h_rejected). */
  readonly rewardMargin: number;
}

/** Preference metrics of a policy from its and the reference's pair log-probs: `preferenceReport(policy, reference, 0.1)`. */
export function preferenceReport(policy: PairLogProbs, reference: PairLogProbs, beta = 0.1): PreferenceReport {
  const n = policy.chosen.length;
  let implicit = 0;
  let likelihood = 0;
  let margin = 0;
  for (let i = 0; i < n; i++) {
    const chosenReward = beta * (policy.chosen[i] - reference.chosen[i]);
    const rejectedReward = beta * (policy.rejected[i] - reference.rejected[i]);
    implicit += chosenReward > rejectedReward ? 1 : chosenReward === rejectedReward ? 0.5 : 0;
    likelihood += policy.chosen[i] > policy.rejected[i] ? 1 : 0;
    margin += chosenReward - rejectedReward;
  }
  const d = Math.max(1, n);
  return { implicitRewardAccuracy: implicit / d, likelihoodAccuracy: likelihood / d, rewardMargin: margin / d };
}
