/**
 * A signal every post-training algorithm learns within seconds: a tiny random GPT answers
 * arithmetic prompts, and the reward is the share of digits among the first four tokens of its
 * response (a random policy writes ~20% digits). It is the learning tests' task
 * (test/learning.test.ts: each algorithm must raise the held-out share by more than 4 standard
 * errors, and lower it on the reversed signal) and the RL notebooks' "does it learn?" section at
 * ci size, where the arithmetic task itself is more than a tiny model improves on in minutes.
 *
 *   const task = digitTask();
 *   const before = await heldOutDigitShare(task.config, policy, task.heldOut);
 *   … train on task.train with digitShareReward …
 *   const { delta, z } = rise(before, await heldOutDigitShare(task.config, policy, task.heldOut));
 */
import { type ArithmeticProblem, arithmeticProblems, encodePrompt } from "../data/arithmetic.js";
import type { PreferencePair } from "../data/preferences.js";
import { charTokenizer } from "../data/tokenizer.js";
import type { GptConfig } from "../nn/gpt.js";
import type { Params } from "../nn/params.js";
import { generate } from "../sample/generate.js";
import type { RewardFunction } from "./ppo.js";

/** Response tokens the reward reads (and the most a rollout generates). */
export const DIGIT_RESPONSE_TOKENS = 4;

export interface DigitTask {
  /** A 1-layer GPT with d = 16 over the character vocabulary, context 20. */
  readonly config: GptConfig;
  /** 400 two-digit additions to train on, and 64 held-out ones to score on. */
  readonly train: readonly ArithmeticProblem[];
  readonly heldOut: readonly ArithmeticProblem[];
}

/** The task: `digitTask()`. */
export function digitTask(): DigitTask {
  const { train, test } = arithmeticProblems({ operators: ["+"], digits: 2, trainSize: 400, testSize: 64 });
  return { config: { vocab: charTokenizer.vocabSize, context: 20, dModel: 16, heads: 2, layers: 1 }, train, heldOut: test };
}

/** The share of digits among a completion's first four tokens (up to EOS, written "<eos>"). */
export function digitShare(completion: string): number {
  const text = completion.replace(/<eos>.*$/, "");
  return [...text].filter((c) => c >= "0" && c <= "9").length / DIGIT_RESPONSE_TOKENS;
}

/** +1 rewards digits, −1 punishes them (the reversed-signal control). */
export type Direction = 1 | -1;

/** The reward per completion, as GRPO takes it: `grpoTrainer(…, { reward: digitShareReward() })`. */
export const digitShareReward = (direction: Direction = 1) => (_: ArithmeticProblem, completion: string): number => direction * digitShare(completion);

/** The reward per batch, as PPO and TRPO take it. */
export const digitShareRewardFunction = (direction: Direction = 1): RewardFunction => (_problems, responses) =>
  Float32Array.from(responses, (r) => direction * digitShare(r));

/** `samples` responses at T = 1 to each prompt, decoded (EOS as "<eos>"); `stop: false` writes all four tokens. */
export async function sampleResponses(
  config: GptConfig, params: Params, problems: readonly ArithmeticProblem[], samples: number, seed: number, stop = true,
): Promise<string[][]> {
  const tok = charTokenizer;
  const n = DIGIT_RESPONSE_TOKENS;
  const prompts = problems.flatMap((p) => Array.from({ length: samples }, () => encodePrompt(p.prompt, tok)));
  const rollout = await generate(config, params, prompts, { maxNewTokens: n, temperature: 1, stopTokens: stop ? [tok.eosId] : [], padToken: tok.padId, seed });
  return problems.map((_, i) => Array.from({ length: samples }, (_, j) => {
    const row = i * samples + j;
    return tok.decode(rollout.tokens.subarray(row * n, row * n + rollout.lengths[row]));
  }));
}

/** A sample mean and its standard error. */
export interface SampledMean {
  readonly mean: number;
  readonly se: number;
}

/** The held-out digit share of the policy's samples: 8 per prompt at a fixed seed, with its standard error. */
export async function heldOutDigitShare(config: GptConfig, params: Params, heldOut: readonly ArithmeticProblem[], seed = 777): Promise<SampledMean> {
  const values = (await sampleResponses(config, params, heldOut, 8, seed)).flat().map(digitShare);
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1);
  return { mean, se: Math.sqrt(variance / values.length) };
}

/** after − before, and how many standard errors of the difference that is. */
export function rise(before: SampledMean, after: SampledMean): { delta: number; z: number } {
  const delta = after.mean - before.mean;
  return { delta, z: delta / Math.hypot(before.se, after.se) };
}

/**
 * Preference pairs from the policy's own samples, with no gold answer: per prompt, of 8 samples
 * the one with most digits is chosen over the one with fewest (prompts whose samples tie give none).
 */
export async function digitPairs(config: GptConfig, params: Params, problems: readonly ArithmeticProblem[], seed: number): Promise<PreferencePair[]> {
  const responses = await sampleResponses(config, params, problems, 8, seed, false);
  return problems.flatMap((p, i) => {
    const ranked = [...responses[i]].sort((x, y) => digitShare(y) - digitShare(x));
    const [best, worst] = [ranked[0], ranked[ranked.length - 1]];
    return digitShare(best) > digitShare(worst) ? [{ prompt: p.prompt, chosen: best, rejected: worst, rejectedKind: "otherWrong" as const }] : [];
  });
}
