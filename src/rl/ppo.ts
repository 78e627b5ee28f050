/**
 * PPO trainer in TRL's conventions (Ziegler et al. 2019; TRL's PPOTrainer): a policy (from
 * SFT), a frozen reference (an SFT copy), a value model (a separate network: the SFT trunk with
 * a scalar head `valueHead`, config head "scalar") and a sequence-level reward.
 *
 * One iteration = one rollout batch, then `epochs` passes of shuffled minibatch updates:
 *   1. sample one response per prompt at temperature T (default 1); the sampler's log-probs are
 *      the old policy's (`oldLogp`), the reference (tempered at T too) and the value model score
 *      the packed sequences;
 *   2. per-token rewards: −klCoef·KL_t (k1 by default, k3 as an option) on every response
 *      token and the score on the final response token (`klPenaltyRewards`);
 *   3. GAE(γ, λ) over the response (values after the last token are 0: the episode ends),
 *      returns = advantages + values, then advantages whitened (`gae`, `whiten`), all evaluated
 *      as one float64 expression per rollout (advantages are data, not part of the loss graph);
 *   4. each minibatch: `ppoLoss` (clipped surrogate, clipped value loss, entropy bonus).
 *
 * Policy and value are trained with separate AdamW optimizers (and separate gradient clipping)
 * from ONE compiled objective: loss = policyLoss + vfCoef·valueLoss − entCoef·entropy over the
 * variables of both networks. The networks share no parameter, so ∂loss/∂θ_policy is the
 * policy part alone and ∂loss/∂θ_value is vfCoef·∂valueLoss — one forward/backward pass per
 * minibatch, two independent updates. At T ≠ 1 the policy in the loss is softmax(logits/T), the
 * distribution the rollouts were drawn from (TRL's convention, src/rl/policy.ts): its ratio starts
 * at 1, its entropy is the tempered policy's. The value network's variables are named "value.<name>"
 * inside the objective so the two networks' variables differ; its Params stay keyed by the
 * plain GPT names so the value model checkpoints like any scalar-head GPT.
 */
import { type ArithmeticProblem, type RewardWeights, checkAnswer, encodePrompt, ruleReward } from "../data/arithmetic.js";
import { type Tokenizer, charTokenizer } from "../data/tokenizer.js";
import { dot, mul, variable } from "../dsl/build.js";
import { RicciError } from "../errors.js";
import type { Expr, Variable } from "../dsl/expr.js";
import { gae, shiftMatrix } from "../losses/gae.js";
import type { KlEstimator } from "../losses/kl.js";
import { type PpoOptions, klPenaltyRewards, ppoLoss, whiten } from "../losses/ppo.js";
import { tf } from "../lower/backend.js";
import { type Compiled, compile } from "../lower/compile.js";
import { type GptConfig, type GptParams, gptData, gptParams, gptTrunk } from "../nn/gpt.js";
import type { LoraModel, LoraOptions } from "../nn/lora.js";
import type { Params } from "../nn/params.js";
import { evaluateAll } from "../reference/evaluate.js";
import { generate } from "../sample/generate.js";
import { type Objective, objective } from "../train/objective.js";
import { type AdamW, clipByGlobalNorm } from "../train/optimizer.js";
import { makeRng, shuffled, subSeed } from "../util/random.js";
import { type PolicyGraph, policyGraph, rolloutLogprobs, scoreLogprobs } from "./policy.js";
import { type PackedSequences, packSequences, packedLength, responsesOf } from "./sequences.js";
import { meanOf, stdOf } from "../util/stats.js";

/**
 * A sequence-level reward: one score per (problem, response), given as decoded text and as the
 * generated token ids (up to and including EOS). The rule reward reads the text, a learned
 * reward model the ids: `ruleRewardFunction()` or `modelRewardFunction(rmConfig, rmParams)`.
 */
export type RewardFunction = (
  problems: readonly ArithmeticProblem[],
  responses: readonly string[],
  responseIds: readonly (readonly number[])[],
) => Float32Array | Promise<Float32Array>;

/** The arithmetic task's rule reward (correct 1, well formed 0.1 by default) as a RewardFunction. */
export function ruleRewardFunction(weights?: RewardWeights): RewardFunction {
  return (problems, responses) => Float32Array.from(problems, (p, i) => ruleReward(p, responses[i], weights));
}

/**
 * PPO's options (TRL's names): the loss's own (`ppoLoss`: clipRange 0.2, clipRangeValue 0.2,
 * vfCoef 0.1, entCoef 0) and the trainer's, below.
 */
export interface PpoTrainerOptions extends Pick<PpoOptions, "clipRange" | "clipRangeValue" | "vfCoef" | "entCoef"> {
  /** Prompts (one response each) per rollout batch. */
  readonly rolloutBatch: number;
  /** Minibatches per epoch; rolloutBatch must divide evenly. Default 2. */
  readonly minibatches?: number;
  /** Passes over each rollout batch. Default 4 (TRL). */
  readonly epochs?: number;
  readonly reward: RewardFunction;
  /**
   * Sampling temperature of the rollouts (default 1), applied in the training forward too, as
   * TRL does: the policy trained is softmax(logits/T) — ratio, entropy and the reference's
   * log-probs (for the KL penalty) all at T. Below 1 the samples concentrate near the policy's
   * modes, where greedy accuracy is decided.
   */
  readonly temperature?: number;
  /** Response budget; the task's answers need at most 7 tokens with EOS. Default 7. */
  readonly maxNewTokens?: number;
  /** GAE discount γ (TRL 1) and λ (TRL 0.95). */
  readonly gamma?: number;
  readonly lambda?: number;
  /** Per-token KL penalty folded into the rewards: coefficient 0.05 and estimator k1 (TRL). */
  readonly klCoef?: number;
  readonly klEstimator?: KlEstimator;
  /** Whiten advantages over the rollout batch (TRL: yes). Default true. */
  readonly whitenAdvantages?: boolean;
  /** Global-norm clip of each network's gradient per update (0 disables). Default 1. */
  readonly clipNorm?: number;
  readonly seed?: number;
  readonly tokenizer?: Tokenizer;
}

const VALUE_PREFIX = "value.";

/** The value model's config: the policy's with a scalar head. */
export const valueConfigOf = (config: GptConfig): GptConfig => ({ ...config, head: "scalar" });

/**
 * The value model's starting point (TRL: the critic starts from the SFT/reward model): the SFT
 * trunk and a zero `valueHead`, so its first predictions are 0. `initValueFromPolicy(config, sft)`.
 */
export function initValueFromPolicy(config: GptConfig, policy: Params): Params {
  const names = Object.keys(gptParams(valueConfigOf(config)));
  const value: Params = {};
  for (const name of names) value[name] = name === "valueHead" ? tf.zeros([config.dModel]) : tf.clone(policy[name]);
  return value;
}

/** The value model's variables renamed "value.<name>" (same edges, same order), keyed by role. */
function valueVariables(config: GptConfig): Record<string, Variable> {
  const out: Record<string, Variable> = {};
  for (const [key, v] of Object.entries(gptParams(valueConfigOf(config)))) {
    out[key] = variable(`${VALUE_PREFIX}${v.name}`, Object.fromEntries(v.edges.map((e) => [e.name, e.size])));
  }
  return out;
}

/** Value params keyed by the objective's variable names. */
const prefixed = (value: Params): Params => Object.fromEntries(Object.entries(value).map(([k, t]) => [`${VALUE_PREFIX}${k}`, t]));

/** Per-token values {batch, seq} = dot(trunk, valueHead) of the value network. */
function valuesExpr(config: GptConfig, vars: GptParams, batch: number, seq: number): Expr {
  return dot(gptTrunk(valueConfigOf(config), vars, gptData(config, batch, seq)), vars.valueHead);
}

/** The PPO loss over a minibatch of packed sequences, compiled with gradients for both networks. */
export interface PpoObjective {
  readonly graph: PolicyGraph;
  readonly objective: Objective;
  readonly policyParameters: readonly Variable[];
  readonly valueParameters: readonly Variable[];
  /** Loss, gradients (split by network, each keyed by plain GPT names) and diagnostics. */
  run(policy: Params, value: Params, minibatch: PpoMinibatch): { loss: number; policyGrads: Params; valueGrads: Params; metrics: Record<string, number> };
}

/** The data of one minibatch: rows of a rollout. */
export interface PpoMinibatch {
  readonly packed: PackedSequences;
  readonly oldLogp: Float32Array;
  readonly oldValues: Float32Array;
  readonly advantages: Float32Array;
  readonly returns: Float32Array;
}

/**
 * `ppoObjective(config, 32, opts, rollout.packed.context).run(policy, value, minibatch)`: minibatches
 * packed to `seq` positions (default the context). With `lora` the policy's projections carry
 * adapters (src/nn/lora.ts): `run` takes `{ ...base, ...adapters }` as the policy and its policy
 * gradients are the adapters'; the value network stays a full model.
 */
export function ppoObjective(
  config: GptConfig, batch: number, options: Omit<PpoTrainerOptions, "rolloutBatch" | "reward"> = {}, seq: number = config.context, lora: LoraOptions | null = null,
): PpoObjective {
  const graph = policyGraph(config, batch, seq, options.temperature ?? 1, lora);
  const vars = valueVariables(config);
  const per = { batch, seq };
  const oldLogp = variable("oldLogp", per);
  const oldValues = variable("oldValues", per);
  const advantages = variable("advantages", per);
  const returns = variable("returns", per);
  const parts = ppoLoss(
    { logp: graph.logp, oldLogp, advantages, mask: graph.mask, values: valuesExpr(config, vars, batch, seq), oldValues, returns, logits: graph.logits },
    { clipRange: options.clipRange, clipRangeValue: options.clipRangeValue, vfCoef: options.vfCoef, entCoef: options.entCoef },
  );
  const valueParameters = Object.values(vars);
  const obj = objective(parts.loss, [...graph.parameters, ...valueParameters], {
    policyLoss: parts.policyLoss, valueLoss: parts.valueLoss, entropy: parts.entropy, clipFraction: parts.clipFraction, approxKl: parts.approxKl,
  });
  return {
    graph,
    objective: obj,
    policyParameters: graph.parameters,
    valueParameters,
    run(policy, value, mb) {
      const result = obj.run({ ...policy, ...prefixed(value) }, {
        ...graph.inputs(mb.packed), oldLogp: mb.oldLogp, oldValues: mb.oldValues, advantages: mb.advantages, returns: mb.returns,
      });
      const policyGrads: Params = {};
      const valueGrads: Params = {};
      for (const [name, g] of Object.entries(result.grads)) {
        if (name.startsWith(VALUE_PREFIX)) valueGrads[name.slice(VALUE_PREFIX.length)] = g;
        else policyGrads[name] = g;
      }
      return { loss: result.loss, policyGrads, valueGrads, metrics: result.metrics };
    },
  };
}

/** Per-token values {batch, seq} of packed sequences under the value model (no gradient). */
export function scoreValues(config: GptConfig, value: Params, packed: PackedSequences): Float32Array {
  const run: Compiled<"values"> = compile({ values: valuesExpr(config, valueVariables(config), packed.batch, packed.context) });
  const graph = policyGraph(config, packed.batch, packed.context);
  const out = run.runSync({ ...graph.inputs(packed), ...prefixed(value) });
  const values = out.values.dataSync() as Float32Array;
  out.values.dispose();
  return values;
}

export interface PpoAdvantageInputs {
  /** Sequence scores {batch}. */
  readonly scores: ArrayLike<number>;
  /** Old-policy and reference log-probs, values and the response mask, row-major {batch, seq}. */
  readonly logp: ArrayLike<number>;
  readonly refLogp: ArrayLike<number>;
  readonly values: ArrayLike<number>;
  readonly mask: ArrayLike<number>;
  /** Position (along seq) of each row's final response token (where the score goes) {batch}. */
  readonly lastIndex: ArrayLike<number>;
  readonly batch: number;
  readonly seq: number;
}

export interface PpoAdvantages {
  /** Per-token rewards: −klCoef·KL_t on response tokens plus the score on the final one. */
  readonly rewards: Float64Array;
  /** GAE advantages before whitening, and after (what the loss uses). */
  readonly rawAdvantages: Float64Array;
  readonly advantages: Float64Array;
  /** Value targets: raw advantages + values. */
  readonly returns: Float64Array;
}

/**
 * The rollout-time arithmetic of PPO in one float64 evaluation of DSL expressions:
 * klPenaltyRewards → gae (masked values: V after the final token is 0) → whiten.
 * `ppoAdvantages({ scores, logp, refLogp, values, mask, lastIndex, batch, seq }, { klCoef: 0.05 })`.
 */
export function ppoAdvantages(
  inputs: PpoAdvantageInputs,
  options: { klCoef?: number; klEstimator?: KlEstimator; gamma?: number; lambda?: number; whiten?: boolean } = {},
): PpoAdvantages {
  const { batch, seq } = inputs;
  const gamma = options.gamma ?? 1;
  const lambda = options.lambda ?? 0.95;
  const per = { batch, seq };
  const v = {
    scores: variable("ppoScores", { batch }),
    logp: variable("ppoLogp", per),
    refLogp: variable("ppoRefLogp", per),
    values: variable("ppoValues", per),
    mask: variable("ppoMask", per),
    lastIndex: variable("ppoLastIndex", { batch }),
    shift: variable("ppoShift", { seq, s: seq }),
    discount: variable("ppoDiscount", { seq, s: seq }),
  };
  const rewards = klPenaltyRewards(
    { scores: v.scores, logp: v.logp, refLogp: v.refLogp, lastIndex: v.lastIndex, mask: v.mask },
    { klCoef: options.klCoef ?? 0.05, estimator: options.klEstimator ?? "k1", time: "seq" },
  );
  // Values outside the response are zeroed: V_{t+1} after the final token is the terminal 0,
  // and prompt/padding positions are masked out of the loss anyway.
  const maskedValues = mul(v.values, v.mask);
  const g = gae({ rewards, values: maskedValues, shift: v.shift, discount: v.discount }, { gamma, time: "seq", inner: "s" });
  const whitened = options.whiten === false ? g.advantages : whiten(g.advantages, v.mask);
  const discount = new Float64Array(seq * seq);
  for (let t = 0; t < seq; t++) for (let s = t; s < seq; s++) discount[t * seq + s] = (gamma * lambda) ** (s - t);
  const [r, raw, adv, ret] = evaluateAll([rewards, g.advantages, whitened, g.returns], {
    ppoScores: Float64Array.from(inputs.scores),
    ppoLogp: Float64Array.from(inputs.logp),
    ppoRefLogp: Float64Array.from(inputs.refLogp),
    ppoValues: Float64Array.from(inputs.values),
    ppoMask: Float64Array.from(inputs.mask),
    ppoLastIndex: Float64Array.from(inputs.lastIndex),
    ppoShift: shiftMatrix(seq),
    ppoDiscount: discount,
  });
  const masked = (x: Float64Array): Float64Array => x.map((value, i) => value * inputs.mask[i]);
  return { rewards: r.data, rawAdvantages: masked(raw.data), advantages: masked(adv.data), returns: masked(ret.data) };
}

/** One rollout batch, packed for the loss. */
export interface PpoRollout {
  readonly index: number;
  readonly problems: readonly ArithmeticProblem[];
  readonly packed: PackedSequences;
  /** Sampler log-probs at the response positions of `packed` (0 elsewhere): the old policy. */
  readonly oldLogp: Float32Array;
  readonly refLogp: Float32Array;
  /** Value model at rollout time, masked to response positions. */
  readonly oldValues: Float32Array;
  readonly scores: Float32Array;
  readonly advantages: PpoAdvantages;
  readonly texts: readonly string[];
  readonly stats: Record<string, number>;
}

/** `count` prompts of rollout `index`, drawn without replacement (seeded by purpose and index). */
export function drawProblems(problems: readonly ArithmeticProblem[], count: number, seed: number, purpose: string): ArithmeticProblem[] {
  if (count > problems.length) throw new RicciError(`${purpose}: ${count} prompts per rollout but only ${problems.length} problems`);
  const rng = makeRng(subSeed(seed, purpose));
  const pool = Array.from({ length: problems.length }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rng() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, count).map((i) => problems[i]);
}

/** Samples and scores rollout `index`: `await ppoRollout(config, policy, value, ref, train, opts, 0)`. */
export async function ppoRollout(
  config: GptConfig,
  policy: Params,
  value: Params,
  reference: Params,
  problems: readonly ArithmeticProblem[],
  options: PpoTrainerOptions,
  index: number,
): Promise<PpoRollout> {
  const tok = options.tokenizer ?? charTokenizer;
  const maxNewTokens = options.maxNewTokens ?? 7;
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0)) throw new RicciError(`ppo: temperature must be positive, got ${temperature}`);
  const seed = options.seed ?? 0;
  const batch = options.rolloutBatch;
  const chosen = drawProblems(problems, batch, seed, `ppo/prompts/${index}`);
  const prompts = chosen.map((p) => encodePrompt(p.prompt, tok));
  const rollout = await generate(config, policy, prompts, {
    maxNewTokens, temperature, stopTokens: [tok.eosId], padToken: tok.padId, seed: subSeed(seed, `ppo/sample/${index}`),
  });
  const responses = responsesOf(rollout);
  // Packed to the longest row: the loss, values and log-probs never read past it.
  const packed = packSequences(prompts, responses, packedLength(prompts, responses, config.context), tok.padId);
  // The reference is scored at the sampling temperature, like the policy in the loss (TRL).
  const oldLogp = rolloutLogprobs(packed, prompts, rollout);
  const refLogp = scoreLogprobs(policyGraph(config, batch, packed.context, temperature), reference, packed);
  const oldValues = scoreValues(config, value, packed).map((x, i) => x * packed.responseMask[i]);
  const texts = responses.map((ids) => tok.decode(ids));
  const scores = Float32Array.from(await options.reward(chosen, texts, responses));
  if (scores.length !== batch) throw new RicciError(`ppo: the reward function returned ${scores.length} scores for ${batch} responses`);
  // The final response token is the target at lastIndex − 1 (lastIndex is the last token's position).
  const lastIndex = Int32Array.from(packed.lastIndex, (i) => i - 1);
  const advantages = ppoAdvantages(
    { scores, logp: oldLogp, refLogp, values: oldValues, mask: packed.responseMask, lastIndex, batch, seq: packed.context },
    { klCoef: options.klCoef, klEstimator: options.klEstimator, gamma: options.gamma, lambda: options.lambda, whiten: options.whitenAdvantages },
  );
  let klSum = 0;
  for (let i = 0; i < oldLogp.length; i++) klSum += packed.responseMask[i] * (oldLogp[i] - refLogp[i]);
  const checks = chosen.map((p, r) => checkAnswer(p, texts[r]));
  const tokens = packed.responseMask.reduce((s, m) => s + m, 0);
  const maskedStats = (x: ArrayLike<number>): { mean: number; std: number } => {
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < x.length; i++) if (packed.responseMask[i] === 1) (s += x[i]), (s2 += x[i] * x[i]);
    const mean = s / Math.max(1, tokens);
    return { mean, std: Math.sqrt(Math.max(0, s2 / Math.max(1, tokens) - mean * mean)) };
  };
  const raw = maskedStats(advantages.rawAdvantages);
  return {
    index,
    problems: chosen,
    packed,
    oldLogp,
    refLogp,
    oldValues,
    scores,
    advantages,
    texts,
    stats: {
      rewardMean: meanOf(scores),
      rewardStd: stdOf(scores),
      // Named apart from the held-out metrics (accuracy, wellFormed) logged on the same line.
      rolloutCorrect: checks.filter((c) => c.correct).length / batch,
      rolloutWellFormed: checks.filter((c) => c.wellFormed).length / batch,
      kl: klSum / batch,
      nonScoreReward: -(options.klCoef ?? 0.05) * (klSum / batch),
      advantageMean: raw.mean,
      advantageStd: raw.std,
      returnMean: maskedStats(advantages.returns).mean,
      valueMean: maskedStats(oldValues).mean,
      responseLength: meanOf(rollout.lengths),
      truncated: rollout.finished.filter((f) => !f).length / batch,
    },
  };
}

/** Rows `rows` of a rollout as a minibatch. */
export function minibatchOf(rollout: PpoRollout, rows: readonly number[]): PpoMinibatch {
  const { packed } = rollout;
  const ctx = packed.context;
  const take = <T extends Int32Array | Float32Array>(src: T, make: (n: number) => T): T => {
    const out = make(rows.length * ctx);
    rows.forEach((r, i) => out.set(src.subarray(r * ctx, (r + 1) * ctx), i * ctx));
    return out;
  };
  const f32 = (n: number): Float32Array => new Float32Array(n);
  const i32 = (n: number): Int32Array => new Int32Array(n);
  return {
    packed: {
      tokens: take(packed.tokens, i32),
      targets: take(packed.targets, i32),
      responseMask: take(packed.responseMask, f32),
      lastIndex: Int32Array.from(rows, (r) => packed.lastIndex[r]),
      batch: rows.length,
      context: ctx,
    },
    oldLogp: take(rollout.oldLogp, f32),
    oldValues: take(rollout.oldValues, f32),
    advantages: take(Float32Array.from(rollout.advantages.advantages), f32),
    returns: take(Float32Array.from(rollout.advantages.returns), f32),
  };
}

export interface PpoTrainer {
  /** Rollout `index` (0-based), then epochs × minibatches updates of policy and value; returns the step's metrics. */
  iteration(index: number): Promise<Record<string, number>>;
  /** The objective for rollouts packed to `seq` positions (built on first use, then cached). */
  objectiveFor(seq: number): PpoObjective;
  lastRollout(): PpoRollout | null;
}

/**
 * PPO over `policy` and `value` (updated in place by their optimizers); `reference` stays frozen.
 * Iteration k depends only on (seed, k) and the current weights, so a run resumed at an
 * iteration boundary repeats exactly. `await ppoTrainer(...).iteration(0)`. With `lora`
 * (src/nn/lora.ts), `policy` must be `lora.merged` (what the rollouts are sampled from), the
 * policy optimizer covers `lora.adapters`, and the caller refreshes the merged weights after each
 * iteration (`loraTrainer`); the minibatch updates read base and adapters, never the merged copy.
 */
export function ppoTrainer(
  config: GptConfig,
  models: { policy: Params; value: Params; reference: Params },
  optimizers: { policy: AdamW; value: AdamW },
  problems: readonly ArithmeticProblem[],
  options: PpoTrainerOptions,
  lora?: LoraModel,
): PpoTrainer {
  if (lora !== undefined && models.policy !== lora.merged) throw new RicciError("ppo: with LoRA, the policy sampled from must be the LoRA model's merged weights");
  const minibatches = options.minibatches ?? 2;
  const epochs = options.epochs ?? 4;
  const clipNorm = options.clipNorm ?? 1;
  if (!Number.isInteger(minibatches) || minibatches < 1 || options.rolloutBatch % minibatches !== 0) {
    throw new RicciError(`ppo: rolloutBatch ${options.rolloutBatch} must split into ${minibatches} equal minibatches`);
  }
  if (!Number.isInteger(epochs) || epochs < 1) throw new RicciError(`ppo: epochs must be a positive integer, got ${epochs}`);
  const size = options.rolloutBatch / minibatches;
  // One compiled objective per packed length (a handful: prompts differ by a token or two, answers by a few).
  const objectives = new Map<number, PpoObjective>();
  const objectiveFor = (seq: number): PpoObjective => {
    let built = objectives.get(seq);
    if (built === undefined) objectives.set(seq, (built = ppoObjective(config, size, options, seq, lora?.lora ?? null)));
    return built;
  };
  let current: PpoRollout | null = null;
  const update = (optimizer: AdamW, grads: Params): number => {
    const { grads: clipped, norm } = clipNorm > 0 ? clipByGlobalNorm(grads, clipNorm) : { grads, norm: Number.NaN };
    if (Number.isFinite(norm) || clipNorm === 0) optimizer.step(clipped);
    if (clipped !== grads) Object.values(clipped).forEach((t) => t.dispose());
    return norm;
  };
  return {
    objectiveFor,
    lastRollout: () => current,
    async iteration(index) {
      const { policy, value, reference } = models;
      current = await ppoRollout(config, policy, value, reference, problems, options, index);
      const built = objectiveFor(current.packed.context);
      const sums: Record<string, number> = {};
      const add = (k: string, v: number): void => {
        sums[k] = (sums[k] ?? 0) + v;
      };
      const rows = Array.from({ length: options.rolloutBatch }, (_, i) => i);
      for (let epoch = 0; epoch < epochs; epoch++) {
        const order = shuffled(rows, makeRng(subSeed(options.seed ?? 0, `ppo/minibatches/${index}/${epoch}`)));
        for (let m = 0; m < minibatches; m++) {
          const result = built.run(lora === undefined ? policy : lora.inputs(), value, minibatchOf(current, order.slice(m * size, (m + 1) * size)));
          add("loss", result.loss);
          for (const [k, v] of Object.entries(result.metrics)) add(k, v);
          add("policyGradNorm", update(optimizers.policy, result.policyGrads));
          add("valueGradNorm", update(optimizers.value, result.valueGrads));
          Object.values(result.policyGrads).forEach((t) => t.dispose());
          Object.values(result.valueGrads).forEach((t) => t.dispose());
        }
      }
      const updates = epochs * minibatches;
      const averaged = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / updates]));
      return { ...averaged, ...current.stats, updates: optimizers.policy.stepCount };
    },
  };
}
