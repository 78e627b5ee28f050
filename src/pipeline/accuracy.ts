/** Held-out exact-match accuracy on the arithmetic task, by greedy generation and the answer checker. */
import { type ArithmeticProblem, checkAnswer, encodePrompt } from "../data/arithmetic.js";
import { type Tokenizer, charTokenizer } from "../data/tokenizer.js";
import type { GptConfig } from "../nn/gpt.js";
import type { Params } from "../nn/params.js";
import { generate } from "../sample/generate.js";

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
