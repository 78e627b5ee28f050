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
 * One optimizer step of `trainLoop` is one update; a rollout serves `updatesPerRollout` (μ, TRL's
 * `num_iterations`) consecutive steps, its old log-probs being the sampler's. With μ = 1 the ratio
 * is 1 (up to float32 rounding between the sampler and the training forward pass) and the clipped
 * surrogate's value is −mean(advantage) ≈ 0 while its gradient is not; so the trainer also
 * reports the REINFORCE form −A·log π (same gradient at ratio 1, a value that moves) and the
 * loss's parts. With μ > 1 the later updates move the ratio away from 1 and the clip acts
 * (`clipFraction`, `approxKl`).
 *
 * Temperature: rollouts sampled at T are trained as the tempered policy softmax(logits/T) (TRL,
 * verl): the loss graph, the old log-probs (the sampler's) and the reference's log-probs are all
 * at T (src/rl/policy.ts).
 *
 * Dynamic sampling (DAPO, verl's `filter_groups`), an option: groups whose G rewards are all
 * equal have zero advantage and only dilute the batch, so they are dropped and batches of P
 * fresh prompts are sampled until P informative groups are found (the first P kept), at most
 * `maxSamplingRounds` batches per rollout. Where the cap is reached first (verl raises an error
 * there), the batch is filled up with dropped groups so its shape stays P × G, and
 * `zeroStdGroupsTrained` says what fraction that was.
 *
 * Per-step metrics, beside the loss's parts: `entropy` (mean over the loss's response tokens of
 * the tempered policy's entropy over the vocabulary, computed in the training graph at the
 * current update), `zeroStdGroups` (fraction of sampled groups with equal rewards, before
 * filtering), `clipFraction`, `approxKl`, and `passAt1` / `passAt<G>` (HumanEval's unbiased
 * pass@k of the exact-answer check, averaged over the sampled groups).
 */
import { type ArithmeticProblem, type RewardWeights, checkAnswer, encodePrompt, ruleReward } from "../data/arithmetic.js";
import { type Tokenizer, charTokenizer } from "../data/tokenizer.js";
import { mul, scale, stopGradient, sub, variable } from "../dsl/build.js";
import { RicciError } from "../errors.js";
import type { Expr } from "../dsl/expr.js";
import { type GrpoOptions, type GrpoScale, aggregateTokens, grpoAdvantages, grpoLoss } from "../losses/grpo.js";
import { maskedMean } from "../losses/masked.js";
import type { GptConfig } from "../nn/gpt.js";
import type { LoraModel, LoraOptions } from "../nn/lora.js";
import type { Params } from "../nn/params.js";
import { evaluate } from "../reference/evaluate.js";
import { generate } from "../sample/generate.js";
import { type Objective, type ObjectiveResult, objective } from "../train/objective.js";
import { makeRng, subSeed } from "../util/random.js";
import { passAtK } from "./evaluate.js";
import { type PolicyGraph, groupedPolicyGraph, scoreLogprobs } from "./policy.js";
import { type GroupedSequences, type PackedSequences, fromGrouped, groupSequences, packSequences, packedLength, responsesOf, samplerLogprobs, toGrouped } from "./sequences.js";
import { meanOf, stdOf } from "../util/stats.js";

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
   * Sampling temperature of the rollouts (default 1), applied in the training forward too (TRL,
   * verl): the policy trained is softmax(logits/T), so the ratio starts at 1 and the KL compares
   * it with the reference tempered alike. Below 1 the groups concentrate on the policy's
   * likeliest answers, so the updates decide between those (what greedy decoding picks).
   */
  readonly temperature?: number;
  /** Response budget; the task's answers need at most 7 tokens with EOS. Default 7. */
  readonly maxNewTokens?: number;
  /** Optimizer updates per rollout (μ in the GRPO paper, TRL's `num_iterations`). Default 1. */
  readonly updatesPerRollout?: number;
  /** Drop completions that hit maxNewTokens without EOS from the loss (DAPO's overlong masking). Default false. */
  readonly maskTruncated?: boolean;
  /**
   * DAPO's dynamic sampling: replace groups whose rewards are all equal by groups of freshly
   * drawn prompts until the batch has P informative groups. Default false.
   */
  readonly dynamicSampling?: boolean;
  /** With dynamicSampling, the most batches of P prompts sampled for one rollout (verl's max_num_gen_batches). Default 4. */
  readonly maxSamplingRounds?: number;
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
  /** The problems of the trained groups, one per group. */
  readonly problems: readonly ArithmeticProblem[];
  /**
   * Rollout statistics. Of every group sampled (the policy's, before any filtering): rewardMean,
   * rewardStd, correct, wellFormed, passAt1, passAt<G>, responseLength, truncated, zeroStdGroups,
   * samplingRounds, sampledGroups. Of the trained batch: advantageMean, advantageStd,
   * zeroStdGroupsTrained.
   */
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
 * gradients and diagnostics for rollouts grouped like `shape` (groups, samples, prefix and own lengths);
 * with `lora`, gradients for the adapters alone, run on `{ ...base, ...adapters }`.
 */
export function grpoObjective(
  config: GptConfig,
  shape: Pick<GroupedSequences, "groups" | "samples" | "prefix" | "own">,
  options: Omit<GrpoTrainerOptions, "promptsPerStep" | "groupSize">,
  lora: LoraOptions | null = null,
): GrpoObjective {
  const graph = groupedPolicyGraph(config, shape, options.temperature ?? 1, lora);
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
  const logRatio = sub(graph.logp, oldLogp);
  const metrics = {
    policyLoss: parts.policyLoss, klPenalty: sub(parts.loss, parts.policyLoss), kl: parts.kl, clipFraction: parts.clipFraction, reinforceLoss: reinforce,
    // ½·mean (log π − log π_old)² over the loss's tokens (PPO's approxkl): ≈ 0 at a rollout's first update, growing with μ.
    approxKl: stopGradient(scale(maskedMean(mul(logRatio, logRatio), graph.mask), 0.5)),
    entropy: stopGradient(maskedMean(graph.entropy, graph.mask)),
  };
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

/** One sampled group: a prompt's G completions, scored. */
interface SampledGroup {
  readonly problem: ArithmeticProblem;
  readonly prompt: readonly number[];
  readonly responses: readonly (readonly number[])[];
  /** The sampler's log-probs of each response, [sample][maxNewTokens] row-major (0 after the end). */
  readonly logprobs: Float32Array;
  readonly lengths: readonly number[];
  readonly finished: readonly boolean[];
  readonly texts: readonly string[];
  readonly rewards: readonly number[];
  readonly correct: readonly boolean[];
  readonly wellFormed: readonly boolean[];
}

/**
 * Samples a rollout: P prompts drawn without replacement (seeded by `index`), G completions
 * each at the options' temperature, rewards, advantages, sampler and reference log-probs. With
 * `dynamicSampling`, further batches of P prompts (the next ones of the same draw) until P
 * groups have unequal rewards, at most `maxSamplingRounds` batches.
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
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0)) throw new RicciError(`grpo: temperature must be positive, got ${temperature}`);
  if (P > problems.length) throw new RicciError(`grpo: ${P} prompts per step but only ${problems.length} problems`);
  const dynamic = options.dynamicSampling === true;
  const maxRounds = dynamic ? (options.maxSamplingRounds ?? 4) : 1;
  if (!Number.isInteger(maxRounds) || maxRounds < 1) throw new RicciError(`grpo: maxSamplingRounds must be a positive integer, got ${maxRounds}`);
  const reward = options.reward ?? ((p: ArithmeticProblem, text: string) => ruleReward(p, text, options.rewardWeights));
  // One draw for every round: its first P prompts are round 0's, the same as without dynamic
  // sampling (a partial Fisher–Yates shuffle's prefix does not depend on how far it goes);
  // later rounds take the next P, wrapping round when the problems run out.
  const order = drawDistinct(problems.length, Math.min(problems.length, P * maxRounds), makeRng(subSeed(seed, `grpo/prompts/${index}`)));
  const sampled: SampledGroup[] = [];
  let rounds = 0;
  while (rounds < maxRounds) {
    const chosen = Array.from({ length: P }, (_, i) => problems[order[(rounds * P + i) % order.length]]);
    const rows = chosen.flatMap((p) => Array.from({ length: G }, () => p));
    const prompts = rows.map((p) => encodePrompt(p.prompt, tok));
    const roundSeed = subSeed(seed, rounds === 0 ? `grpo/sample/${index}` : `grpo/sample/${index}/${rounds}`);
    const rollout = await generate(config, params, prompts, { maxNewTokens, temperature, stopTokens: [tok.eosId], padToken: tok.padId, seed: roundSeed });
    const responses = responsesOf(rollout);
    const texts = responses.map((ids) => tok.decode(ids));
    const checks = rows.map((p, r) => checkAnswer(p, texts[r]));
    const rewards = rows.map((p, r) => reward(p, texts[r]));
    for (let g = 0; g < P; g++) {
      const members = Array.from({ length: G }, (_, s) => g * G + s);
      sampled.push({
        problem: chosen[g],
        prompt: prompts[g * G],
        responses: members.map((r) => responses[r]),
        logprobs: rollout.logprobs.slice(g * G * maxNewTokens, (g + 1) * G * maxNewTokens),
        lengths: members.map((r) => rollout.lengths[r]),
        finished: members.map((r) => rollout.finished[r]),
        texts: members.map((r) => texts[r]),
        rewards: members.map((r) => rewards[r]),
        correct: members.map((r) => checks[r].correct),
        wellFormed: members.map((r) => checks[r].wellFormed),
      });
    }
    rounds++;
    if (!dynamic || sampled.filter((group) => !flat(group.rewards)).length >= P) break;
  }
  // The trained groups: all of round 0 without dynamic sampling; else the first P informative
  // groups in sampling order, topped up with flat ones if the rounds ran out.
  const trained = dynamic ? [...sampled.filter((group) => !flat(group.rewards)), ...sampled.filter((group) => flat(group.rewards))].slice(0, P) : sampled;
  const prompts = trained.flatMap((group) => group.responses.map(() => group.prompt));
  const responses = trained.flatMap((group) => group.responses.map((r) => [...r]));
  // Packed to the longest row: the loss and the log-probs never read past it.
  const packed = packSequences(prompts, responses, packedLength(prompts, responses, config.context), tok.padId);
  const batch = P * G;
  const ctx = packed.context;
  const lengths = trained.flatMap((group) => [...group.lengths]);
  const logprobs = new Float32Array(batch * maxNewTokens);
  trained.forEach((group, g) => logprobs.set(group.logprobs, g * G * maxNewTokens));
  const oldLogp = samplerLogprobs(prompts, logprobs, lengths, maxNewTokens, ctx);
  const lossMask = Float32Array.from(packed.responseMask);
  if (options.maskTruncated === true) {
    trained.flatMap((group) => group.finished).forEach((finished, r) => finished || lossMask.fill(0, r * ctx, (r + 1) * ctx));
  }
  // Each prompt once: the reference scores the group's shared prompt a single time, at the sampling temperature (TRL).
  const grouped = groupSequences(trained.map((group) => group.prompt), responses, G, ctx, tok.padId);
  const refLogp = fromGrouped(grouped, scoreLogprobs(groupedPolicyGraph(config, grouped, temperature), reference, grouped), batch * ctx);
  const rewards = Float64Array.from(trained.flatMap((group) => group.rewards));
  const advantages = groupAdvantages(rewards, P, G, options.scale ?? "group");
  const all = <T>(get: (group: SampledGroup) => readonly T[]): T[] => sampled.flatMap(get);
  const fraction = (flags: readonly boolean[]): number => flags.filter(Boolean).length / flags.length;
  const sampledRewards = all((group) => group.rewards);
  const passAt = (k: number): number => meanOf(sampled.map((group) => passAtK(G, group.correct.filter(Boolean).length, k)));
  return {
    index,
    packed,
    grouped,
    oldLogp,
    refLogp,
    lossMask,
    rewards,
    advantages,
    texts: trained.flatMap((group) => group.texts),
    problems: trained.map((group) => group.problem),
    stats: {
      rewardMean: meanOf(sampledRewards),
      rewardStd: stdOf(sampledRewards),
      correct: fraction(all((group) => group.correct)),
      wellFormed: fraction(all((group) => group.wellFormed)),
      passAt1: passAt(1),
      [`passAt${G}`]: passAt(G),
      advantageMean: meanOf(advantages),
      advantageStd: stdOf(advantages),
      responseLength: meanOf(all((group) => group.lengths)),
      truncated: fraction(all((group) => group.finished.map((f) => !f))),
      zeroStdGroups: fraction(sampled.map((group) => flat(group.rewards))),
      zeroStdGroupsTrained: fraction(trained.map((group) => flat(group.rewards))),
      samplingRounds: rounds,
      sampledGroups: sampled.length,
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
 * `params` is the record the optimizer updates in place; `reference` stays frozen. With `lora`
 * (src/nn/lora.ts), `params` must be `lora.merged` (what the rollouts are sampled from), the
 * gradients are the adapters' (for an optimizer over `lora.adapters`), and the trainer is wrapped
 * by `loraTrainer`, which refreshes the merged weights after each update.
 * Rollout k serves steps kμ+1 … (k+1)μ and depends only on (seed, k) and the policy, so a run
 * that resumes at a rollout boundary (checkpoints every multiple of μ) repeats it exactly.
 */
export function grpoTrainer(config: GptConfig, params: Params, reference: Params, problems: readonly ArithmeticProblem[], options: GrpoTrainerOptions, lora?: LoraModel): GrpoTrainer {
  if (lora !== undefined && params !== lora.merged) throw new RicciError("grpo: with LoRA, the policy sampled from must be the LoRA model's merged weights");
  const mu = options.updatesPerRollout ?? 1;
  if (!Number.isInteger(mu) || mu < 1) throw new RicciError(`grpo: updatesPerRollout must be a positive integer, got ${mu}`);
  if (!Number.isInteger(options.groupSize) || options.groupSize < 2) throw new RicciError(`grpo: groupSize must be an integer ≥ 2, got ${options.groupSize}`);
  // One compiled objective per (prefix, own) length pair: a handful, as prompts differ by a token or two and answers by a few.
  const objectives = new Map<string, GrpoObjective>();
  const objectiveFor = (shape: Pick<GroupedSequences, "groups" | "samples" | "prefix" | "own">): GrpoObjective => {
    const key = `${shape.groups}×${shape.samples}:${shape.prefix}+${shape.own}`;
    let built = objectives.get(key);
    if (built === undefined) objectives.set(key, (built = grpoObjective(config, shape, options, lora?.lora ?? null)));
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
      const result = built.objective.run(lora === undefined ? params : lora.inputs(), built.inputs(current));
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

/** Whether a group's rewards are all equal: its advantages are 0 and it carries no learning signal. */
const flat = (rewards: readonly number[]): boolean => rewards.every((r) => r === rewards[0]);
