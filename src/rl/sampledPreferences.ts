/**
 * Preference pairs without gold answers: the policy's own samples, judged by the verifier. For
 * each prompt the policy draws `samplesPerPrompt` completions; the chosen response is one the
 * verifier accepts (correct and in the "=<integer>" format, ended by EOS), the rejected one a
 * response it rejects, for the same prompt. A prompt whose samples are all accepted or all
 * rejected gives no pair. The labels spent are verifier calls, one per sample; no gold answer
 * is read (the verifier computes the sum, as the RL stages' reward does).
 *
 *   const { pairs, verifierCalls } = await samplePreferencePairs(config, sft, problems, { samplesPerPrompt: 4, temperature: 1, seed: 0 });
 */
import { type ArithmeticProblem, checkAnswer, encodePrompt } from "../data/arithmetic.js";
import { type PreferencePair, rejectionKindOf } from "../data/preferences.js";
import { type Tokenizer, charTokenizer } from "../data/tokenizer.js";
import { RicciError } from "../errors.js";
import type { GptConfig } from "../nn/gpt.js";
import type { Params } from "../nn/params.js";
import { generate } from "../sample/generate.js";
import { subSeed } from "../util/random.js";

/** Whether the verifier accepts a sampled response (decoded, with its `<eos>` marker if it stopped). */
export type Verifier = (problem: ArithmeticProblem, response: string) => boolean;

/** The task's verifier: the right number, in the exact format, ended by EOS. */
export const arithmeticVerifier: Verifier = (problem, response) => {
  const check = checkAnswer(problem, response, { requireEos: true });
  return check.correct && check.wellFormed;
};

/** What the pairs cost and how many prompts gave one. */
export interface SampledPairs {
  readonly pairs: PreferencePair[];
  /** Prompts sampled, and responses the verifier judged (prompts × samples per prompt). */
  readonly prompts: number;
  readonly verifierCalls: number;
}

/** A pair's response carries no EOS (packing appends it); other sampled specials stay as markers. */
const withoutFinalEos = (response: string): string => response.replace(/<eos>$/, "");

/**
 * One pair per prompt from already sampled responses: the first accepted and the first rejected
 * response (in sample order, so a fresh random choice), or none. Responses are decoded text;
 * only those that stopped (end in `<eos>`) make pairs, but every one counts as a verifier call.
 */
export function pairsFromSamples(problems: readonly ArithmeticProblem[], responses: readonly (readonly string[])[], verify: Verifier = arithmeticVerifier): SampledPairs {
  if (responses.length !== problems.length) throw new RicciError(`pairsFromSamples: ${problems.length} problems but ${responses.length} response lists`);
  const pairs: PreferencePair[] = [];
  let verifierCalls = 0;
  problems.forEach((problem, i) => {
    const judged = responses[i].map((response) => ({ response, accepted: verify(problem, response) }));
    verifierCalls += judged.length;
    // A truncated response would be packed with an EOS it never emitted: pairs use finished ones.
    const finished = judged.filter((j) => j.response.endsWith("<eos>"));
    const chosen = finished.find((j) => j.accepted);
    const rejected = finished.find((j) => !j.accepted);
    if (chosen === undefined || rejected === undefined) return;
    const rejectedText = withoutFinalEos(rejected.response);
    pairs.push({ prompt: problem.prompt, chosen: withoutFinalEos(chosen.response), rejected: rejectedText, rejectedKind: rejectionKindOf(problem, rejectedText) });
  });
  return { pairs, prompts: problems.length, verifierCalls };
}

export interface SamplePairsOptions {
  readonly samplesPerPrompt: number;
  /** Sampling temperature (1: the policy as it is). */
  readonly temperature: number;
  readonly seed: number;
  /** Prompts per `generate` call (each with its samples: rows = batch × samplesPerPrompt). Default 64. */
  readonly batch?: number;
  readonly maxNewTokens?: number;
  readonly verify?: Verifier;
  readonly tokenizer?: Tokenizer;
}

/** Samples `samplesPerPrompt` responses per problem from the policy and pairs them by the verifier. */
export async function samplePreferencePairs(config: GptConfig, params: Params, problems: readonly ArithmeticProblem[], options: SamplePairsOptions): Promise<SampledPairs> {
  const { samplesPerPrompt: k, temperature } = options;
  if (!(Number.isInteger(k) && k >= 2)) throw new RicciError(`samplePreferencePairs: samplesPerPrompt must be an integer ≥ 2, got ${k}`);
  if (!(temperature > 0)) throw new RicciError(`samplePreferencePairs: temperature must be positive, got ${temperature}`);
  const tok = options.tokenizer ?? charTokenizer;
  const maxNewTokens = options.maxNewTokens ?? 7;
  const batch = options.batch ?? 64;
  const responses: string[][] = [];
  for (let at = 0; at < problems.length; at += batch) {
    const chunk = problems.slice(at, at + batch);
    const prompts = chunk.flatMap((p) => Array.from({ length: k }, () => encodePrompt(p.prompt, tok)));
    const rollout = await generate(config, params, prompts, {
      maxNewTokens, temperature, stopTokens: [tok.eosId], padToken: tok.padId, seed: subSeed(options.seed, `pairs/${at}`),
    });
    chunk.forEach((_, i) => {
      responses.push(Array.from({ length: k }, (_, j) => {
        const row = i * k + j;
        return tok.decode(rollout.tokens.subarray(row * maxNewTokens, row * maxNewTokens + rollout.lengths[row]));
      }));
    });
  }
  return pairsFromSamples(problems, responses, options.verify ?? arithmeticVerifier);
}
