/**
 * Supervised fine-tuning on the arithmetic task: cross-entropy on the response tokens only
 * (the loss mask), from the pretrained checkpoint. Held-out exact-match accuracy is measured
 * by greedy generation on the test split. With `lora` set, the SFT weights stay frozen behind
 * LoRA adapters (src/nn/lora.ts) and only those train; the checkpoint is the merged model.
 */
import { arithmeticProblems, formatExample, packSft, sftBatch } from "../data/arithmetic.js";
import { charTokenizer } from "../data/tokenizer.js";
import { loadCheckpoint } from "../train/checkpoint.js";
import { trainLoop } from "../train/loop.js";
import { warmupCosine } from "../train/optimizer.js";
import { makeRng, subSeed } from "../util/random.js";
import { exactMatch } from "../rl/evaluate.js";
import { lmObjective, meanLoss } from "./lm.js";
import { SIZES, type StageSettings } from "./sizes.js";
import { type LoraOptions, loraModel } from "../nn/lora.js";
import { fusedStageTrainer } from "../train/lora.js";
import { evalProblems, finishedSummary, stageDir, type StageOptions, stepZero, trainSideProblems, writeSummary, testResult, type TestResult, type LabelBudget, labelBudget, upstreamCheckpoint, loraMeta, loraSummary, type LoraSummary } from "./stage.js";
import { fusedOptimizer } from "../train/fusedStep.js";

export interface SftSummary extends TestResult, LoraSummary {
  readonly stage: "sft";
  readonly steps: number;
  readonly initialAccuracy: number;
  readonly accuracy: number;
  readonly wellFormed: number;
  readonly heldOutLoss: number;
  /** The gold answers of the `sftProblems` it imitates. */
  readonly labels: LabelBudget;
  readonly seconds: number;
}

/** SFT's settings: the size's (sizes.ts), and LoRA adapters instead of full fine-tuning (default null: off). */
export interface SftSettings extends StageSettings {
  readonly lora: LoraOptions | null;
}

/** Runs (or resumes) SFT: `await sft({ size: "ci" })`; `sft({ size: "ci" }, { lora: { rank: 8 }, lr: 1e-2 })` trains rank-8 adapters. */
export async function sft(options: StageOptions, overrides: Partial<SftSettings> = {}): Promise<SftSummary> {
  const settings = SIZES[options.size];
  const s: SftSettings = { ...settings.sft, lora: null, ...overrides };
  const config = settings.model;
  const seed = options.seed ?? 0;
  const root = options.root ?? "runs";
  const dir = stageDir(root, options.size, "sft");
  const done = finishedSummary<SftSummary>(dir, s.steps);
  if (done !== null) return done;
  const pretrainPath = upstreamCheckpoint(root, options.size, "pretrain", "sft");
  const examples = trainSideProblems(settings.task, settings.sftProblems).map(formatExample);
  const { validation } = arithmeticProblems(settings.task);
  const heldOut = evalProblems(options.size);
  const lm = lmObjective(config, s.batch, s.lora);
  const heldOutBatches = Array.from({ length: Math.floor(Math.min(validation.length, 256) / s.batch) }, (_, i) =>
    packSft(validation.slice(i * s.batch, (i + 1) * s.batch).map(formatExample), charTokenizer, config.context),
  );
  const schedule = warmupCosine({ peak: s.lr, warmupSteps: s.warmup, totalSteps: s.steps });
  const start = (await loadCheckpoint(pretrainPath, { expectConfig: config })).params;
  const lora = s.lora === null ? null : loraModel(config, start, s.lora, subSeed(seed, "sft/lora"));
  // What generation and the checkpoint read: the trained weights, or base + scale·A·B.
  const params = lora === null ? start : lora.merged;
  const optimizer = fusedOptimizer(lm.objective, { lr: schedule });
  const batch = (step: number) => lm.inputs(sftBatch(examples, charTokenizer, s.batch, config.context, makeRng(subSeed(seed, `sft/${step}/0`))));
  const started = performance.now();
  const result = await trainLoop({
    label: "sft",
    steps: s.steps,
    trainer: fusedStageTrainer({ config, params, optimizer, batch }, lora),
    tokensPerStep: s.batch * config.context,
    evaluate: async () => {
      const report = await exactMatch(config, params, heldOut);
      return { accuracy: report.accuracy, wellFormed: report.wellFormed, heldOutLoss: meanLoss(lm, lora === null ? params : lora.inputs(), heldOutBatches) };
    },
    evalEvery: s.evalEvery,
    outDir: dir,
    checkpointEvery: s.evalEvery,
    meta: { seed, size: options.size, task: settings.task, ...(s.lora === null ? {} : { lora: loraMeta(s.lora) }) },
  });
  const test = await testResult(config, params, evalProblems(options.size, "test"));
  const summary: SftSummary = {
    ...test,
    stage: "sft",
    steps: s.steps,
    initialAccuracy: stepZero(dir, "accuracy"),
    accuracy: result.lastEval.accuracy,
    wellFormed: result.lastEval.wellFormed,
    heldOutLoss: result.lastEval.heldOutLoss,
    labels: labelBudget({ goldAnswers: examples.length }),
    seconds: (performance.now() - started) / 1000,
    ...loraSummary(config, s.lora),
  };
  writeSummary(dir, { ...summary });
  return summary;
}
