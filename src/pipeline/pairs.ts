/**
 * The preference pairs the reward model and DPO learn from, made without gold answers: the SFT
 * policy's own samples judged by the verifier (src/rl/sampledPreferences.ts), on train-side
 * prompts for training and on validation and test prompts for scoring. Made once per run and
 * seed, kept in `<root>/<size>/pairs/pairs.json` (written atomically, checked on load), so that
 * both stages read the same pairs. The gold-answer pairs of src/data/preferences.ts remain a
 * named option of each stage (`labels: "gold"`).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ArithmeticProblem, type ProblemSplit, arithmeticProblems } from "../data/arithmetic.js";
import type { PreferencePair } from "../data/preferences.js";
import { RicciError } from "../errors.js";
import type { GptConfig } from "../nn/gpt.js";
import { disposeParams } from "../nn/params.js";
import { type Verifier, samplePreferencePairs } from "../rl/sampledPreferences.js";
import { loadCheckpoint } from "../train/checkpoint.js";
import { progressStream } from "../train/progress.js";
import { subSeed } from "../util/random.js";
import { type RunSize, SIZES } from "./sizes.js";
import { stageDir, trainSideProblems, upstreamCheckpoint } from "./stage.js";

/** Where a stage's preference pairs come from: the verifier on the SFT policy's samples, or gold answers. */
export type PairLabels = "verifier" | "gold";

export interface PairSettings {
  /** Responses sampled per prompt (more: more prompts with both an accepted and a rejected one). */
  readonly samplesPerPrompt: number;
  readonly temperature: number;
  /** Train-side problems whose prompts are sampled (the first n; the first `sftProblems` are SFT's). */
  readonly trainProblems: number;
  /** Validation and test problems sampled for the held-out pairs (the first n of each side). */
  readonly heldOutProblems: number;
}

// ci's SFT answers few problems right, so it samples more per prompt for a pair to form.
export const PAIR_SETTINGS: Readonly<Record<RunSize, PairSettings>> = {
  ci: { samplesPerPrompt: 8, temperature: 1, trainProblems: 4000, heldOutProblems: 1000 },
  full: { samplesPerPrompt: 4, temperature: 1, trainProblems: 10000, heldOutProblems: 1000 },
};

/** The pairs of one run, per side, and the verifier calls that made the train side's. */
export interface StagePairs extends Record<ProblemSplit, PreferencePair[]> {
  readonly trainVerifierCalls: number;
}

interface PairsFile extends StagePairs {
  readonly version: 1;
  readonly seed: number;
  readonly settings: PairSettings;
  /** The SFT checkpoint's step the samples came from. */
  readonly sftStep: number;
}

export const pairsPath = (root: string, size: RunSize): string => join(stageDir(root, size, "pairs"), "pairs.json");

/**
 * The run's sampled pairs: read from pairs.json when it was made with these settings, seed and
 * SFT checkpoint, else sampled from the SFT policy and written. `await stagePairs({ size: "ci", root: "runs", seed: 0 }, config)`.
 */
export async function stagePairs(
  options: { readonly size: RunSize; readonly root: string; readonly seed: number },
  config: GptConfig,
  internals: { readonly pairs?: Partial<PairSettings>; readonly verify?: Verifier } = {},
): Promise<StagePairs> {
  const settings: PairSettings = { ...PAIR_SETTINGS[options.size], ...internals.pairs };
  const verify = internals.verify;
  const path = pairsPath(options.root, options.size);
  const sft = await loadCheckpoint(upstreamCheckpoint(options.root, options.size, "sft", "the preference pairs"), { expectConfig: config });
  try {
    const stored = existsSync(path) ? readPairs(path) : null;
    if (stored !== null && stored.seed === options.seed && stored.sftStep === sft.step && JSON.stringify(stored.settings) === JSON.stringify(settings)) {
      return stored;
    }
    const task = SIZES[options.size].task;
    const heldOut = arithmeticProblems(task);
    const sample = (problems: readonly ArithmeticProblem[], side: string) =>
      samplePreferencePairs(config, sft.params, problems, { ...settings, seed: subSeed(options.seed, `pairs/${side}`), verify });
    progressStream().write(`pairs: sampling ${settings.samplesPerPrompt} responses per prompt from SFT for ${settings.trainProblems} train and 2 × ${settings.heldOutProblems} held-out prompts\n`);
    const train = await sample(trainSideProblems(task, settings.trainProblems), "train");
    const validation = await sample(heldOut.validation.slice(0, settings.heldOutProblems), "validation");
    const test = await sample(heldOut.test.slice(0, settings.heldOutProblems), "test");
    const sides = { train, validation, test };
    for (const [side, made] of Object.entries(sides)) {
      if (made.pairs.length === 0) {
        throw new RicciError(`pairs: the SFT policy's ${made.verifierCalls} samples on ${made.prompts} ${side} prompts gave no pair (every prompt's finished samples all accepted or all rejected); sample more per prompt (samplesPerPrompt ${settings.samplesPerPrompt}) or train SFT longer`);
      }
    }
    const file: PairsFile = {
      version: 1, seed: options.seed, settings, sftStep: sft.step,
      trainVerifierCalls: train.verifierCalls, train: train.pairs, validation: validation.pairs, test: test.pairs,
    };
    mkdirSync(stageDir(options.root, options.size, "pairs"), { recursive: true });
    writeFileSync(`${path}.tmp`, JSON.stringify(file));
    renameSync(`${path}.tmp`, path);
    progressStream().write(`pairs: ${train.pairs.length} train pairs from ${train.prompts} prompts (${train.verifierCalls} verifier calls), ${validation.pairs.length} validation, ${test.pairs.length} test → ${path}\n`);
    return file;
  } finally {
    disposeParams(sft.params);
  }
}

/** Reads and checks a pairs file; a file that is not one is an error naming it. */
function readPairs(path: string): PairsFile {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new RicciError(`pairs ${path}: not readable JSON (${error instanceof Error ? error.message : String(error)}); delete it to sample the pairs again`);
  }
  const file = data as Partial<PairsFile>;
  const isPairList = (v: unknown): boolean =>
    Array.isArray(v) && v.every((p) => typeof p === "object" && p !== null && ["prompt", "chosen", "rejected", "rejectedKind"].every((k) => typeof (p as Record<string, unknown>)[k] === "string"));
  if (file.version !== 1 || typeof file.seed !== "number" || typeof file.sftStep !== "number" || typeof file.trainVerifierCalls !== "number" || !isPairList(file.train) || !isPairList(file.validation) || !isPairList(file.test)) {
    throw new RicciError(`pairs ${path}: not a version-1 pairs file (seed, sftStep, trainVerifierCalls and train/validation/test pair lists); delete it to sample the pairs again`);
  }
  return file as PairsFile;
}
