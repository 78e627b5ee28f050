/**
 * How every post-training stage is scored on held-out prompts: exact-match accuracy (greedy)
 * and the KL divergence of the policy from the frozen reference, estimated on sampled
 * responses as the mean over sequences of Σ_t k3(t), k3 = e^δ − 1 − δ with δ = log π_ref − log π
 * at the sampled token (Schulman's k3: unbiased for each token's KL given its prefix, so the
 * sum is unbiased for the sequence KL by the chain rule, and never negative, unlike the plain
 * Σ_t (log π − log π_ref), which came out at −0.03 nats for a DPO policy on 64 samples); and
 * the unbiased pass@k of a group of samples per prompt (`passAtK`).
 */
import { type ArithmeticProblem, checkAnswer, encodePrompt } from "../data/arithmetic.js";
import { type Tokenizer, charTokenizer } from "../data/tokenizer.js";
import type { GptConfig } from "../nn/gpt.js";
import type { Params } from "../nn/params.js";
import { RicciError } from "../errors.js";
import { generate } from "../sample/generate.js";
import { policyGraph, scoreLogprobs } from "./policy.js";
import { packSequences, responsesOf } from "./sequences.js";

export interface AccuracyReport {
  /** Fraction answered correctly. */
  readonly accuracy: number;
  /** Fraction answered in the exact format "=<integer>". */
  readonly wellFormed: number;
  readonly samples: readonly { readonly prompt: string; readonly response: string; readonly correct: boolean }[];
}

/** Greedy answers to `problems`, scored: `await exactMatch(config, params, test.slice(0, 200))`. */
export async function exactMatch(
  config: GptConfig,
  params: Params,
  problems: readonly ArithmeticProblem[],
  options: { batch?: number; maxNewTokens?: number; tokenizer?: Tokenizer } = {},
): Promise<AccuracyReport> {
  const tok = options.tokenizer ?? charTokenizer;
  const batch = options.batch ?? 100;
  const maxNewTokens = options.maxNewTokens ?? 7;
  const samples: { prompt: string; response: string; correct: boolean; wellFormed: boolean }[] = [];
  for (let i = 0; i < problems.length; i += batch) {
    const chunk = problems.slice(i, i + batch);
    const rollout = await generate(config, params, chunk.map((p) => encodePrompt(p.prompt, tok)), {
      maxNewTokens, temperature: 0, stopTokens: [tok.eosId], padToken: tok.padId,
    });
    chunk.forEach((p, r) => {
      const ids = rollout.tokens.subarray(r * maxNewTokens, r * maxNewTokens + rollout.lengths[r]);
      const response = tok.decode(ids);
      const check = checkAnswer(p, response);
      samples.push({ prompt: p.prompt, response, correct: check.correct, wellFormed: check.wellFormed });
    });
  }
  const mean = (f: (s: (typeof samples)[number]) => boolean): number => samples.filter(f).length / Math.max(1, samples.length);
  return { accuracy: mean((s) => s.correct), wellFormed: mean((s) => s.wellFormed), samples };
}

export interface HeldOutScore {
  readonly accuracy: number;
  readonly wellFormed: number;
  /** KL(π ‖ π_ref) per sequence, in nats (0 for the reference itself). */
  readonly klFromReference: number;
}

/** Scores `params` against `reference` on `problems`: `await heldOutScore(config, policy, ref, problems)`. */
export async function heldOutScore(
  config: GptConfig,
  params: Params,
  reference: Params,
  problems: readonly ArithmeticProblem[],
  options: { klSamples?: number; seed?: number; maxNewTokens?: number } = {},
): Promise<HeldOutScore> {
  const { accuracy, wellFormed } = await exactMatch(config, params, problems);
  const tok = charTokenizer;
  const n = Math.min(options.klSamples ?? 256, problems.length);
  const prompts = problems.slice(0, n).map((p) => encodePrompt(p.prompt, tok));
  const rollout = await generate(config, params, prompts, {
    maxNewTokens: options.maxNewTokens ?? 7, temperature: 1, stopTokens: [tok.eosId], padToken: tok.padId, seed: options.seed ?? 1234,
  });
  const packed = packSequences(prompts, responsesOf(rollout), config.context, tok.padId);
  const graph = policyGraph(config, n);
  const logp = scoreLogprobs(graph, params, packed);
  const ref = scoreLogprobs(graph, reference, packed);
  let kl = 0;
  for (let i = 0; i < logp.length; i++) {
    const delta = ref[i] - logp[i];
    kl += packed.responseMask[i] * (Math.expm1(delta) - delta);
  }
  return { accuracy, wellFormed, klFromReference: kl / n };
}

/**
 * The unbiased pass@k of one prompt from n samples of which c are correct (Chen et al. 2021,
 * HumanEval): 1 − C(n−c, k)/C(n, k), the chance that k of the n drawn without replacement
 * include a correct one, computed as 1 − Π_{i=n−c+1}^{n} (1 − k/i) (no large binomials).
 * `passAtK(8, 2, 1)` = 0.25; `passAtK(8, 2, 8)` = 1; `passAtK(8, 0, 8)` = 0.
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!(Number.isInteger(n) && Number.isInteger(c) && Number.isInteger(k) && n >= 1 && c >= 0 && c <= n && k >= 1 && k <= n)) {
    throw new RicciError(`passAtK: need integers 0 ≤ c ≤ n and 1 ≤ k ≤ n, got n ${n}, c ${c}, k ${k}`);
  }
  if (n - c < k) return 1;
  let missAll = 1;
  for (let i = n - c + 1; i <= n; i++) missAll *= 1 - k / i;
  return 1 - missAll;
}
