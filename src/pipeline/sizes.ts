/**
 * Run sizes. "ci" trains in CI time on two cores; "full" is the size whose numbers the README
 * states. Every stage reads its settings from here, so one switch scales the whole pipeline.
 */
import type { ArithmeticPresetName } from "../data/arithmetic.js";
import type { CorpusSize } from "../data/corpus.js";
import { charTokenizer } from "../data/tokenizer.js";
import type { GptConfig } from "../nn/gpt.js";
import { RicciError } from "../errors.js";

export type RunSize = "ci" | "full";

export interface StageSettings {
  readonly steps: number;
  readonly batch: number;
  readonly lr: number;
  readonly warmup: number;
  readonly evalEvery: number;
}

export interface SizeSettings {
  readonly model: GptConfig;
  readonly corpus: CorpusSize;
  readonly task: ArithmeticPresetName;
  readonly pretrain: StageSettings;
  readonly sft: StageSettings;
  /**
   * Labelled train-side problems SFT learns from (the first n). The RL stages draw their prompts
   * from many more: a verifier needs no labels, which is what RL from rewards has over SFT.
   * Full size: 1000 — on 4000 SFT leaves RL little to add, on 500 it is still on its plateau
   * (README, "How the settings were chosen").
   */
  readonly sftProblems: number;
  /** Held-out problems scored by greedy generation. */
  readonly evalProblems: number;
}

const vocab = charTokenizer.vocabSize;

export const SIZES: Readonly<Record<RunSize, SizeSettings>> = {
  ci: {
    model: { vocab, context: 24, dModel: 64, heads: 4, layers: 2 },
    corpus: "ci",
    task: "default",
    pretrain: { steps: 150, batch: 16, lr: 3e-3, warmup: 15, evalEvery: 50 },
    // 150 steps of 16 left SFT at ~2% (held out): the RL stages then had almost nothing to pair or
    // reward. 1,200 of 32 reach ~13% (validation), where the verifier finds an accepted and a
    // rejected sample for half the prompts.
    sft: { steps: 1200, batch: 32, lr: 2e-3, warmup: 15, evalEvery: 300 },
    sftProblems: 4000,
    evalProblems: 200,
  },
  full: {
    model: { vocab, context: 24, dModel: 128, heads: 4, layers: 2 },
    corpus: "full",
    task: "default",
    pretrain: { steps: 1000, batch: 32, lr: 2e-3, warmup: 50, evalEvery: 100 },
    // 1600 steps reach the flattening of held-out accuracy; stopping in the steep phase would make
    // the RL start more sensitive to float-level differences upstream.
    sft: { steps: 1600, batch: 32, lr: 1e-3, warmup: 40, evalEvery: 200 },
    sftProblems: 1000,
    evalProblems: 500,
  },
};

export function parseSize(value: string | undefined): RunSize {
  const v = value ?? process.env.RICCI_SIZE ?? "full";
  if (v !== "ci" && v !== "full") throw new RicciError(`--size must be "ci" or "full", got "${v}"`);
  return v;
}
