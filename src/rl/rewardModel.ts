/**
 * Reward model (TRL's RewardTrainer): a GPT trunk initialised from SFT that maps a sequence
 * [BOS, prompt, response, EOS] to one number, trained on preference pairs with the
 * Bradley–Terry loss. Two ways to read that number off the trunk (`RewardHead`):
 * - "lastToken" (TRL's AutoModelForSequenceClassification): a scalar head `valueHead` read at
 *   the sequence's last real token (the EOS), picked in the DSL by a one-hot of `lastIndex`
 *   over `seq`. Its config has `head: "scalar"`.
 * - "likelihood" (a generative reward model): the trunk keeps its LM head and the score is the
 *   response's log-likelihood Σ_t log π_φ(y_t | x, y_<t) (EOS included). It starts as the SFT
 *   model's own ranking of the pair and Bradley–Terry sharpens it; every token position
 *   contributes, so checking the answer happens where the answer is written, not all at the EOS.
 *   Its config has `head: "lm"`.
 * The head is told by the config alone, so a checkpoint says which reward model it is.
 *
 * Layout: a batch of P preference pairs is packed as 2P rows, row 2i the chosen and row 2i + 1
 * the rejected completion of pair i (`packPreferencePairs`). The trunk runs on the {batch, seq}
 * rows like every other GPT graph; the {comparison} scores of each side are then gathered out
 * of the {batch} scores by data indices (`chosenRow`, `rejectedRow`). The same row selection
 * serves DPO (src/rl/dpo.ts), whose sequences are the same pairs.
 */
import { encodePrompt } from "../data/arithmetic.js";
import type { PreferencePair } from "../data/preferences.js";
import { type Tokenizer, charTokenizer } from "../data/tokenizer.js";
import { add, div, dot, gather, mean, oneHot, scale, sub, sum, variable } from "../dsl/build.js";
import { RicciError } from "../errors.js";
import type { Expr, Variable } from "../dsl/expr.js";
import { edgeSize, maskedSum } from "../losses/masked.js";
import { bradleyTerryLoss, rewardAccuracy } from "../losses/rewardModel.js";
import { tf } from "../lower/backend.js";
import { compile } from "../lower/compile.js";
import { type GptConfig, type GptData, type GptParams, gptConstants, gptData, gptForward, gptParams } from "../nn/gpt.js";
import type { Params } from "../nn/params.js";
import { type Objective, objective } from "../train/objective.js";
import { makeRng, normals, subSeed } from "../util/random.js";
import { policyGraph } from "./policy.js";
import { type PackedSequences, packSequences } from "./sequences.js";

/** Preference pairs packed two rows per pair: chosen at row 2i, rejected at row 2i + 1. */
export interface PackedPairs {
  readonly packed: PackedSequences;
  /** Row of each pair's chosen / rejected completion (the indices the gathers read). */
  readonly chosenRow: Int32Array;
  readonly rejectedRow: Int32Array;
  readonly pairs: number;
}

/** The token ids of a response text followed by EOS (preference responses carry no EOS). */
export function encodeResponse(text: string, tokenizer: Tokenizer = charTokenizer): number[] {
  return [...tokenizer.encode(text), tokenizer.eosId];
}

/** Packs pairs as [BOS, prompt, response, EOS] rows, chosen then rejected: `packPreferencePairs(pairs, 24)`. */
export function packPreferencePairs(pairs: readonly PreferencePair[], context: number, tokenizer: Tokenizer = charTokenizer): PackedPairs {
  const prompts: number[][] = [];
  const responses: number[][] = [];
  for (const pair of pairs) {
    const prompt = encodePrompt(pair.prompt, tokenizer);
    prompts.push(prompt, prompt);
    responses.push(encodeResponse(pair.chosen, tokenizer), encodeResponse(pair.rejected, tokenizer));
  }
  return {
    packed: packSequences(prompts, responses, context, tokenizer.padId),
    chosenRow: Int32Array.from(pairs, (_, i) => 2 * i),
    rejectedRow: Int32Array.from(pairs, (_, i) => 2 * i + 1),
    pairs: pairs.length,
  };
}

/** Data variables that pick each side's rows out of a {batch} tensor: edges {comparison}. */
export interface PairSelection {
  readonly chosenRow: Variable;
  readonly rejectedRow: Variable;
}

/** `pairSelection(16)`: the row-index variables for 16 pairs. */
export function pairSelection(pairs: number): PairSelection {
  return { chosenRow: variable("chosenRow", { comparison: pairs }), rejectedRow: variable("rejectedRow", { comparison: pairs }) };
}

/** {batch} → its chosen and rejected rows, each {comparison}: `splitPairs(seqScores, pairSelection(16))`. */
export function splitPairs(perRow: Expr, selection: PairSelection): { chosen: Expr; rejected: Expr } {
  return { chosen: gather(perRow, selection.chosenRow, "batch"), rejected: gather(perRow, selection.rejectedRow, "batch") };
}

/** How a reward model reads its score off the trunk (see the file's comment). */
export type RewardHead = "lastToken" | "likelihood";
export const REWARD_HEADS: readonly RewardHead[] = ["lastToken", "likelihood"];

/** The reward model's config: the policy's, with a scalar head ("lastToken", the default) or its LM head ("likelihood"). */
export const rewardModelConfig = (policy: GptConfig, head: RewardHead = "lastToken"): GptConfig => ({ ...policy, head: head === "lastToken" ? "scalar" : "lm" });

/** Which reward head a reward-model config has: `rewardHeadOf(rewardModelConfig(c, "likelihood"))` is "likelihood". */
export const rewardHeadOf = (config: GptConfig): RewardHead => (config.head === "scalar" ? "lastToken" : "likelihood");

/**
 * Reward-model parameters from a policy (SFT) checkpoint: every trunk tensor is taken as is
 * (same names), the LM head `unembed` is disposed, and `valueHead` is drawn N(0, headStd²)
 * (0.02, like Hugging Face's sequence-classification head) so that initial scores are
 * distinct and initial pairwise accuracy is an honest coin flip, not a tie. A "likelihood"
 * config keeps every tensor, LM head included.
 * Takes ownership of `policyParams`: `rewardModelFromPolicy(sft.params, rmConfig, seed)`.
 */
export function rewardModelFromPolicy(policyParams: Params, config: GptConfig, seed: number, headStd = 0.02): Params {
  const out: Params = {};
  for (const [name, v] of Object.entries(gptParams(config))) {
    if (name === "valueHead") {
      out[name] = tf.tensor(normals(config.dModel, makeRng(subSeed(seed, "rm/valueHead")), headStd), [config.dModel]);
      continue;
    }
    const t = policyParams[name];
    const shape = v.edges.map((e) => e.size);
    if (t === undefined || t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) {
      throw new RicciError(`rewardModelFromPolicy: policy parameter "${name}" missing or not of shape [${shape.join(", ")}]`);
    }
    out[name] = t;
  }
  for (const [name, t] of Object.entries(policyParams)) if (!(name in out)) t.dispose();
  return out;
}

/** The scalar head read at each row's `lastIndex`: `lastTokenScores(config, params, data, lastIndex)` has lastIndex's edges. */
export function lastTokenScores(config: GptConfig, params: GptParams, data: GptData, lastIndex: Expr): Expr {
  if (config.head !== "scalar") throw new RicciError(`lastTokenScores: config must have head "scalar", got "${config.head ?? "lm"}"`);
  const perPosition = gptForward(config, params, data); // {batch, seq}
  return dot(perPosition, oneHot(lastIndex, { seq: edgeSize(perPosition, "seq", "lastTokenScores") }), "seq");
}

/** Per-row reward scores {batch} of packed sequences, and the data they read. */
export interface SequenceScorer {
  readonly parameters: readonly Variable[];
  readonly scores: Expr;
  /** Response tokens (EOS included) of each row {batch}: the likelihood head's, null for the last-token head. */
  readonly responseTokens: Expr | null;
  inputs(packed: PackedSequences): Record<string, Int32Array | Float32Array | Float64Array>;
}

/** `sequenceScorer(rmConfig, 64).scores`: the reward of each of 64 packed rows, by the config's head. */
export function sequenceScorer(config: GptConfig, rows: number): SequenceScorer {
  if (rewardHeadOf(config) === "likelihood") {
    const policy = policyGraph(config, rows);
    return { parameters: policy.parameters, scores: maskedSum(policy.logp, policy.mask, "seq"), responseTokens: sum(policy.mask, "seq"), inputs: policy.inputs };
  }
  const params = gptParams(config);
  const lastIndex = variable("lastIndex", { batch: rows });
  const constants = gptConstants(config);
  return {
    parameters: Object.values(params),
    scores: lastTokenScores(config, params, gptData(config, rows), lastIndex),
    responseTokens: null,
    inputs: (packed) => ({ ...constants, tokens: packed.tokens, lastIndex: packed.lastIndex }),
  };
}

/** The reward model's expressions for batches of `pairs` preference pairs (2·pairs rows). */
export interface RewardModelGraph {
  readonly config: GptConfig;
  readonly parameters: readonly Variable[];
  /** Scores {batch} of every row, {comparison} of each side. */
  readonly scores: Expr;
  readonly chosen: Expr;
  readonly rejected: Expr;
  /** Response tokens of each chosen completion {comparison} (likelihood head), else null. */
  readonly chosenTokens: Expr | null;
  inputs(batch: PackedPairs): Record<string, Int32Array | Float32Array | Float64Array>;
}

/** `rewardModelGraph(rmConfig, 16)`: scores of 32 packed rows, read at their last tokens, split by side. */
export function rewardModelGraph(config: GptConfig, pairs: number): RewardModelGraph {
  const scorer = sequenceScorer(config, 2 * pairs);
  return {
    config,
    parameters: scorer.parameters,
    scores: scorer.scores,
    ...splitPairs(scorer.scores, pairSelection(pairs)),
    chosenTokens: scorer.responseTokens === null ? null : splitPairs(scorer.responseTokens, pairSelection(pairs)).chosen,
    inputs: (b) => {
      if (b.pairs !== pairs) throw new RicciError(`rewardModelGraph: built for ${pairs} pairs, given ${b.pairs}`);
      return { ...scorer.inputs(b.packed), chosenRow: b.chosenRow, rejectedRow: b.rejectedRow };
    },
  };
}

export interface RewardModelOptions {
  /** Required score gap of the Bradley–Terry loss; default 0. */
  readonly margin?: number;
  /** TRL's center_rewards_coefficient; default 0.01 (see `rewardModelObjective`). */
  readonly centerCoefficient?: number;
  /**
   * Likelihood head only: adds α·(NLL of the chosen responses, per token), as DPO's RPO term
   * does, so the model keeps learning to write the preferred answer while it learns to rank.
   * Default 0.
   */
  readonly nllCoefficient?: number;
}

/** The Bradley–Terry objective of a reward model. */
export interface RewardModelObjective {
  readonly graph: RewardModelGraph;
  /** Training loss (with centring) + gradients; metrics: accuracy, margin, bradleyTerry. */
  readonly objective: Objective;
}

/** Pairwise diagnostics (no gradient): accuracy, mean score gap, Bradley–Terry loss without centring. */
function pairwiseMetrics(graph: RewardModelGraph, margin: number): Record<"accuracy" | "margin" | "bradleyTerry", Expr> {
  const { chosen, rejected } = graph;
  return {
    accuracy: rewardAccuracy(chosen, rejected),
    margin: mean(sub(chosen, rejected)),
    bradleyTerry: bradleyTerryLoss({ chosen, rejected, margin }),
  };
}

/**
 * `rewardModelObjective(config, 32).objective.run(params, graph.inputs(batch))`.
 * Default centring 0.01 (the value TRL's docs recommend): the loss only sees score
 * differences, so without it the common offset of the scores drifts freely; PPO consumes the
 * raw score, and a pinned offset keeps its scale comparable between runs.
 */
export function rewardModelObjective(config: GptConfig, pairs: number, options: RewardModelOptions = {}): RewardModelObjective {
  const graph = rewardModelGraph(config, pairs);
  const margin = options.margin ?? 0;
  const bradleyTerry = bradleyTerryLoss({ chosen: graph.chosen, rejected: graph.rejected, margin }, { centerCoefficient: options.centerCoefficient ?? 0.01 });
  const alpha = options.nllCoefficient ?? 0;
  if (alpha === 0) return { graph, objective: objective(bradleyTerry, graph.parameters, pairwiseMetrics(graph, margin)) };
  if (graph.chosenTokens === null) throw new RicciError(`rewardModelObjective: nllCoefficient ${alpha} needs the likelihood head (the last-token head has no LM head)`);
  const chosenNll = scale(div(sum(graph.chosen), sum(graph.chosenTokens)), -1);
  const loss = add(bradleyTerry, scale(chosenNll, alpha));
  return { graph, objective: objective(loss, graph.parameters, { ...pairwiseMetrics(graph, margin), chosenNll }) };
}

export interface PairwiseReport {
  /** Fraction of pairs with r(chosen) > r(rejected) (ties count as wrong). */
  readonly accuracy: number;
  /** Mean Bradley–Terry loss −log σ(r_w − r_l − margin), without the centring term. */
  readonly loss: number;
  /** Mean r(chosen) − r(rejected). */
  readonly margin: number;
  readonly pairs: number;
}

/**
 * Pairwise accuracy and loss on `pairs` (forward passes only), in chunks of `chunk` pairs (a
 * trailing remainder is scored in a smaller graph): `pairwiseReport(rmConfig, params, testPairs)`.
 */
export function pairwiseReport(config: GptConfig, params: Params, pairs: readonly PreferencePair[], options: { chunk?: number; margin?: number } = {}): PairwiseReport {
  const chunk = options.chunk ?? 100;
  const totals = { accuracy: 0, margin: 0, bradleyTerry: 0 };
  for (let i = 0; i < pairs.length; i += chunk) {
    const part = pairs.slice(i, i + chunk);
    const graph = rewardModelGraph(config, part.length);
    const out = compile(pairwiseMetrics(graph, options.margin ?? 0)).runSync({ ...graph.inputs(packPreferencePairs(part, config.context)), ...params });
    for (const k of ["accuracy", "margin", "bradleyTerry"] as const) {
      totals[k] += out[k].dataSync()[0] * part.length;
      out[k].dispose();
    }
  }
  const n = Math.max(1, pairs.length);
  return { accuracy: totals.accuracy / n, loss: totals.bradleyTerry / n, margin: totals.margin / n, pairs: pairs.length };
}

/**
 * Rewards of prompt + response token sequences (PPO's score), by the config's head.
 * Responses should end with EOS where they finished (`responsesOf` keeps it).
 * `scoreResponses(rmConfig, rmParams, prompts, responses)` → Float32Array, one per row.
 */
export function scoreResponses(
  config: GptConfig,
  rmParams: Params,
  prompts: readonly (readonly number[])[],
  responses: readonly (readonly number[])[],
  padToken: number = charTokenizer.padId,
): Float32Array {
  const packed = packSequences(prompts, responses, config.context, padToken);
  const scorer = sequenceScorer(config, packed.batch);
  const out = compile({ scores: scorer.scores }).runSync({ ...scorer.inputs(packed), ...rmParams });
  const scores = Float32Array.from(out.scores.dataSync());
  out.scores.dispose();
  return scores;
}
