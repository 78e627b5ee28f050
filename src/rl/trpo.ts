/**
 * TRPO trainer (Schulman et al. 2015) on the arithmetic task: maximise the importance-weighted
 * surrogate mean(π/π_old · A) subject to mean KL(π_old ‖ π) ≤ δ, by a natural-gradient step.
 *
 *   g = ∇ surrogate at θ_old;  x ≈ (F + λI)⁻¹ g by conjugate gradient (10 iterations, λ = 0.1),
 *   where F·v is the Hessian of the KL at θ_old times v — ricci's own second derivative:
 *   F·v = grad(Σ_W ⟨grad(kl, W), V_W⟩, θ) with one tangent variable V_W per parameter tensor,
 *   one compiled expression called once per CG iteration;
 *   full step β·x with β = √(2δ / xᵀ(F + λI)x) (the quadratic model's KL is then δ), F·x taken
 *   on every row of the batch even when CG solved on a subsample (`fisherBatch`);
 *   backtracking line search: halve up to 10 times, accept the first step whose MEASURED KL
 *   (the same mean KL, evaluated at the candidate) is ≤ δ and whose surrogate improves by at
 *   least acceptRatio (0.1, Schulman's) of the improvement the linear model predicts for it; if
 *   none does, the policy is left unchanged. With `confirmOnFreshBatch`, a step must also raise
 *   the surrogate of a second, independently sampled batch: a step that fits only its own
 *   batch's sampling noise is skipped. Every step logs the KL of the full proposed step (accepted
 *   or not) and the cosine between successive proposed directions.
 *
 * Advantages (a documented choice): rule rewards with a per-prompt group baseline — G samples
 * of each prompt, A = r − mean of its group's rewards (no std scaling: TRPO's step size comes
 * from δ, not from the advantages' scale), the sequence's advantage on each of its tokens. No
 * value network is needed, so the trainer stays a pure policy-space method.
 */
import { type ArithmeticProblem, checkAnswer, encodePrompt } from "../data/arithmetic.js";
import { type Tokenizer, charTokenizer } from "../data/tokenizer.js";
import { add, dot, variable } from "../dsl/build.js";
import { RicciError } from "../errors.js";
import type { Expr, Variable } from "../dsl/expr.js";
import { grad } from "../autodiff/transforms.js";
import { trpoObjective } from "../losses/trpo.js";
import { tf } from "../lower/backend.js";
import { type Compiled, compile } from "../lower/compile.js";
import type { GptConfig } from "../nn/gpt.js";
import type { Params } from "../nn/params.js";
import { generate } from "../sample/generate.js";
import { subSeed } from "../util/random.js";
import { meanOf, stdOf } from "../util/stats.js";
import { type PolicyGraph, policyGraph } from "./policy.js";
import { drawProblems, ruleRewardFunction, type RewardFunction } from "./ppo.js";
import { type PackedSequences, packSequences, responsesOf, samplerLogprobs, selectRows } from "./sequences.js";

export interface TrpoTrainerOptions {
  readonly promptsPerStep: number;
  /** Samples per prompt (G ≥ 2, for the group baseline). */
  readonly groupSize: number;
  /** Trust region δ: the largest mean KL(π_old ‖ π) per token a step may take. Default 0.01. */
  readonly maxKl?: number;
  readonly cgIterations?: number;
  /** λ in (F + λI)x = g. Default 0.1. */
  readonly damping?: number;
  /**
   * Sequences the Fisher-vector products average over: every (batch / fisherBatch)-th row of
   * the rollout (as Schulman's TRPO code subsamples them), so conjugate gradient, a dozen
   * second-order passes per step, costs that many rows while the gradient, the step's length
   * (one product on every row), the KL bound and the line search use them all. Default: the
   * whole batch.
   */
  readonly fisherBatch?: number;
  /** Halvings tried by the line search. Default 10. */
  readonly backtrackSteps?: number;
  /** Least fraction of the predicted surrogate improvement a step must realise (Schulman's accept_ratio). Default 0.1. */
  readonly acceptRatio?: number;
  /**
   * Also sample a second batch (fresh prompts, the same P × G) each step and accept a step only
   * if it raises that batch's surrogate too: the check that a step's predicted improvement is
   * signal, not the noise of the batch it was fitted on. Doubles the sampling. Default false.
   */
  readonly confirmOnFreshBatch?: boolean;
  readonly maxNewTokens?: number;
  readonly reward?: RewardFunction;
  readonly seed?: number;
  readonly tokenizer?: Tokenizer;
}

// ---------------------------------------------------------------------------------------------
// Conjugate gradient and the line search: plain functions of numbers, tested on their own.

export interface CgResult {
  readonly x: Float64Array;
  /** ‖b − A·x‖ by CG's own recursion. */
  readonly residualNorm: number;
  readonly iterations: number;
}

const dotOf = (a: Float64Array, b: Float64Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** Solves A·x = b for symmetric positive-definite A given as a product: `conjugateGradient((v) => Av(v), b, { iterations: 10 })`. */
export function conjugateGradient(apply: (v: Float64Array) => Float64Array, b: Float64Array, options: { iterations?: number; tolerance?: number } = {}): CgResult {
  const iterations = options.iterations ?? 10;
  const tolerance = options.tolerance ?? 1e-10;
  const x = new Float64Array(b.length);
  const r = Float64Array.from(b);
  const p = Float64Array.from(b);
  let rr = dotOf(r, r);
  const stop = tolerance * Math.sqrt(rr);
  let done = 0;
  while (done < iterations && Math.sqrt(rr) > stop && rr > 0) {
    const ap = apply(p);
    const alpha = rr / dotOf(p, ap);
    for (let i = 0; i < x.length; i++) {
      x[i] += alpha * p[i];
      r[i] -= alpha * ap[i];
    }
    const next = dotOf(r, r);
    for (let i = 0; i < p.length; i++) p[i] = r[i] + (next / rr) * p[i];
    rr = next;
    done++;
  }
  return { x, residualNorm: Math.sqrt(rr), iterations: done };
}

export interface LineSearchResult {
  readonly accepted: boolean;
  /** The accepted fraction of the full step (0 when rejected). */
  readonly fraction: number;
  /** Halvings before acceptance (the number tried when rejected). */
  readonly halvings: number;
  /** Measured KL and surrogate improvement at the accepted step (at the last tried when rejected). */
  readonly kl: number;
  readonly improvement: number;
  /** Measured KL of the full step (fraction 1), whatever was accepted. */
  readonly proposedKl: number;
}

export interface LineSearchOptions {
  readonly maxKl: number;
  readonly surrogateBefore: number;
  /** Halvings tried. Default 10. */
  readonly steps?: number;
  /** The linear model's improvement for the full step (g·step); fraction f is predicted f times it. Default 0 (no ratio test). */
  readonly expectedImprovement?: number;
  /** Least fraction of the predicted improvement to realise. Default 0.1. */
  readonly acceptRatio?: number;
  /** A further test of a candidate that passed the others (e.g. on a fresh batch). */
  readonly confirm?: (fraction: number) => boolean;
}

/**
 * Backtracking on the fraction 1, ½, ¼, … of the full step: accepts the first fraction whose
 * measured KL is ≤ maxKl, whose surrogate is above `surrogateBefore` by at least acceptRatio of
 * the predicted improvement, and which `confirm` accepts.
 * `lineSearch((f) => measure(θ + f·step), { maxKl: 0.01, surrogateBefore: s0, expectedImprovement: g·step })`.
 */
export function lineSearch(measure: (fraction: number) => { kl: number; surrogate: number }, options: LineSearchOptions): LineSearchResult {
  const steps = options.steps ?? 10;
  const ratio = options.acceptRatio ?? 0.1;
  const expected = options.expectedImprovement ?? 0;
  let last = { kl: Number.NaN, improvement: Number.NaN };
  let proposedKl = Number.NaN;
  for (let k = 0; k < steps; k++) {
    const fraction = 0.5 ** k;
    const { kl, surrogate } = measure(fraction);
    if (k === 0) proposedKl = kl;
    const improvement = surrogate - options.surrogateBefore;
    last = { kl, improvement };
    const realised = improvement > 0 && improvement >= ratio * fraction * expected;
    if (Number.isFinite(kl) && kl <= options.maxKl && realised && (options.confirm?.(fraction) ?? true)) {
      return { accepted: true, fraction, halvings: k, kl, improvement, proposedKl };
    }
  }
  return { accepted: false, fraction: 0, halvings: steps, ...last, proposedKl };
}

// ---------------------------------------------------------------------------------------------
// The compiled pieces: surrogate gradient, Fisher-vector product, trial surrogate and KL.

/** Flat float64 views of a parameter record (in `names` order) and back. */
export interface ParamLayout {
  readonly names: readonly string[];
  readonly shapes: readonly (readonly number[])[];
  readonly size: number;
  flatten(params: Params): Float64Array;
  /** Tensors for `flat`; with `base`, base + scale·flat. */
  unflatten(flat: Float64Array, base?: Params, scale?: number): Params;
}

export function paramLayout(vars: readonly Variable[]): ParamLayout {
  const names = vars.map((v) => v.name);
  const shapes = vars.map((v) => v.edges.map((e) => e.size));
  const sizes = shapes.map((s) => s.reduce((a, b) => a * b, 1));
  const size = sizes.reduce((a, b) => a + b, 0);
  return {
    names,
    shapes,
    size,
    flatten(params) {
      const out = new Float64Array(size);
      let at = 0;
      names.forEach((n, i) => {
        out.set(params[n].dataSync(), at);
        at += sizes[i];
      });
      return out;
    },
    unflatten(flat, base, scale = 1) {
      const out: Params = {};
      let at = 0;
      names.forEach((n, i) => {
        const part = Float32Array.from(flat.subarray(at, at + sizes[i]));
        at += sizes[i];
        out[n] = base === undefined ? tf.tensor(part, [...shapes[i]]) : tf.tidy(() => tf.add(base[n], tf.mul(tf.tensor(part, [...shapes[i]]), scale)));
      });
      return out;
    },
  };
}

export interface TrpoGraph {
  readonly graph: PolicyGraph;
  readonly layout: ParamLayout;
  /** Surrogate and KL with the old policy at the current point (stopGradient(logits)). */
  readonly surrogate: Expr;
  readonly kl: Expr;
  /** Fisher-vector product expressions, one per parameter, reading tangents `tangent.<name>`. */
  readonly fisherVector: Readonly<Record<string, Expr>>;
  readonly tangents: readonly Variable[];
  /** Surrogate and KL at the current parameters against fed old logits (`oldLogits`). */
  readonly trialSurrogate: Expr;
  readonly trialKl: Expr;
  readonly oldLogits: Variable;
  readonly advantages: Variable;
}

/** TRPO's expressions for batches of `batch` packed sequences. */
export function trpoGraph(config: GptConfig, batch: number): TrpoGraph {
  const graph = policyGraph(config, batch);
  const advantages = variable("advantages", { batch, seq: config.context });
  const oldLogits = variable("oldLogits", Object.fromEntries(graph.logits.edges.map((e) => [e.name, e.size])));
  const atCurrent = trpoObjective({ logits: graph.logits, actions: graph.targets, advantages, mask: graph.mask });
  const trial = trpoObjective({ logits: graph.logits, actions: graph.targets, advantages, mask: graph.mask, oldLogits });
  const params = graph.parameters;
  const tangents = params.map((w) => variable(`tangent.${w.name}`, Object.fromEntries(w.edges.map((e) => [e.name, e.size]))));
  // F·v = ∇_θ ⟨∇_θ kl, v⟩: one reverse sweep over the (symbolic) gradient, all parameters jointly.
  const klGrads = grad(atCurrent.kl, params);
  const directional = add(...klGrads.map((g, i) => dot(g, tangents[i])));
  const fv = grad(directional, params);
  return {
    graph,
    layout: paramLayout(params),
    surrogate: atCurrent.surrogate,
    kl: atCurrent.kl,
    fisherVector: Object.fromEntries(params.map((w, i) => [w.name, fv[i]])),
    tangents,
    trialSurrogate: trial.surrogate,
    trialKl: trial.kl,
    oldLogits,
    advantages,
  };
}

/** The compiled TRPO pieces bound to a batch's data. */
export interface TrpoKernels {
  readonly graph: TrpoGraph;
  /** Whether `fisherVector` averages over a subsample of the batch's rows (fisherBatch < batch). */
  readonly subsampled: boolean;
  /** ∇ surrogate at `params`, flat. */
  gradient(params: Params, data: TrpoData): Float64Array;
  /** F·v at `params` (undamped), flat, on the Fisher's rows (the subsample when fisherBatch < batch): what conjugate gradient solves with. */
  fisherVector(params: Params, data: TrpoData, v: Float64Array): Float64Array;
  /** F·v on every row of the batch: the curvature the step's length is set by (the same as `fisherVector` without a subsample). */
  fullFisherVector(params: Params, data: TrpoData, v: Float64Array): Float64Array;
  /** Logits at `params` (the old policy for the line search); the caller disposes. */
  logits(params: Params, data: TrpoData): tf.Tensor;
  /** Surrogate and KL(π_old ‖ π_params) against `oldLogits`. */
  trial(params: Params, data: TrpoData, oldLogits: tf.Tensor): { surrogate: number; kl: number };
}

export interface TrpoData {
  readonly packed: PackedSequences;
  /** Per-token advantages {batch, seq} (0 off the response). */
  readonly advantages: Float32Array;
}

/**
 * Compiles TRPO's expressions once: `trpoKernels(config, 64).fisherVector(params, data, v)`;
 * `trpoKernels(config, 256, 64)` takes Fisher-vector products on 64 of the 256 rows.
 */
export function trpoKernels(config: GptConfig, batch: number, fisherBatch: number = batch): TrpoKernels {
  if (!(Number.isInteger(fisherBatch) && fisherBatch >= 1 && fisherBatch <= batch)) {
    throw new RicciError(`trpo: fisherBatch must be an integer in 1…${batch} (the batch), got ${fisherBatch}`);
  }
  const g = trpoGraph(config, batch);
  const names = g.layout.names;
  const gradients = grad(g.surrogate, g.graph.parameters);
  const gradRun: Compiled<string> = compile(Object.fromEntries(names.map((n, i) => [n, gradients[i]])));
  const fisherGraph = fisherBatch === batch ? g : trpoGraph(config, fisherBatch);
  const fisherRows = Array.from({ length: fisherBatch }, (_, i) => Math.floor((i * batch) / fisherBatch));
  // The subsample of a rollout, cut once: conjugate gradient asks for a dozen products on it.
  const subsamples = new WeakMap<TrpoData, TrpoData>();
  const fisherData = (data: TrpoData): TrpoData => {
    if (fisherBatch === batch) return data;
    let sub = subsamples.get(data);
    if (sub === undefined) {
      const advantages = new Float32Array(fisherBatch * config.context);
      fisherRows.forEach((r, i) => advantages.set(data.advantages.subarray(r * config.context, (r + 1) * config.context), i * config.context));
      sub = { packed: selectRows(data.packed, fisherRows), advantages };
      subsamples.set(data, sub);
    }
    return sub;
  };
  const fvRun: Compiled<string> = compile(fisherGraph.fisherVector);
  const fullFvRun: Compiled<string> = fisherBatch === batch ? fvRun : compile(g.fisherVector);
  const logitsRun: Compiled<"logits"> = compile({ logits: g.graph.logits });
  const trialRun: Compiled<"surrogate" | "kl"> = compile({ surrogate: g.trialSurrogate, kl: g.trialKl });
  const inputsOf = (data: TrpoData): Record<string, Int32Array | Float32Array | Float64Array> => ({ ...g.graph.inputs(data.packed), advantages: data.advantages });
  const flatOut = (out: Record<string, tf.Tensor>): Float64Array => {
    const flat = new Float64Array(g.layout.size);
    let at = 0;
    for (const n of names) {
      const values = out[n].dataSync();
      flat.set(values, at);
      at += values.length;
      out[n].dispose();
    }
    return flat;
  };
  const fisherProduct = (run: Compiled<string>, graph: TrpoGraph, params: Params, data: TrpoData, v: Float64Array): Float64Array => {
    const tangents = g.layout.unflatten(v);
    const named = Object.fromEntries(names.map((n) => [`tangent.${n}`, tangents[n]]));
    try {
      return flatOut(run.runSync({ ...graph.graph.inputs(data.packed), advantages: data.advantages, ...params, ...named }));
    } finally {
      Object.values(tangents).forEach((t) => t.dispose());
    }
  };
  return {
    graph: g,
    subsampled: fisherBatch < batch,
    gradient: (params, data) => flatOut(gradRun.runSync({ ...inputsOf(data), ...params })),
    fisherVector(params, data, v) {
      const sub = fisherData(data);
      return fisherProduct(fvRun, fisherGraph, params, sub, v);
    },
    fullFisherVector: (params, data, v) => fisherProduct(fullFvRun, g, params, data, v),
    logits(params, data) {
      return logitsRun.runSync({ ...inputsOf(data), ...params }).logits;
    },
    trial(params, data, oldLogits) {
      const out = trialRun.runSync({ ...inputsOf(data), ...params, oldLogits });
      const result = { surrogate: out.surrogate.dataSync()[0], kl: out.kl.dataSync()[0] };
      out.surrogate.dispose();
      out.kl.dispose();
      return result;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Rollouts and the step.

export interface TrpoRollout {
  readonly index: number;
  readonly data: TrpoData;
  readonly rewards: Float32Array;
  /** Per-sequence advantages r − group mean. */
  readonly sequenceAdvantages: Float64Array;
  readonly texts: readonly string[];
  readonly stats: Record<string, number>;
}

/** r − mean of its group, for rewards laid out [group][sample]: `groupBaseline([1, 0, 0, 0], 4)` = [0.75, −0.25, −0.25, −0.25]. */
export function groupBaseline(rewards: ArrayLike<number>, groupSize: number): Float64Array {
  if (rewards.length % groupSize !== 0) throw new RicciError(`groupBaseline: ${rewards.length} rewards do not split into groups of ${groupSize}`);
  const out = new Float64Array(rewards.length);
  for (let g = 0; g < rewards.length; g += groupSize) {
    let mean = 0;
    for (let i = 0; i < groupSize; i++) mean += rewards[g + i] / groupSize;
    for (let i = 0; i < groupSize; i++) out[g + i] = rewards[g + i] - mean;
  }
  return out;
}

/**
 * Samples rollout `index`: P prompts × G completions at temperature 1, rewards and group-baseline
 * advantages. The "fresh" batch of the same index draws other prompts and samples.
 */
export async function trpoRollout(
  config: GptConfig,
  params: Params,
  problems: readonly ArithmeticProblem[],
  options: TrpoTrainerOptions,
  index: number,
  purpose: "step" | "fresh" = "step",
): Promise<TrpoRollout> {
  const { promptsPerStep: P, groupSize: G } = options;
  const tok = options.tokenizer ?? charTokenizer;
  const maxNewTokens = options.maxNewTokens ?? 7;
  const seed = options.seed ?? 0;
  const tag = purpose === "step" ? "" : `/${purpose}`;
  const chosen = drawProblems(problems, P, seed, `trpo/prompts/${index}${tag}`);
  const rows = chosen.flatMap((p) => Array.from({ length: G }, () => p));
  const prompts = rows.map((p) => encodePrompt(p.prompt, tok));
  const rollout = await generate(config, params, prompts, {
    maxNewTokens, temperature: 1, stopTokens: [tok.eosId], padToken: tok.padId, seed: subSeed(seed, `trpo/sample/${index}${tag}`),
  });
  const responses = responsesOf(rollout);
  const packed = packSequences(prompts, responses, config.context, tok.padId);
  const texts = responses.map((ids) => tok.decode(ids));
  const rewards = Float32Array.from(await (options.reward ?? ruleRewardFunction())(rows, texts, responses));
  const sequenceAdvantages = groupBaseline(rewards, G);
  const ctx = config.context;
  const advantages = new Float32Array(rows.length * ctx);
  for (let i = 0; i < advantages.length; i++) advantages[i] = packed.responseMask[i] * sequenceAdvantages[Math.floor(i / ctx)];
  const checks = rows.map((p, r) => checkAnswer(p, texts[r]));
  let flat = 0;
  for (let g = 0; g < P; g++) if (sequenceAdvantages.subarray(g * G, (g + 1) * G).every((a) => Math.abs(a) < 1e-12)) flat++;
  // The sampler's log-probs are kept only for diagnostics: the line search compares exact
  // distributions (old logits), not sampled log-probs.
  const sampled = samplerLogprobs(prompts, rollout.logprobs, rollout.lengths, maxNewTokens, ctx);
  let logpSum = 0;
  for (let i = 0; i < sampled.length; i++) logpSum += sampled[i];
  return {
    index,
    data: { packed, advantages },
    rewards,
    sequenceAdvantages,
    texts,
    stats: {
      rewardMean: meanOf(rewards),
      rewardStd: stdOf(rewards),
      rolloutCorrect: checks.filter((c) => c.correct).length / rows.length,
      rolloutWellFormed: checks.filter((c) => c.wellFormed).length / rows.length,
      responseLength: meanOf(rollout.lengths),
      sampledLogp: logpSum / rows.length,
      zeroStdGroups: flat / P,
    },
  };
}

/** What one TRPO step did. */
export interface TrpoStepInfo {
  readonly accepted: boolean;
  readonly surrogateImprovement: number;
  readonly expectedImprovement: number;
  /** Measured KL of the accepted step (0 when none was). */
  readonly kl: number;
  /** Measured KL of the full proposed step, accepted or not (what the trust-region check bounds by 1.5δ). */
  readonly proposedKl: number;
  /** Surrogate improvement of the accepted step on the fresh batch (confirmOnFreshBatch; else NaN). */
  readonly freshImprovement: number;
  readonly klBound: number;
  readonly lineSearchSteps: number;
  readonly stepFraction: number;
  readonly gradNorm: number;
  /** ‖(F + λI)x − g‖ / ‖g‖ after CG. */
  readonly cgResidual: number;
  readonly stepNorm: number;
  /** The natural-gradient direction x ≈ (F + λI)⁻¹g (null when no step was proposed). */
  readonly direction: Float64Array | null;
  /** The surrogate's gradient g. */
  readonly gradient: Float64Array;
}

export interface TrpoStepOptions extends Pick<TrpoTrainerOptions, "maxKl" | "cgIterations" | "damping" | "backtrackSteps" | "acceptRatio"> {
  /** A second, independently sampled batch whose surrogate the step must raise too. */
  readonly fresh?: TrpoData;
}

/**
 * One natural-gradient step of `params` (replaced in place on acceptance) on a batch:
 * `trpoStep(kernels, params, data, { maxKl: 0.01 })`.
 */
export function trpoStep(kernels: TrpoKernels, params: Params, data: TrpoData, options: TrpoStepOptions = {}): TrpoStepInfo {
  const maxKl = options.maxKl ?? 0.01;
  const damping = options.damping ?? 0.1;
  const g = kernels.gradient(params, data);
  const gradNorm = Math.sqrt(dotOf(g, g));
  const rejected = (extra: Partial<TrpoStepInfo>): TrpoStepInfo => ({
    accepted: false, surrogateImprovement: 0, expectedImprovement: 0, kl: 0, proposedKl: 0, freshImprovement: Number.NaN, klBound: maxKl, lineSearchSteps: 0, stepFraction: 0,
    gradNorm, cgResidual: Number.NaN, stepNorm: 0, direction: null, gradient: g, ...extra,
  });
  if (!(gradNorm > 0) || !Number.isFinite(gradNorm)) return rejected({}); // e.g. every group's rewards equal: no signal
  // (F + λI)·v with F on the given rows: the subsample CG solves on, or every row.
  const dampedWith = (product: TrpoKernels["fisherVector"]) => (v: Float64Array): Float64Array => {
    const fv = product(params, data, v);
    for (let i = 0; i < fv.length; i++) fv[i] += damping * v[i];
    return fv;
  };
  const damped = dampedWith(kernels.fisherVector);
  const cg = conjugateGradient(damped, g, { iterations: options.cgIterations ?? 10 });
  const fx = damped(cg.x);
  let residual = 0;
  for (let i = 0; i < g.length; i++) residual += (fx[i] - g[i]) ** 2;
  // The step's length comes from the curvature on every row, even when CG solved on a subsample:
  // a subsample's Fisher is nearly flat along directions its few rows do not span, and a step
  // scaled by it overshoots the trust region (measured: 8.2δ with 64 of 256 rows).
  const fullFx = kernels.subsampled ? dampedWith(kernels.fullFisherVector)(cg.x) : fx;
  const quadratic = dotOf(cg.x, fullFx);
  if (!(quadratic > 0)) return rejected({ cgResidual: Math.sqrt(residual) / gradNorm });
  const beta = Math.sqrt((2 * maxKl) / quadratic);
  const expectedImprovement = beta * dotOf(g, cg.x);
  const oldLogits = kernels.logits(params, data);
  // The fresh batch with its own old logits (the line search's KL and ratios are against them).
  const fresh = options.fresh === undefined ? null : { data: options.fresh, oldLogits: kernels.logits(params, options.fresh) };
  let freshImprovement = Number.NaN;
  try {
    const before = kernels.trial(params, data, oldLogits).surrogate;
    const freshBefore = fresh === null ? Number.NaN : kernels.trial(params, fresh.data, fresh.oldLogits).surrogate;
    const atFraction = <T>(fraction: number, use: (candidate: Params) => T): T => {
      const candidate = kernels.graph.layout.unflatten(cg.x, params, fraction * beta);
      try {
        return use(candidate);
      } finally {
        Object.values(candidate).forEach((t) => t.dispose());
      }
    };
    const confirm = fresh === null ? undefined : (fraction: number): boolean => {
      freshImprovement = atFraction(fraction, (candidate) => kernels.trial(candidate, fresh.data, fresh.oldLogits).surrogate) - freshBefore;
      return freshImprovement > 0;
    };
    const search = lineSearch((fraction) => atFraction(fraction, (candidate) => kernels.trial(candidate, data, oldLogits)), {
      maxKl, surrogateBefore: before, steps: options.backtrackSteps ?? 10, expectedImprovement, acceptRatio: options.acceptRatio, confirm,
    });
    if (search.accepted) {
      const next = kernels.graph.layout.unflatten(cg.x, params, search.fraction * beta);
      for (const n of kernels.graph.layout.names) {
        params[n].dispose();
        params[n] = next[n];
      }
    }
    return {
      accepted: search.accepted,
      surrogateImprovement: search.accepted ? search.improvement : 0,
      expectedImprovement: search.fraction * expectedImprovement,
      kl: search.accepted ? search.kl : 0,
      proposedKl: search.proposedKl,
      freshImprovement: search.accepted ? freshImprovement : Number.NaN,
      klBound: maxKl,
      lineSearchSteps: search.halvings,
      stepFraction: search.fraction,
      gradNorm,
      cgResidual: Math.sqrt(residual) / gradNorm,
      stepNorm: search.fraction * beta * Math.sqrt(dotOf(cg.x, cg.x)),
      direction: cg.x,
      gradient: g,
    };
  } finally {
    oldLogits.dispose();
    fresh?.oldLogits.dispose();
  }
}

const cosine = (a: Float64Array, b: Float64Array): number => dotOf(a, b) / Math.sqrt(dotOf(a, a) * dotOf(b, b));

export interface TrpoTrainer {
  /** Rollout `index` (0-based) and one TRPO step; returns the step's metrics. */
  iteration(index: number): Promise<Record<string, number>>;
  readonly kernels: TrpoKernels;
  lastRollout(): TrpoRollout | null;
}

/** TRPO over `params` (replaced in place): `await trpoTrainer(config, params, train, opts).iteration(0)`. */
export function trpoTrainer(config: GptConfig, params: Params, problems: readonly ArithmeticProblem[], options: TrpoTrainerOptions): TrpoTrainer {
  if (!Number.isInteger(options.groupSize) || options.groupSize < 2) throw new RicciError(`trpo: groupSize must be an integer ≥ 2, got ${options.groupSize}`);
  const kernels = trpoKernels(config, options.promptsPerStep * options.groupSize, options.fisherBatch);
  let current: TrpoRollout | null = null;
  // The last proposed direction, for the cosine between successive steps (1: the steps agree;
  // near 0: each step follows its own batch's noise).
  let previous: Float64Array | null = null;
  let previousGradient: Float64Array | null = null;
  return {
    kernels,
    lastRollout: () => current,
    async iteration(index) {
      current = await trpoRollout(config, params, problems, options, index);
      const fresh = options.confirmOnFreshBatch ? (await trpoRollout(config, params, problems, options, index, "fresh")).data : undefined;
      const { direction, gradient, ...info } = trpoStep(kernels, params, current.data, { ...options, fresh });
      const stepCosine = direction === null || previous === null ? Number.NaN : cosine(direction, previous);
      const gradCosine = previousGradient === null ? Number.NaN : cosine(gradient, previousGradient);
      if (direction !== null) previous = direction;
      previousGradient = gradient;
      return { ...current.stats, ...info, accepted: info.accepted ? 1 : 0, stepCosine, gradCosine };
    },
  };
}
