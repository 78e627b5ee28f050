/**
 * GRPO trainer (DeepSeekMath §4; TRL's GRPOTrainer): for each rollout, draw P prompts, sample
 * G completions of each from the current policy, score them with the rule reward, z-score the
 * rewards within each group, and minimise the clipped surrogate plus β·k3 KL to the frozen
 * reference (`grpoLoss` in src/losses/grpo.ts) on the packed [P·G, context] batch.
 *
 * Layout choice: the loss graph is `policyGraph`'s {batch, seq} log-probs with advantages fed as
 * a {batch} input, not a {group, sample, t} graph. Advantages carry no gradient, are needed per
 * rollout (not per update, when μ > 1), and "batch" scaling needs whole-rollout statistics, so
 * they are computed once per rollout — by evaluating the same `grpoAdvantages` expression on a
 * {group, sample} rewards tensor in float64 (one definition, exact zeros for equal rewards) —
 * and the loss graph stays the policy graph every RL stage shares. `grpoLoss` only requires the
 * advantages to carry logp's per-sequence edges, which {batch} does.
 *
 * One optimizer step of `trainLoop` is one update; a rollout serves `updatesPerRollout` (μ)
 * consecutive steps, its old log-probs being the sampler's. With μ = 1 the ratio is 1 (up to
 * float32 rounding between the sampler and the training forward pass) and the clipped
 * surrogate's value is −mean(advantage) ≈ 0 while its gradient is not; so the trainer also
 * reports the REINFORCE form −A·log π (same gradient at ratio 1, a value that moves) and the
 * loss's parts.
 */
import { type ArithmeticProblem, type RewardWeights, checkAnswer, encodePrompt, ruleReward } from "../data/arithmetic.js";
import { type Tokenizer, charTokenizer } from "../data/tokenizer.js";
import { mul, scale, stopGradient, sub, variable } from "../dsl/build.js";
import { RicciError } from "../errors.js";
import type { Expr } from "../dsl/expr.js";
import { type GrpoOptions, type GrpoScale, aggregateTokens, grpoAdvantages, grpoLoss } from "../losses/grpo.js";
import type { GptConfig } from "../nn/gpt.js";
import type { Params } from "../nn/params.js";
import { evaluate } from "../reference/evaluate.js";
import { generate } from "../sample/generate.js";
import { type Objective, type ObjectiveResult, objective } from "../train/objective.js";
import { makeRng, subSeed } from "../util/random.js";
import { type PolicyGraph, groupedPolicyGraph, policyGraph, rolloutLogprobs, scoreLogprobs } from "./policy.js";
import { type GroupedSequences, type PackedSequences, fromGrouped, groupSequences, packSequences, packedLength, responsesOf, toGrouped } from "./sequences.js";

/**
 * GRPO's options (TRL's and the papers' names): the loss's own (`grpoLoss`: epsilonLow/High
 * 0.2/0.2 — DAPO's clip-higher sets epsilonHigh 0.28 —, beta 0.04, aggregation "sequence",
 * scale "group") and the trainer's, below.
 */
export interface GrpoTrainerOptions extends Pick<GrpoOptions, "epsilonLow" | "epsilonHigh" | "beta" | "aggregation" | "scale"> {
  /** Prompts per rollout (P). */
  readonly promptsPerStep: number;
  /** Completions per prompt (G). */
  readonly groupSize: number;
  /**
   * Sampling temperature of the rollouts (default 1). Below 1 the groups concentrate on the
   * policy's likeliest answers, so the updates decide between those (what greedy decoding
   * picks); the sampled tokens are then rescored at temperature 1, so the loss's ratio compares
   * the policy with itself, as PPO's `temperature` does.
   */
  readonly temperature?: number;
  /** Response budget; the task's answers need at most 7 tokens with EOS. Default 7. */
  readonly maxNewTokens?: number;
  /** Optimizer updates per rollout (μ; GRPO's "iterations"). Default 1. */
  readonly updatesPerRollout?: number;
  /** Drop completions that hit maxNewTokens without EOS from the loss (DAPO's overlong masking). Default false. */
  readonly maskTruncated?: boolean;
  /** Rule-reward weights; default correct 1, format 0.1. */
  readonly rewardWeights?: RewardWeights;
  /** Replaces the rule reward (e.g. a toy reward in tests); gets the decoded completion, EOS as "<eos>". */
  readonly reward?: (problem: ArithmeticProblem, completion: string) => number;
  readonly seed?: number;
  readonly tokenizer?: Tokenizer;
}

/**
 * One rollout: row r = prompt ⌊r/G⌋, sample r mod G, packed whole (`packed`, the layout of the
 * per-token arrays here) and grouped (`grouped`: each prompt once, what the loss runs on).
 */
export interface GrpoRollout {
  readonly index: number;
  readonly packed: PackedSequences;
  readonly grouped: GroupedSequences;
  /** Sampler log-probs at the response positions of `packed` (0 elsewhere). */
  readonly oldLogp: Float32Array;
  readonly refLogp: Float32Array;
  /** Loss mask: the response mask, zeroed on truncated completions when maskTruncated. */
  readonly lossMask: Float32Array;
  readonly rewards: Float64Array;
  readonly advantages: Float64Array;
  readonly texts: readonly string[];
  /** Rollout statistics (rewardMean, correct, zeroStdGroups, …). */
  readonly stats: Record<string, number>;
}

/**
 * GRPO advantages of rewards laid out [group][sample] (row-major), by evaluating
 * `grpoAdvantages` in float64: `groupAdvantages([1, 0, 0, 0], 1, 4)` ≈ [1.5, −0.5, −0.5, −0.5].
 */
export function groupAdvantages(rewards: ArrayLike<number>, groups: number, samples: number, scaleBy: GrpoScale = "group", epsilon = 1e-4): Float64Array {
  if (rewards.length !== groups * samples) throw new RicciError(`groupAdvantages: ${rewards.length} rewards for ${groups} groups of ${samples}`);
  const r = variable("grpoRewards", { group: groups, sample: samples });
  return evaluate(grpoAdvantages(r, { scale: scaleBy, epsilon }), { grpoRewards: Float64Array.from(rewards) }).data;
}

/** The GRPO loss of `groupedPolicyGraph(config, shape)` and the inputs of a rollout. */
export interface GrpoObjective {
  readonly graph: PolicyGraph<GroupedSequences>;
  readonly objective: Objective;
  readonly loss: Expr;
  inputs(rollout: GrpoRollout): Record<string, Int32Array | Float32Array | Float64Array>;
}

/**
 * `grpoObjective(config, rollout.grouped, options).objective.run(params, o.inputs(rollout))`: loss,
 * gradients and diagnostics for rollouts grouped like `shape` (groups, samples, prefix and own lengths).
 */
export function grpoObjective(
  config: GptConfig,
  shape: Pick<GroupedSequences, "groups" | "samples" | "prefix" | "own">,
  options: Omit<GrpoTrainerOptions, "promptsPerStep" | "groupSize">,
): GrpoObjective {
  const graph = groupedPolicyGraph(config, shape);
  const perToken = { group: shape.groups, sample: shape.samples, seq: shape.own };
  const oldLogp = variable("oldLogp", perToken);
  const refLogp = variable("refLogp", perToken);
  const advantages = variable("advantages", { group: shape.groups, sample: shape.samples });
  const beta = options.beta ?? 0.04;
  const aggregation = options.aggregation ?? "sequence";
  const maxLength = options.maxNewTokens ?? 7;
  const parts = grpoLoss(
    { logp: graph.logp, oldLogp, refLogp, advantages, mask: graph.mask },
    { epsilonLow: options.epsilonLow, epsilonHigh: options.epsilonHigh, beta, aggregation, time: "seq", maxLength },
  );
  // −A·log π aggregated like the loss: the gradient of the surrogate at ratio 1, with a value
  // (−cov(A, log π) in effect) that is not pinned at −mean(A) ≈ 0.
  const reinforce = aggregateTokens(scale(mul(stopGradient(advantages), graph.logp), -1), graph.mask, aggregation, "seq", maxLength);
  const metrics = { policyLoss: parts.policyLoss, klPenalty: sub(parts.loss, parts.policyLoss), kl: parts.kl, clipFraction: parts.clipFraction, reinforceLoss: reinforce };
  return {
    graph,
    objective: objective(parts.loss, graph.parameters, metrics),
    loss: parts.loss,
    inputs: (r) => ({
      ...graph.inputs(r.grouped),
      responseMask: toGrouped(r.grouped, r.lossMask),
      oldLogp: toGrouped(r.grouped, r.oldLogp),
      refLogp: toGrouped(r.grouped, r.refLogp),
      advantages: Float32Array.from(r.advantages),
    }),
  };
}

/**
 * Samples a rollout: P prompts drawn without replacement (seeded by `index`), G completions
 * each at temperature 1, rewards, advantages, sampler and reference log-probs.
 */
export async function grpoRollout(
  config: GptConfig,
  params: Params,
  reference: Params,
  problems: readonly ArithmeticProblem[],
  options: GrpoTrainerOptions,
  index: number,
): Promise<GrpoRollout> {
  const { promptsPerStep: P, groupSize: G } = options;
  const tok = options.tokenizer ?? charTokenizer;
  const maxNewTokens = options.maxNewTokens ?? 7;
  const seed = options.seed ?? 0;
  if (P > problems.length) throw new RicciError(`grpo: ${P} prompts per step but only ${problems.length} problems`);
  const chosen = drawDistinct(problems.length, P, makeRng(subSeed(seed, `grpo/prompts/${index}`))).map((i) => problems[i]);
  const rows = chosen.flatMap((p) => Array.from({ length: G }, () => p));
  const prompts = rows.map((p) => encodePrompt(p.prompt, tok));
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0)) throw new RicciError(`grpo: temperature must be positive, got ${temperature}`);
  const rollout = await generate(config, params, prompts, {
    maxNewTokens, temperature, stopTokens: [tok.eosId], padToken: tok.padId, seed: subSeed(seed, `grpo/sample/${index}`),
  });
  const responses = responsesOf(rollout);
  // Packed to the longest row: the loss and the log-probs never read past it.
  const packed = packSequences(prompts, responses, packedLength(prompts, responses, config.context), tok.padId);
  const batch = rows.length;
  const ctx = packed.context;
  const graph = policyGraph(config, batch, ctx);
  const oldLogp = rolloutLogprobs(graph, params, packed, prompts, rollout, temperature);
  const lossMask = Float32Array.from(packed.responseMask);
  if (options.maskTruncated === true) rollout.finished.forEach((finished, r) => finished || lossMask.fill(0, r * ctx, (r + 1) * ctx));
  // Each prompt once: the reference scores the group's shared prompt a single time.
  const grouped = groupSequences(chosen.map((_, g) => prompts[g * G]), responses, G, ctx, tok.padId);
  const refLogp = fromGrouped(grouped, scoreLogprobs(groupedPolicyGraph(config, grouped), reference, grouped), batch * ctx);
  const texts = responses.map((ids) => tok.decode(ids));
  const reward = options.reward ?? ((p: ArithmeticProblem, text: string) => ruleReward(p, text, options.rewardWeights));
  const rewards = Float64Array.from(rows, (p, r) => reward(p, texts[r]));
  const advantages = groupAdvantages(rewards, P, G, options.scale ?? "group");
  const correct = rows.map((p, r) => checkAnswer(p, texts[r]));
  return {
    index,
    packed,
    grouped,
    oldLogp,
    refLogp,
    lossMask,
    rewards,
    advantages,
    texts,
    stats: {
      rewardMean: meanOf(rewards),
      rewardStd: stdOf(rewards),
      correct: correct.filter((c) => c.correct).length / batch,
      wellFormed: correct.filter((c) => c.wellFormed).length / batch,
      advantageMean: meanOf(advantages),
      advantageStd: stdOf(advantages),
      responseLength: meanOf(rollout.lengths),
      truncated: rollout.finished.filter((f) => !f).length / batch,
      zeroStdGroups: zeroVarianceGroups(rewards, P, G),
    },
  };
}

export interface GrpoTrainer {
  /** `trainLoop`'s microstep: a fresh rollout every μ steps, then loss, gradients and metrics. */
  microstep(step: number, micro: number): Promise<ObjectiveResult>;
  /** The objective for rollouts grouped like `shape` (built on first use, then cached). */
  objectiveFor(shape: Pick<GroupedSequences, "groups" | "samples" | "prefix" | "own">): GrpoObjective;
  /** The rollout of the latest step (for inspection). */
  lastRollout(): GrpoRollout | null;
}

/**
 * GRPO for the training loop: `trainLoop({ trainer: gradientTrainer({ config, params, optimizer, microstep: grpoTrainer(config, params, ref, train, opts).microstep }) })`.
 * `params` is the record the optimizer updates in place; `reference` stays frozen.
 * Rollout k serves steps kμ+1 … (k+1)μ and depends only on (seed, k) and the policy, so a run
 * that resumes at a rollout boundary (checkpoints every multiple of μ) repeats it exactly.
 */
export function grpoTrainer(config: GptConfig, params: Params, reference: Params, problems: readonly ArithmeticProblem[], options: GrpoTrainerOptions): GrpoTrainer {
  const mu = options.updatesPerRollout ?? 1;
  if (!Number.isInteger(mu) || mu < 1) throw new RicciError(`grpo: updatesPerRollout must be a positive integer, got ${mu}`);
  if (!Number.isInteger(options.groupSize) || options.groupSize < 2) throw new RicciError(`grpo: groupSize must be an integer ≥ 2, got ${options.groupSize}`);
  // One compiled objective per (prefix, own) length pair: a handful, as prompts differ by a token or two and answers by a few.
  const objectives = new Map<string, GrpoObjective>();
  const objectiveFor = (shape: Pick<GroupedSequences, "groups" | "samples" | "prefix" | "own">): GrpoObjective => {
    const key = `${shape.groups}×${shape.samples}:${shape.prefix}+${shape.own}`;
    let built = objectives.get(key);
    if (built === undefined) objectives.set(key, (built = grpoObjective(config, shape, options)));
    return built;
  };
  let current: GrpoRollout | null = null;
  return {
    objectiveFor,
    lastRollout: () => current,
    async microstep(step, micro) {
      if (micro !== 0) throw new RicciError("grpo: one rollout is one batch; run trainLoop with accumulate 1");
      const index = Math.floor((step - 1) / mu);
      if (current === null || current.index !== index) current = await grpoRollout(config, params, reference, problems, options, index);
      const built = objectiveFor(current.grouped);
      const result = built.objective.run(params, built.inputs(current));
      return { ...result, metrics: { ...result.metrics, ...current.stats } };
    },
  };
}

/** `count` distinct indices below `n`, by a partial Fisher–Yates shuffle. */
function drawDistinct(n: number, count: number, rng: () => number): number[] {
  const pool = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rng() * (n - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, count);
}

const meanOf = (x: ArrayLike<number>): number => Array.from(x).reduce((s, v) => s + v, 0) / Math.max(1, x.length);

/** Population std. */
function stdOf(x: ArrayLike<number>): number {
  const m = meanOf(x);
  return Math.sqrt(meanOf(Array.from(x, (v) => (v - m) ** 2)));
}

/** Fraction of groups whose rewards are all equal (they carry no learning signal). */
function zeroVarianceGroups(rewards: ArrayLike<number>, groups: number, samples: number): number {
  let flat = 0;
  for (let g = 0; g < groups; g++) {
    let same = true;
    for (let s = 1; s < samples; s++) if (rewards[g * samples + s] !== rewards[g * samples]) same = false;
    if (same) flat++;
  }
  return flat / groups;
}
