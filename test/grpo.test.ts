/**
 * The GRPO trainer and stage: advantages of flat groups are exactly 0 and keep NaN out of the
 * gradients; the compiled loss gradient matches float64 central differences on a tiny GPT for
 * one packed rollout (ratios away from 1, some clipped, reference ≠ policy; at T = 1 and 0.7);
 * the sampler's log-probs land on the right packed positions; at T ≠ 1 the trained policy is
 * softmax(logits/T), checked against log-probs and entropy computed by hand; μ > 1 updates per
 * rollout move the ratio and the clip acts; dynamic sampling trains on informative groups only
 * and logs the tied fraction before filtering (checked against the reward's own calls); pass@k
 * against counting subsets; reruns are deterministic; a few steps raise a toy reward; the stage
 * runs end to end and resumes.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type ArithmeticProblem, arithmeticProblems, checkAnswer } from "../src/data/arithmetic.js";
import { charTokenizer } from "../src/data/tokenizer.js";
import { evaluate, initBackend } from "../src/index.js";
import type { GptConfig } from "../src/nn/gpt.js";
import { type Params, initGpt } from "../src/nn/params.js";
import { grpo } from "../src/pipeline/grpo.js";
import { SIZES } from "../src/pipeline/sizes.js";
import { type GrpoRollout, type GrpoTrainerOptions, groupAdvantages, grpoObjective, grpoRollout, grpoTrainer } from "../src/rl/grpo.js";
import { heldOutScore, passAtK } from "../src/rl/evaluate.js";
import { policyGraph, scoreLogprobs } from "../src/rl/policy.js";
import { packSequences, packedLength, toGrouped } from "../src/rl/sequences.js";
import { compile } from "../src/lower/compile.js";
import { tf } from "../src/lower/backend.js";
import { saveCheckpoint } from "../src/train/checkpoint.js";
import { trainLoop } from "../src/train/loop.js";
import { gradientTrainer } from "../src/train/trainer.js";
import { adamW } from "../src/train/optimizer.js";
import { relativeError } from "./helpers/oracle.js";

const tiny: GptConfig = { vocab: charTokenizer.vocabSize, context: 20, dModel: 8, heads: 2, layers: 1 };
const easy: ArithmeticProblem[] = arithmeticProblems({ operators: ["+"], digits: 2, trainSize: 200, testSize: 20 }).train;

beforeAll(async () => {
  await initBackend();
});

/** `params` with the unembedding scaled up, so the policy is far from uniform and temperature matters. */
const peaked = (params: Params, by = 30): Params => ({ ...params, unembed: tf.mul(params.unembed, by) });

const float64Of = (x: ArrayLike<number>): Float64Array => Float64Array.from(x as ArrayLike<number>);

async function paramsValues(params: Params): Promise<Record<string, Float64Array>> {
  const out: Record<string, Float64Array> = {};
  for (const [k, t] of Object.entries(params)) out[k] = float64Of(await t.data());
  return out;
}

describe("GRPO advantages", () => {
  it("are exactly 0 for groups of equal rewards, and z-scores by hand otherwise", () => {
    const flat = groupAdvantages([0.7, 0.7, 0.7, 1.1, 1.1, 1.1], 2, 3);
    expect(Array.from(flat)).toEqual([0, 0, 0, 0, 0, 0]);
    // [1, 0, 0, 0]: mean 0.25, unbiased std √(0.75/3) = 0.5, so (r − 0.25)/(0.5 + 1e-4).
    const z = groupAdvantages([1, 0, 0, 0], 1, 4);
    [0.75, -0.25, -0.25, -0.25].forEach((c, i) => expect(z[i]).toBeCloseTo(c / 0.5001, 12));
    const none = groupAdvantages([1, 0, 0, 0, 2, 2, 3, 5], 2, 4, "none");
    [0.75, -0.25, -0.25, -0.25, -1, -1, 0, 2].forEach((c, i) => expect(none[i]).toBeCloseTo(c, 12));
  });

  it("a rollout whose groups all tie gives finite loss and exactly zero policy gradient (β = 0)", async () => {
    const params = initGpt(tiny, 1);
    const options: GrpoTrainerOptions = { promptsPerStep: 2, groupSize: 3, maxNewTokens: 4, beta: 0, reward: () => 0.5, seed: 3 };
    const rollout = await grpoRollout(tiny, params, params, easy, options, 0);
    expect(Array.from(rollout.advantages)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(rollout.stats.zeroStdGroups).toBe(1);
    const obj = grpoObjective(tiny, rollout.grouped, options);
    const out = obj.objective.run(params, obj.inputs(rollout));
    expect(Math.abs(out.loss)).toBe(0); // exactly zero (ONNX Runtime may give −0)
    for (const g of Object.values(out.grads)) {
      const values = await g.data();
      expect(values.every((v) => v === 0)).toBe(true);
      g.dispose();
    }
  });
});

describe("GRPO loss on a tiny GPT", () => {
  it("puts the sampler's log-probs on the response positions of the packed batch", async () => {
    const params = initGpt(tiny, 5);
    const options: GrpoTrainerOptions = { promptsPerStep: 2, groupSize: 4, maxNewTokens: 4, seed: 1 };
    const rollout = await grpoRollout(tiny, params, params, easy, options, 0);
    const scored = scoreLogprobs(policyGraph(tiny, 8, rollout.packed.context), params, rollout.packed);
    let responseTokens = 0;
    for (let i = 0; i < scored.length; i++) {
      if (rollout.packed.responseMask[i] === 1) {
        responseTokens++;
        expect(Math.abs(scored[i] - rollout.oldLogp[i])).toBeLessThan(1e-4);
        expect(Math.abs(rollout.refLogp[i] - rollout.oldLogp[i])).toBeLessThan(1e-4); // reference = policy here
      } else expect(rollout.oldLogp[i]).toBe(0);
    }
    expect(responseTokens).toBeGreaterThan(8);
  });

  it("packs a rollout to its longest row, where every row scores as it does at the full context", async () => {
    const params = initGpt(tiny, 5);
    const options: GrpoTrainerOptions = { promptsPerStep: 2, groupSize: 4, maxNewTokens: 4, seed: 1 };
    const rollout = await grpoRollout(tiny, params, params, easy, options, 0);
    const seq = rollout.packed.context;
    const rows = rollout.packed.batch;
    expect(seq).toBe(Math.max(...Array.from(rollout.packed.lastIndex)) + 1);
    expect(seq).toBeLessThan(tiny.context);
    const prompts = Array.from({ length: rows }, (_, r) => Array.from(rollout.packed.tokens.subarray(r * seq, r * seq + rollout.packed.lastIndex[r] + 1)));
    const full = packSequences(prompts, prompts.map(() => []), tiny.context, charTokenizer.padId);
    const atContext = scoreLogprobs(policyGraph(tiny, rows), params, full);
    const trimmed = scoreLogprobs(policyGraph(tiny, rows, seq), params, rollout.packed);
    for (let r = 0; r < rows; r++) {
      for (let t = 0; t < rollout.packed.lastIndex[r]; t++) expect(trimmed[r * seq + t]).toBeCloseTo(atContext[r * tiny.context + t], 5);
    }
    expect(() => packedLength([[1, 2, 3]], [[4, 5]], 4)).toThrow(/5 tokens, more than context 4/);
    expect(() => policyGraph(tiny, 2, tiny.context + 1)).toThrow(/seq must be an integer in 1…20/);
  });

  it("trains the tempered policy at T ≠ 1: the loss graph's log-probs are the sampler's, log softmax(logits/T) by hand, and so are the reference's", async () => {
    const T = 0.5;
    const params = peaked(initGpt(tiny, 5));
    const reference = peaked(initGpt(tiny, 6));
    const options: GrpoTrainerOptions = { promptsPerStep: 2, groupSize: 4, maxNewTokens: 4, seed: 1, temperature: T };
    const rollout = await grpoRollout(tiny, params, reference, easy, options, 0);
    const { packed } = rollout;
    const mask = packed.responseMask;
    // The oracle: raw (T = 1) logits of the packed rows, tempered and normalised in float64 here.
    const byHand = (p: Params): { logp: Float64Array; entropy: Float64Array; untempered: Float64Array } => {
      const graph = policyGraph(tiny, packed.batch, packed.context);
      expect(graph.logits.edges.map((e) => e.name)).toEqual(["batch", "seq", "vocab"]);
      const out = compile({ logits: graph.logits }).runSync({ ...graph.inputs(packed), ...p });
      const logits = out.logits.dataSync() as Float32Array;
      out.logits.dispose();
      const V = tiny.vocab;
      const logp = new Float64Array(mask.length);
      const entropy = new Float64Array(mask.length);
      const untempered = new Float64Array(mask.length);
      for (let i = 0; i < mask.length; i++) {
        const row = Array.from(logits.subarray(i * V, (i + 1) * V));
        const logSoftmax = (z: number[]): number[] => {
          const m = Math.max(...z);
          const lse = m + Math.log(z.reduce((s, x) => s + Math.exp(x - m), 0));
          return z.map((x) => x - lse);
        };
        const tempered = logSoftmax(row.map((x) => x / T));
        logp[i] = tempered[packed.targets[i]];
        entropy[i] = -tempered.reduce((s, l) => s + Math.exp(l) * l, 0);
        untempered[i] = logSoftmax(row)[packed.targets[i]];
      }
      return { logp, entropy, untempered };
    };
    const policyHand = byHand(params);
    const referenceHand = byHand(reference);
    let tokens = 0;
    let fromT1 = 0;
    for (let i = 0; i < mask.length; i++) {
      if (mask[i] === 0) continue;
      tokens++;
      expect(Math.abs(rollout.oldLogp[i] - policyHand.logp[i])).toBeLessThan(1e-4); // the sampler's own
      expect(Math.abs(rollout.refLogp[i] - referenceHand.logp[i])).toBeLessThan(1e-4); // the reference, tempered too
      fromT1 = Math.max(fromT1, Math.abs(policyHand.untempered[i] - policyHand.logp[i]));
    }
    expect(tokens).toBeGreaterThan(8);
    expect(fromT1).toBeGreaterThan(0.1); // the T = 1 log-probs (the old rescoring) are far from these

    // The loss graph at the first update: its log-probs are the sampler's, the ratio is 1.
    const obj = grpoObjective(tiny, rollout.grouped, options);
    const inputs = obj.inputs(rollout);
    const out = compile({ logp: obj.graph.logp }).runSync({ ...inputs, ...params });
    const trainerLogp = out.logp.dataSync() as Float32Array;
    out.logp.dispose();
    const oldGrouped = toGrouped(rollout.grouped, rollout.oldLogp);
    let compared = 0;
    rollout.grouped.responseMask.forEach((m, j) => {
      if (m === 0) return;
      compared++;
      expect(Math.abs(trainerLogp[j] - oldGrouped[j])).toBeLessThan(1e-4);
    });
    expect(compared).toBe(tokens);
    const { metrics } = obj.objective.evaluate(params, inputs);
    expect(metrics.approxKl).toBeLessThan(1e-8);
    expect(metrics.clipFraction).toBe(0);
    // Entropy: of softmax(logits/T), mean over the response tokens.
    let entropySum = 0;
    for (let i = 0; i < mask.length; i++) entropySum += mask[i] * policyHand.entropy[i];
    expect(metrics.entropy).toBeCloseTo(entropySum / tokens, 4);
    await expect(grpoRollout(tiny, params, params, easy, { ...options, temperature: 0 }, 0)).rejects.toThrow(/temperature must be positive/);
  });

  const gradientCases = [
    { aggregation: "sequence", temperature: 1 }, { aggregation: "token", temperature: 1 }, { aggregation: "drGrpo", temperature: 1 }, { aggregation: "sequence", temperature: 0.7 },
  ] as const;
  for (const { aggregation, temperature } of gradientCases) {
    it(`compiled gradient = float64 central differences (${aggregation} aggregation, T = ${temperature}, ratios clipped)`, async () => {
      const params = initGpt(tiny, 7);
      const reference = initGpt(tiny, 8);
      const options: GrpoTrainerOptions = { promptsPerStep: 2, groupSize: 3, maxNewTokens: 4, seed: 2, aggregation, temperature, epsilonHigh: 0.28 };
      const sampled = await grpoRollout(tiny, params, reference, easy, options, 0);
      // Move the old log-probs so ratios are e^{±0.1}, e^{±0.5}: two inside the clip range, two outside.
      const offsets = [-0.5, -0.1, 0.1, 0.5];
      const oldLogp = Float32Array.from(sampled.oldLogp, (v, i) => (sampled.packed.responseMask[i] === 1 ? v + offsets[i % 4] : v));
      const rollout: GrpoRollout = { ...sampled, oldLogp, advantages: groupAdvantages([1, 0, 0.1, 0, 1.1, 1], 2, 3) };
      const obj = grpoObjective(tiny, rollout.grouped, options);
      const compiled = obj.objective.run(params, obj.inputs(rollout));
      expect(compiled.metrics.clipFraction).toBeGreaterThan(0.2);
      expect(compiled.metrics.kl).toBeGreaterThan(0);

      const data = Object.fromEntries(Object.entries(obj.inputs(rollout)).map(([k, v]) => [k, float64Of(v)]));
      const inputs: Record<string, Float64Array> = { ...data, ...(await paramsValues(params)) };
      const loss64 = (): number => evaluate(obj.loss, inputs).data[0];
      expect(Math.abs(compiled.loss - loss64())).toBeLessThan(1e-5);
      const eps = 1e-5;
      let checked = 0;
      for (const name of ["embed", "layer0.wq", "layer0.wv", "layer0.w1", "layer0.w2", "normF", "unembed"]) {
        const x = inputs[name];
        const analytic = await compiled.grads[name].data();
        const picks = Array.from({ length: 5 }, (_, k) => Math.floor(((k * 7919 + 13) % 1000) / 1000 * x.length));
        // Embedding rows of tokens that occur: the response and prompt characters.
        if (name === "embed") picks.push(...[charTokenizer.encode("=")[0], charTokenizer.encode("1")[0]].map((id) => id * tiny.dModel + 3));
        const numeric: number[] = [];
        const fromCompiled: number[] = [];
        for (const i of picks) {
          const saved = x[i];
          x[i] = saved + eps;
          const plus = loss64();
          x[i] = saved - eps;
          const minus = loss64();
          x[i] = saved;
          numeric.push((plus - minus) / (2 * eps));
          fromCompiled.push(analytic[i]);
        }
        const scaleOf = Math.max(...numeric.map(Math.abs));
        expect(relativeError(fromCompiled.map((g) => g / Math.max(scaleOf, 1e-3)), numeric.map((g) => g / Math.max(scaleOf, 1e-3))), name).toBeLessThan(2e-3);
        checked += numeric.filter((g) => Math.abs(g) > 1e-6).length;
      }
      expect(checked).toBeGreaterThan(15); // the check is not vacuous
      Object.values(compiled.grads).forEach((g) => g.dispose());
    });
  }
});

/** A toy reward a random tiny GPT earns sometimes: the fraction of completion characters that are digits. */
const digitReward = (_p: ArithmeticProblem, completion: string): number => {
  const text = completion.replace(/<eos>.*$/, "");
  return text.length === 0 ? 0 : [...text].filter((c) => c >= "0" && c <= "9").length / 4;
};

async function toyRun(steps: number, seed: number): Promise<Record<string, number>[]> {
  const params = initGpt(tiny, 11);
  const reference = initGpt(tiny, 11);
  const trainer = grpoTrainer(tiny, params, reference, easy, { promptsPerStep: 4, groupSize: 8, maxNewTokens: 4, beta: 0.01, reward: digitReward, seed });
  const result = await trainLoop({
    label: "grpo-toy", steps, trainer: gradientTrainer({ config: tiny, params, optimizer: adamW(params, { lr: 3e-2, weightDecay: 0 }), microstep: trainer.microstep }),
  });
  return result.history;
}

describe("GRPO training", () => {
  it("is deterministic: the same seed gives identical metrics", async () => {
    const a = await toyRun(3, 4);
    const b = await toyRun(3, 4);
    expect(b).toEqual(a);
    const c = await toyRun(3, 5);
    expect(c[0].rewardMean).not.toBe(a[0].rewardMean);
  });

  it("raises the mean reward of a toy task within 20 steps", async () => {
    const history = await toyRun(20, 9);
    const mean = (rows: Record<string, number>[]): number => rows.reduce((s, r) => s + r.rewardMean, 0) / rows.length;
    const before = mean(history.slice(0, 3));
    const after = mean(history.slice(-3));
    expect(after).toBeGreaterThan(before + 0.15);
    for (const r of history) for (const k of ["loss", "policyLoss", "kl", "clipFraction", "approxKl", "entropy", "reinforceLoss", "advantageStd", "zeroStdGroups", "passAt1", "passAt8", "responseLength"]) expect(Number.isFinite(r[k]), k).toBe(true);
  });
});

describe("GRPO with several updates per rollout (μ, TRL's num_iterations)", () => {
  it("μ = 4: one rollout serves 4 updates, the ratio moves away from 1 and the clip acts after the first", async () => {
    const params = initGpt(tiny, 11);
    const reference = initGpt(tiny, 11);
    const trainer = grpoTrainer(tiny, params, reference, easy, { promptsPerStep: 4, groupSize: 8, maxNewTokens: 4, beta: 0, reward: digitReward, seed: 9, updatesPerRollout: 4 });
    const { history } = await trainLoop({
      label: "grpo-mu", steps: 5, trainer: gradientTrainer({ config: tiny, params, optimizer: adamW(params, { lr: 3e-2, weightDecay: 0 }), microstep: trainer.microstep }),
    });
    const [first, second, third, fourth, fifth] = history;
    // Steps 1–4 train on rollout 0 (its statistics repeat), step 5 on a fresh rollout.
    for (const r of [second, third, fourth]) for (const k of ["rewardMean", "advantageStd", "zeroStdGroups", "passAt1"]) expect(r[k], k).toBe(first[k]);
    expect(fifth.rewardMean).not.toBe(first.rewardMean);
    // First update: the policy is the sampler (ratio 1 up to float32), nothing clipped.
    expect(first.approxKl).toBeLessThan(1e-8);
    expect(first.clipFraction).toBe(0);
    // Later updates: the ratio drifts further each time and some tokens leave [1 − ε, 1 + ε].
    expect(second.approxKl).toBeGreaterThan(1e-4);
    expect(fourth.approxKl).toBeGreaterThan(second.approxKl);
    expect(Math.max(second.clipFraction, third.clipFraction, fourth.clipFraction)).toBeGreaterThan(0);
    expect(fourth.clipFraction).toBeGreaterThan(0);
    // A fresh rollout starts at ratio 1 again.
    expect(fifth.approxKl).toBeLessThan(1e-8);
    expect(fifth.clipFraction).toBe(0);
  });
});

describe("GRPO dynamic sampling (DAPO)", () => {
  /** A reward constant on problems with even a (their groups tie) and digitReward elsewhere, recording every call. */
  const recordingReward = (calls: { problem: ArithmeticProblem; reward: number }[], constantOn: (p: ArithmeticProblem) => boolean) =>
    (p: ArithmeticProblem, completion: string): number => {
      const reward = constantOn(p) ? 0.5 : digitReward(p, completion);
      calls.push({ problem: p, reward });
      return reward;
    };
  const groupsOf = <T>(xs: readonly T[], size: number): T[][] => Array.from({ length: xs.length / size }, (_, g) => xs.slice(g * size, (g + 1) * size));
  const ties = (rewards: readonly number[]): boolean => rewards.every((r) => r === rewards[0]);

  it("drops tied groups, samples fresh prompts until P informative groups, and logs the fraction tied before filtering", async () => {
    const params = initGpt(tiny, 11);
    const calls: { problem: ArithmeticProblem; reward: number }[] = [];
    const P = 4;
    const G = 4;
    const options: GrpoTrainerOptions = {
      promptsPerStep: P, groupSize: G, maxNewTokens: 4, beta: 0, seed: 2, dynamicSampling: true, maxSamplingRounds: 8, reward: recordingReward(calls, (p) => p.a % 2 === 0),
    };
    const rollout = await grpoRollout(tiny, params, params, easy, options, 0);
    // The oracle: the reward function's own calls, G per group in sampling order.
    const sampled = groupsOf(calls, G);
    const tied = sampled.map((g) => ties(g.map((c) => c.reward)));
    expect(tied.slice(0, P).some(Boolean)).toBe(true); // round 0 had a tied group: filtering had work to do
    expect(rollout.stats.samplingRounds).toBeGreaterThan(1);
    expect(rollout.stats.samplingRounds).toBe(sampled.length / P);
    expect(rollout.stats.sampledGroups).toBe(sampled.length);
    expect(rollout.stats.zeroStdGroups).toBe(tied.filter(Boolean).length / sampled.length);
    expect(rollout.stats.zeroStdGroups).toBeGreaterThan(0);
    // The trained batch: the first P informative groups, in sampling order; none tied.
    const informative = sampled.filter((_, g) => !tied[g]).slice(0, P);
    expect(informative.length).toBe(P);
    expect(rollout.problems).toEqual(informative.map((g) => g[0].problem));
    expect(Array.from(rollout.rewards)).toEqual(informative.flatMap((g) => g.map((c) => c.reward)));
    for (let g = 0; g < P; g++) {
      expect(ties(Array.from(rollout.rewards.subarray(g * G, (g + 1) * G))), `group ${g}`).toBe(false);
      expect(Array.from(rollout.advantages.subarray(g * G, (g + 1) * G)).some((a) => a !== 0)).toBe(true);
    }
    expect(rollout.stats.zeroStdGroupsTrained).toBe(0);
    // Groups taken from later rounds keep their own sampler log-probs on the right packed rows.
    const scored = scoreLogprobs(policyGraph(tiny, P * G, rollout.packed.context), params, rollout.packed);
    for (let i = 0; i < scored.length; i++) expect(Math.abs(rollout.oldLogp[i] - (rollout.packed.responseMask[i] === 1 ? scored[i] : 0))).toBeLessThan(1e-4);

    // Off (the default): round 0 alone, trained as sampled, tied groups included.
    calls.length = 0;
    const plain = await grpoRollout(tiny, params, params, easy, { ...options, dynamicSampling: false }, 0);
    expect(calls.length).toBe(P * G);
    expect(plain.problems).toEqual(sampled.slice(0, P).map((g) => g[0].problem));
    expect(plain.stats.zeroStdGroups).toBe(tied.slice(0, P).filter(Boolean).length / P);
    expect(plain.stats.zeroStdGroupsTrained).toBe(plain.stats.zeroStdGroups);
    expect(plain.stats.samplingRounds).toBe(1);
  });

  it("stops after maxSamplingRounds and fills the batch with tied groups, saying so", async () => {
    const params = initGpt(tiny, 11);
    const calls: { problem: ArithmeticProblem; reward: number }[] = [];
    const options: GrpoTrainerOptions = {
      promptsPerStep: 3, groupSize: 4, maxNewTokens: 4, beta: 0, seed: 2, dynamicSampling: true, maxSamplingRounds: 2, reward: recordingReward(calls, () => true),
    };
    const rollout = await grpoRollout(tiny, params, params, easy, options, 0);
    expect(calls.length).toBe(2 * 3 * 4);
    expect(rollout.stats.samplingRounds).toBe(2);
    expect(rollout.stats.zeroStdGroups).toBe(1);
    expect(rollout.stats.zeroStdGroupsTrained).toBe(1);
    expect(rollout.packed.batch).toBe(12);
    expect(Array.from(rollout.advantages).every((a) => a === 0)).toBe(true);
    await expect(grpoRollout(tiny, params, params, easy, { ...options, maxSamplingRounds: 0 }, 0)).rejects.toThrow(/maxSamplingRounds/);
  });
});

describe("pass@k", () => {
  it("passAtK is 1 − C(n−c, k)/C(n, k), checked by counting k-subsets", () => {
    const subsets = (n: number, k: number): number[][] =>
      k === 0 ? [[]] : n < k ? [] : [...subsets(n - 1, k), ...subsets(n - 1, k - 1).map((s) => [...s, n - 1])];
    let checked = 0;
    for (let n = 1; n <= 7; n++) {
      for (let c = 0; c <= n; c++) {
        for (let k = 1; k <= n; k++) {
          // Samples 0 … c−1 are the correct ones; pass@k = the share of k-subsets holding one.
          const all = subsets(n, k);
          const hit = all.filter((s) => s.some((i) => i < c)).length / all.length;
          expect(passAtK(n, c, k), `n ${n} c ${c} k ${k}`).toBeCloseTo(hit, 12);
          checked++;
        }
      }
    }
    expect(checked).toBe(168);
    expect(passAtK(8, 2, 1)).toBeCloseTo(0.25, 12);
    expect(() => passAtK(4, 1, 5)).toThrow(/passAtK/);
  });

  it("a rollout's pass@1 is its fraction correct, and pass@G the fraction of groups with a correct sample", async () => {
    // One-digit answers, so a random model's first integer is sometimes right.
    const problems = easy.map((p, i) => ({ ...p, answer: i % 10 }));
    const params = initGpt(tiny, 3);
    const P = 8;
    const G = 8;
    const rollout = await grpoRollout(tiny, params, params, problems, { promptsPerStep: P, groupSize: G, maxNewTokens: 4, beta: 0, seed: 4 }, 0);
    const correct = rollout.texts.map((t, r) => checkAnswer(rollout.problems[Math.floor(r / G)], t).correct);
    const perGroup = Array.from({ length: P }, (_, g) => correct.slice(g * G, (g + 1) * G).filter(Boolean).length);
    const total = perGroup.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(0);
    expect(rollout.stats.passAt1).toBeCloseTo(total / (P * G), 12);
    expect(rollout.stats.correct).toBeCloseTo(total / (P * G), 12);
    expect(rollout.stats[`passAt${G}`]).toBeCloseTo(perGroup.filter((c) => c > 0).length / P, 12);
    expect(rollout.stats[`passAt${G}`]).toBeGreaterThan(rollout.stats.passAt1);
  });
});

describe("heldOutScore's KL from the reference", () => {
  it("is 0 for the reference itself and positive for another policy, by the k3 estimator", async () => {
    const problems = easy.slice(0, 12);
    const config = { ...tiny, context: 24 };
    const a = initGpt(config, 1);
    const b = initGpt(config, 2);
    const same = await heldOutScore(config, a, a, problems, { klSamples: 12 });
    expect(same.klFromReference).toBe(0);
    const other = await heldOutScore(config, a, b, problems, { klSamples: 12 });
    // Two small-init models are both near uniform: a small KL, but every k3 term is ≥ 0 and
    // some are > 0 (the plain log-ratio sum could come out negative).
    expect(other.klFromReference).toBeGreaterThan(0.001);
    expect(other.klFromReference).toBeLessThan(1);
  });
});

describe("grpo stage", () => {
  it("runs end to end from an SFT checkpoint, writes its artefacts and resumes", async () => {
    const root = mkdtempSync(join(tmpdir(), "ricci-grpo-"));
    const config = SIZES.ci.model;
    mkdirSync(join(root, "ci", "sft"), { recursive: true });
    await saveCheckpoint(join(root, "ci", "sft", "checkpoint.ckpt"), { config, params: initGpt(config, 3), step: 0 });
    const small = { promptsPerStep: 2, groupSize: 4, evalEvery: 2, warmup: 1 };
    const first = await grpo({ size: "ci", root }, { ...small, steps: 2 });
    expect(first.steps).toBe(2);
    expect(first.initialAccuracy).toBeLessThan(0.05); // an untrained model (a lucky "0" or "1" still counts)
    expect(Number.isFinite(first.klFromReference)).toBe(true);
    const dir = join(root, "ci", "grpo");
    for (const f of ["checkpoint.ckpt", "metrics.jsonl", "summary.json"]) expect(existsSync(join(dir, f)), f).toBe(true);
    expect(first.labels.verifierCalls).toBe(2 * 2 * 4);
    // The rest with dynamic sampling (at most 2 batches of prompts per rollout): its extra
    // completions count as verifier calls too.
    const dynamic = { ...small, dynamicSampling: true, maxSamplingRounds: 2 };
    const resumed = await grpo({ size: "ci", root }, { ...dynamic, steps: 4 });
    expect(resumed.steps).toBe(4);
    const records = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
    expect(records.map((r) => r.step)).toEqual([0, 1, 2, 3, 4]);
    for (const r of records.slice(1)) {
      for (const k of ["entropy", "approxKl", "clipFraction", "zeroStdGroups", "passAt1", "passAt4", "samplingRounds"]) expect(Number.isFinite(r[k]), `${k} at step ${r.step}`).toBe(true);
    }
    expect(records[1].sampledGroups).toBe(2);
    expect(records[3].sampledGroups).toBe(2 * records[3].samplingRounds);
    expect(resumed.labels.verifierCalls).toBe(4 * (records[1].sampledGroups + records[2].sampledGroups + records[3].sampledGroups + records[4].sampledGroups));
    const last = records.slice(1);
    expect(resumed.passAt1).toBeCloseTo(last.reduce((s, r) => s + r.passAt1, 0) / last.length, 12);
    expect(resumed.zeroStdGroups).toBeCloseTo(last.reduce((s, r) => s + r.zeroStdGroups, 0) / last.length, 12);
    expect(resumed.entropy).toBeGreaterThan(0);
    expect(resumed.initialAccuracy).toBe(first.initialAccuracy); // read back from the step-0 record
    const t0 = performance.now();
    const again = await grpo({ size: "ci", root }, { ...dynamic, steps: 4 });
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(again).toEqual(resumed);
  });
});
