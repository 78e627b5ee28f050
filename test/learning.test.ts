/**
 * Does each post-training algorithm learn, in the direction its signal points? One small task
 * for all of them (src/rl/digitTask.ts): a tiny random GPT answers arithmetic prompts, and the
 * reward is the share of digits among its first four response tokens (a random policy writes ~20%
 * digits). Each
 * algorithm trains on train-side prompts and is scored on held-out prompts it never saw:
 * - PPO, GRPO, TRPO and DPO: the mean reward of samples on held-out prompts rises by more than
 *   four standard errors of the difference (the evaluation's own sampling noise).
 * - The reward model: pairwise accuracy on held-out pairs exceeds ½ by more than four standard
 *   errors of a coin-flip rate.
 * Each also trains once on the reversed signal (reward negated, or chosen and rejected swapped)
 * and must then move the other way: a sign error anywhere between the reward and the update —
 * advantages, ratios, the line search's acceptance, DPO's margin, the Bradley–Terry loss —
 * fails one of the two runs. GRPO, PPO and DPO run again through LoRA adapters on a frozen base,
 * which must learn and unlearn the same way (a wrong adapter gradient or a stale merged policy
 * fails them). Each test takes seconds; the budget is a minute.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { PreferencePair } from "../src/data/preferences.js";
import { initBackend, tf } from "../src/lower/backend.js";
import { type Params, copyParams, initGpt } from "../src/nn/params.js";
import { dpoObjective, pairLogProbs } from "../src/rl/dpo.js";
import { grpoTrainer } from "../src/rl/grpo.js";
import {
  DIGIT_RESPONSE_TOKENS, type Direction, type SampledMean, digitPairs, digitShareReward, digitShareRewardFunction, digitTask, heldOutDigitShare, rise,
} from "../src/rl/digitTask.js";
import { initValueFromPolicy, ppoTrainer } from "../src/rl/ppo.js";
import { packPreferencePairs, pairwiseReport, rewardModelConfig, rewardModelFromPolicy, rewardModelObjective } from "../src/rl/rewardModel.js";
import { trpoTrainer } from "../src/rl/trpo.js";
import { adamW } from "../src/train/optimizer.js";
import { trainLoop } from "../src/train/loop.js";
import { trainSteps } from "./helpers/train.js";
import { gradientTrainer } from "../src/train/trainer.js";
import { type LoraModel, type LoraOptions, loraModel } from "../src/nn/lora.js";
import { loraTrainer } from "../src/train/lora.js";

const { config: tiny, train, heldOut } = digitTask();
/** Standard errors a rise must exceed to count as learning. */
const Z = 4;

beforeAll(async () => {
  await initBackend();
});

const heldOutReward = (params: Params): Promise<SampledMean> => heldOutDigitShare(tiny, params, heldOut);

/**
 * Trains a fresh tiny policy with `run` and returns its held-out reward before and after; `run`
 * may return other weights to score (LoRA's merged model) instead of the policy.
 */
async function heldOutChange(run: (policy: Params, reference: Params) => Promise<Params | void>, policy: Params = initGpt(tiny, 5)): Promise<{ delta: number; z: number }> {
  const reference = copyParams(policy);
  const before = await heldOutReward(policy);
  const trained = (await run(policy, reference)) ?? policy;
  return rise(before, await heldOutReward(trained));
}

/**
 * Trains through rank-4 LoRA adapters on the reference (src/nn/lora.ts): `run` gets the LoRA
 * model and trains its adapters; the merged weights are scored. LoRA adapts a trained model, whose
 * logits depend on its projections; at GPT-2's init the tiny unembedding flattens that dependence
 * (the logits barely move whatever the projections do), so the base's unembedding is scaled up 30×.
 */
async function heldOutChangeWithLora(run: (model: LoraModel, reference: Params) => Promise<void>): Promise<{ delta: number; z: number }> {
  return heldOutChange(async (_policy, reference) => {
    const model = loraModel(tiny, reference, ADAPTERS, 7);
    await run(model, reference);
    model.merge();
    return model.merged;
  }, sharperBase());
}

const ADAPTERS: LoraOptions = { rank: 4 };
const sharperBase = (): Params => {
  const init = initGpt(tiny, 5);
  return { ...init, unembed: tf.mul(init.unembed, 30) };
};

async function grpoRun(direction: Direction, lora = false): Promise<{ delta: number; z: number }> {
  const options = { promptsPerStep: 8, groupSize: 8, maxNewTokens: DIGIT_RESPONSE_TOKENS, beta: 0.01, reward: digitShareReward(direction), seed: 1 };
  const steps = 15;
  if (lora) {
    return heldOutChangeWithLora(async (model, reference) => {
      const trainer = grpoTrainer(tiny, model.merged, reference, train, options, model);
      const inner = gradientTrainer({ config: tiny, params: model.adapters, optimizer: adamW(model.adapters, { lr: 2e-2, weightDecay: 0 }), microstep: trainer.microstep });
      await trainLoop({ label: "grpo-lora-learning", steps, trainer: loraTrainer(inner, model) });
    });
  }
  return heldOutChange(async (policy, reference) => {
    const trainer = grpoTrainer(tiny, policy, reference, train, options);
    await trainLoop({ label: "grpo-learning", steps, trainer: gradientTrainer({ config: tiny, params: policy, optimizer: adamW(policy, { lr: 2e-2, weightDecay: 0 }), microstep: trainer.microstep }) });
  });
}

async function ppoRun(direction: Direction, lora = false): Promise<{ delta: number; z: number }> {
  const options = { rolloutBatch: 64, maxNewTokens: DIGIT_RESPONSE_TOKENS, reward: digitShareRewardFunction(direction), klCoef: 0.01, seed: 1 };
  const iterations = 8;
  const train8 = async (policy: Params, trained: Params, reference: Params, model?: LoraModel): Promise<void> => {
    const value = initValueFromPolicy(tiny, reference);
    const optimizers = { policy: adamW(trained, { lr: 1e-2, weightDecay: 0 }), value: adamW(value, { lr: 1e-2, weightDecay: 0 }) };
    const trainer = ppoTrainer(tiny, { policy, value, reference }, optimizers, train, options, model);
    for (let i = 0; i < iterations; i++) {
      await trainer.iteration(i);
      model?.merge();
    }
  };
  if (lora) return heldOutChangeWithLora((model, reference) => train8(model.merged, model.adapters, reference, model));
  return heldOutChange((policy, reference) => train8(policy, policy, reference));
}

async function trpoRun(direction: Direction): Promise<{ delta: number; z: number; maxKl: number; klOfProposed: number[]; cosines: number[] }> {
  const klOfProposed: number[] = [];
  const cosines: number[] = [];
  const maxKl = 0.05;
  const result = await heldOutChange(async (policy) => {
    const trainer = trpoTrainer(tiny, policy, train, { promptsPerStep: 8, groupSize: 8, maxKl, maxNewTokens: DIGIT_RESPONSE_TOKENS, reward: digitShareRewardFunction(direction), seed: 1 });
    for (let i = 0; i < 10; i++) {
      const record = await trainer.iteration(i);
      klOfProposed.push(record.proposedKl);
      cosines.push(record.stepCosine);
    }
  });
  return { ...result, maxKl, klOfProposed, cosines };
}

const swapped = (pairs: readonly PreferencePair[]): PreferencePair[] => pairs.map((p) => ({ ...p, chosen: p.rejected, rejected: p.chosen }));

async function dpoRun(direction: Direction, lora = false): Promise<{ delta: number; z: number }> {
  const objectiveOn = async (reference: Params) => {
    const sampled = await digitPairs(tiny, reference, train.slice(0, 128), 11);
    const pairs = direction === 1 ? sampled : swapped(sampled);
    const o = dpoObjective(tiny, pairs.length, { beta: 0.1 }, lora ? ADAPTERS : null);
    return { o, inputs: o.inputs(packPreferencePairs(pairs, tiny.context), pairLogProbs(tiny, reference, pairs)) };
  };
  if (lora) {
    return heldOutChangeWithLora(async (model, reference) => {
      const { o, inputs } = await objectiveOn(reference);
      trainSteps(model.adapters, 30, 1e-2, (adapters) => o.objective.run({ ...model.base, ...adapters }, inputs));
    });
  }
  return heldOutChange(async (policy, reference) => {
    const { o, inputs } = await objectiveOn(reference);
    trainSteps(policy, 30, 1e-2, (p) => o.objective.run(p, inputs));
  });
}

async function rewardModelRun(direction: Direction): Promise<{ accuracy: number; se: number; pairs: number }> {
  const policy = initGpt(tiny, 5);
  const rmConfig = rewardModelConfig(tiny);
  const params = rewardModelFromPolicy(initGpt(tiny, 5), rmConfig, 3);
  const sampled = await digitPairs(tiny, policy, train.slice(0, 128), 11);
  const pairs = direction === 1 ? sampled : swapped(sampled);
  const rm = rewardModelObjective(rmConfig, pairs.length, { centerCoefficient: 0.01 });
  const inputs = rm.graph.inputs(packPreferencePairs(pairs, tiny.context));
  trainSteps(params, 40, 1e-2, (p) => rm.objective.run(p, inputs));
  const test = await digitPairs(tiny, policy, heldOut, 13);
  const { accuracy } = pairwiseReport(rmConfig, params, test);
  return { accuracy, se: Math.sqrt(0.25 / test.length), pairs: test.length };
}

describe("each algorithm learns on held-out prompts, and unlearns on the reversed signal", () => {
  it("GRPO", async () => {
    const up = await grpoRun(1);
    const down = await grpoRun(-1);
    console.log(`[learning] GRPO held-out digit share ${up.delta >= 0 ? "+" : ""}${up.delta.toFixed(3)} (z ${up.z.toFixed(1)}); reversed ${down.delta.toFixed(3)} (z ${down.z.toFixed(1)})`);
    expect(up.z).toBeGreaterThan(Z);
    expect(down.z).toBeLessThan(-Z);
  });

  it("PPO", async () => {
    const up = await ppoRun(1);
    const down = await ppoRun(-1);
    console.log(`[learning] PPO held-out digit share ${up.delta.toFixed(3)} (z ${up.z.toFixed(1)}); reversed ${down.delta.toFixed(3)} (z ${down.z.toFixed(1)})`);
    expect(up.z).toBeGreaterThan(Z);
    expect(down.z).toBeLessThan(-Z);
  });

  it("TRPO, every proposed step's KL within 1.5δ", async () => {
    const up = await trpoRun(1);
    const down = await trpoRun(-1);
    console.log(`[learning] TRPO held-out digit share ${up.delta.toFixed(3)} (z ${up.z.toFixed(1)}); reversed ${down.delta.toFixed(3)} (z ${down.z.toFixed(1)}); proposed steps' KL ${up.klOfProposed.map((k) => k.toFixed(4)).join(" ")}, cosines ${up.cosines.slice(1).map((c) => c.toFixed(2)).join(" ")}`);
    expect(up.z).toBeGreaterThan(Z);
    expect(down.z).toBeLessThan(-Z);
    for (const kl of [...up.klOfProposed, ...down.klOfProposed]) expect(kl).toBeLessThanOrEqual(1.5 * up.maxKl);
    // The cosine between successive directions is logged from the second step on. (It is near 0
    // here, −0.02 to 0.10, although every step learns: most of each direction is its batch's noise.)
    expect(Number.isNaN(up.cosines[0])).toBe(true);
    for (const c of up.cosines.slice(1)) expect(Math.abs(c)).toBeLessThanOrEqual(1 + 1e-9);
  });

  it("DPO on pairs from the policy's own samples", async () => {
    const up = await dpoRun(1);
    const down = await dpoRun(-1);
    console.log(`[learning] DPO held-out digit share ${up.delta.toFixed(3)} (z ${up.z.toFixed(1)}); reversed ${down.delta.toFixed(3)} (z ${down.z.toFixed(1)})`);
    expect(up.z).toBeGreaterThan(Z);
    expect(down.z).toBeLessThan(-Z);
  });

  it("the reward model's pairwise accuracy on held-out pairs", async () => {
    const up = await rewardModelRun(1);
    const down = await rewardModelRun(-1);
    console.log(`[learning] reward model held-out pair accuracy ${up.accuracy.toFixed(3)} on ${up.pairs} pairs (chance 0.5 ± ${up.se.toFixed(3)}); reversed ${down.accuracy.toFixed(3)}`);
    expect(up.accuracy).toBeGreaterThan(0.5 + Z * up.se);
    expect(down.accuracy).toBeLessThan(0.5 - Z * down.se);
  });
});

describe("through LoRA adapters (a frozen base, rank-4 A·B on every projection), each RL algorithm learns and unlearns", () => {
  for (const [name, run] of [["GRPO", grpoRun], ["PPO", ppoRun], ["DPO", dpoRun]] as const) {
    it(name, async () => {
      const up = await run(1, true);
      const down = await run(-1, true);
      console.log(`[learning] ${name} with LoRA: held-out digit share ${up.delta.toFixed(3)} (z ${up.z.toFixed(1)}); reversed ${down.delta.toFixed(3)} (z ${down.z.toFixed(1)})`);
      expect(up.z).toBeGreaterThan(Z);
      expect(down.z).toBeLessThan(-Z);
    });
  }
});
