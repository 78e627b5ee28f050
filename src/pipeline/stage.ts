/** What every pipeline stage shares: its output folder, resuming from its checkpoint, and its summary. */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exactMatch, heldOutScore } from "../rl/evaluate.js";
import type { Params } from "../nn/params.js";
import type { GptConfig } from "../nn/gpt.js";
import { ARITHMETIC_PRESETS, type ArithmeticPresetName, type ArithmeticProblem, arithmeticProblems } from "../data/arithmetic.js";
import { readMetrics } from "../train/progress.js";
import { checkpointFile } from "../train/trainer.js";
import { makeRng, shuffled, subSeed } from "../util/random.js";
import { type RunSize, SIZES } from "./sizes.js";
import { RicciError } from "../errors.js";
import type { Verifier } from "../rl/sampledPreferences.js";
import type { PairSettings } from "./pairs.js";
import { LORA_TARGETS, type LoraModel, type LoraOptions, loraAlpha, loraModel, loraSizes } from "../nn/lora.js";
import { type JsonValue, loadCheckpoint } from "../train/checkpoint.js";

/** Where and how a stage runs: `{ size: "ci", root: "runs", seed: 0 }`. */
export interface StageOptions {
  readonly size: RunSize;
  readonly root?: string;
  readonly seed?: number;
}

/**
 * Test-only knobs: a smaller model than the size's (its SFT checkpoint must match); for the
 * sampled preference pairs, other sampling settings and another verifier.
 */
export interface StageInternals {
  readonly model?: GptConfig;
  readonly pairs?: Partial<PairSettings>;
  readonly verify?: Verifier;
}

/**
 * The held-out problems of a run size: the validation side by default (every evaluation during
 * training, so every setting is chosen on it), or the test side (scored once, at a stage's end,
 * and only reported).
 */
export function evalProblems(size: RunSize, side: "validation" | "test" = "validation"): ArithmeticProblem[] {
  return arithmeticProblems(SIZES[size].task)[side].slice(0, SIZES[size].evalProblems);
}

/** A policy's result on the test side, measured once at the end of its stage. */
export interface TestResult {
  /** Greedy exact-match accuracy and format on the test problems. */
  readonly testAccuracy: number;
  readonly testWellFormed: number;
  /** Per test problem, in order, "1" if answered correctly else "0": for gains paired by problem. */
  readonly testCorrect: string;
}

/** `await testResult(config, params, evalProblems(size, "test"))`. */
export async function testResult(config: GptConfig, params: Params, problems: readonly ArithmeticProblem[]): Promise<TestResult> {
  const report = await exactMatch(config, params, problems);
  return { testAccuracy: report.accuracy, testWellFormed: report.wellFormed, testCorrect: report.samples.map((s) => (s.correct ? "1" : "0")).join("") };
}

/** Every record of a stage's metrics.jsonl (across resumes). */
export const stageHistory = (dir: string): Record<string, number>[] => readMetrics(join(dir, "metrics.jsonl"));

/** A metric of the step-0 evaluation in a stage's metrics.jsonl (the start of a resumed run). */
export function stepZero(dir: string, key: string): number {
  return stageHistory(dir).find((r) => r.step === 0)?.[key] ?? Number.NaN;
}

/**
 * Batch `index` of an epoch-wise shuffled pass over `items` (a fresh seeded order each epoch,
 * batches never straddle two epochs): deterministic in (seed, index), so a resumed run draws
 * what the uninterrupted one would. `epochBatch(pairs, 16, step - 1, seed)`.
 */
export function epochBatch<T>(items: readonly T[], size: number, index: number, seed: number): T[] {
  const epoch = epochOf(items.length, size, index);
  const at = (index % Math.floor(items.length / size)) * size;
  return shuffled(items, makeRng(subSeed(seed, `epoch/${epoch}`))).slice(at, at + size);
}

/** The epoch that batch `index` of `epochBatch(items, size, index, seed)` belongs to. */
export function epochOf(items: number, size: number, index: number): number {
  if (size > items) throw new RicciError(`epochBatch: batch of ${size} from only ${items} items`);
  return Math.floor(index / Math.floor(items / size));
}

export const stageDir = (root: string, size: RunSize, stage: string): string => join(root, size, stage);
/** A stage's (policy's) checkpoint: where the training loop keeps it. */
export const checkpointPath = (dir: string): string => checkpointFile(dir, "policy");

/** The stages that later ones start from, with the notebook that runs each. */
const UPSTREAM_NOTEBOOKS = { pretrain: "01-pretraining.ipynb", sft: "02-sft.ipynb", rm: "03-reward-model.ipynb" } as const;
export type UpstreamStage = keyof typeof UPSTREAM_NOTEBOOKS;

/**
 * The checkpoint of the earlier stage that `stage` starts from, or a RicciError that says which
 * command or notebook makes it (rather than a missing file's ENOENT):
 * `upstreamCheckpoint("runs", "ci", "pretrain", "sft")` → "runs/ci/pretrain/checkpoint.ckpt".
 */
export function upstreamCheckpoint(root: string, size: RunSize, upstream: UpstreamStage, stage: string): string {
  const path = checkpointPath(stageDir(root, size, upstream));
  if (existsSync(path)) return path;
  const flags = `--size ${size}${root === "runs" ? "" : ` --root ${root}`}`;
  throw new RicciError(
    `${stage} starts from the ${upstream} stage's checkpoint, and ${path} does not exist yet. Run the ${upstream} stage first: ` +
      `\`npm run ${upstream} -- ${flags}\` in this repository, \`npx ricci ${upstream} ${flags}\` where ricci is installed, ` +
      `or the notebook ${UPSTREAM_NOTEBOOKS[upstream]}.`,
  );
}

/** Writes `summary.json` atomically. */
export function writeSummary(dir: string, summary: Record<string, unknown>): void {
  const path = join(dir, "summary.json");
  writeFileSync(`${path}.tmp`, `${JSON.stringify(summary, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

export function readSummary(dir: string): Record<string, unknown> | null {
  const path = join(dir, "summary.json");
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>) : null;
}

/**
 * The stored summary of a stage that already finished `steps` steps (a rerun then does no
 * work), or null when it has to run or resume.
 */
export function finishedSummary<T>(dir: string, steps: number): T | null {
  const summary = readSummary(dir);
  return summary !== null && typeof summary.steps === "number" && summary.steps >= steps && existsSync(checkpointPath(dir)) ? (summary as T) : null;
}

/**
 * The labels a stage trained on, for the report's label-budget column: gold answers (SFT's
 * targets, or the answers behind constructed preference pairs), verifier calls (a reward or a
 * pair judged by checking the sum), and preference pairs. Evaluation is not counted.
 */
export interface LabelBudget {
  readonly goldAnswers: number;
  readonly verifierCalls: number;
  readonly preferencePairs: number;
}

/** `labelBudget({ verifierCalls: 2048 })`: the budget with the other counts 0. */
export const labelBudget = (used: Partial<LabelBudget>): LabelBudget => ({ goldAnswers: 0, verifierCalls: 0, preferencePairs: 0, ...used });

/** What every RL stage reports: held-out accuracy and drift from the SFT reference, and rollout reward. */
export interface RlStageSummary extends TestResult, LoraSummary {
  readonly steps: number;
  /** Validation greedy exact-match accuracy of the SFT start and after the stage. */
  readonly initialAccuracy: number;
  readonly accuracy: number;
  readonly initialWellFormed: number;
  readonly wellFormed: number;
  /** KL(π ‖ π_SFT) per sequence on held-out prompts, nats. */
  readonly klFromReference: number;
  /** Mean reward of the first and last rollouts (train prompts, sampled at T = 1). */
  readonly initialRewardMean: number;
  readonly rewardMean: number;
  readonly labels: LabelBudget;
  readonly seconds: number;
}

/**
 * The first `count` train-side problems of the task: SFT's labelled problems (`sftProblems`),
 * and, extended, the prompts of the RL stages and the problems of the preference pairs.
 */
export function trainSideProblems(task: ArithmeticPresetName, count: number): ArithmeticProblem[] {
  return arithmeticProblems({ ...ARITHMETIC_PRESETS[task], trainSize: count }).train;
}

/**
 * The held-out evaluation every RL stage logs: greedy exact-match accuracy and format on
 * `problems`, and the KL of the policy from the SFT reference, sampled with a seed fixed per run
 * so that evaluations compare. `evaluate: rlEvaluation(config, policy, reference, heldOut, seed)`.
 */
export function rlEvaluation(config: GptConfig, policy: Params, reference: Params, problems: readonly ArithmeticProblem[], seed: number): () => Promise<Record<string, number>> {
  return async () => {
    const score = await heldOutScore(config, policy, reference, problems, { seed: 1234 + seed });
    return { accuracy: score.accuracy, wellFormed: score.wellFormed, klFromReference: score.klFromReference };
  };
}

/** The fields `keys` of `o`: how a stage hands the trainer the part of its settings that are trainer options. */
export function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}

/** LoRA's options as the JSON a checkpoint's meta keeps (null: full fine-tuning), alpha resolved. */
export function loraMeta(lora: LoraOptions | null): JsonValue {
  if (lora === null) return null;
  return { rank: lora.rank, alpha: loraAlpha(lora), targets: [...(lora.targets ?? LORA_TARGETS)] };
}

/** What a stage's summary says of LoRA: absent for full fine-tuning. */
export interface LoraSummary {
  /** The adapters' options and trainable parameter count. */
  readonly lora?: LoraOptions & { readonly trainable: number };
}

/** The summary's LoRA fields: `{ ...summary, ...loraSummary(config, s.lora) }`. */
export function loraSummary(config: GptConfig, lora: LoraOptions | null): LoraSummary {
  return lora === null ? {} : { lora: { ...lora, alpha: loraAlpha(lora), trainable: loraSizes(config, lora).trainable } };
}

/**
 * The policy an RL stage trains from SFT (`sftPath`, whose weights `reference` already holds): a
 * fresh copy of the SFT weights, or with `lora` adapters on `reference`, which stays frozen and is
 * the KL reference itself (TRL's PEFT reference: the model with its adapters disabled); the
 * policy is then the merged weights. `await startingPolicy(config, sftPath, reference, s.lora, seed, "grpo")`.
 */
export async function startingPolicy(
  config: GptConfig, sftPath: string, reference: Params, lora: LoraOptions | null, seed: number, stage: string,
): Promise<{ readonly lora: LoraModel | null; readonly params: Params }> {
  if (lora === null) return { lora: null, params: (await loadCheckpoint(sftPath, { expectConfig: config })).params };
  const model = loraModel(config, reference, lora, subSeed(seed, `${stage}/lora`));
  return { lora: model, params: model.merged };
}
