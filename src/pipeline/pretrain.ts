/**
 * Pretraining: next-token prediction on the generated corpus, from a seeded random init.
 * `npm run pretrain -- --size ci` writes runs/ci/pretrain/{checkpoint.ckpt, metrics.jsonl, summary.json}.
 */
import { pretrainCorpus, sampleWindows } from "../data/corpus.js";
import { charTokenizer } from "../data/tokenizer.js";
import { initGpt } from "../nn/params.js";
import { trainLoop } from "../train/loop.js";
import { warmupCosine } from "../train/optimizer.js";
import { makeRng, subSeed } from "../util/random.js";
import { type LmBatch, lmObjective, meanLoss } from "./lm.js";
import { SIZES } from "./sizes.js";
import { finishedSummary, type LabelBudget, labelBudget, stageDir, type StageOptions, writeSummary } from "./stage.js";
import { fusedTrainer } from "../train/trainer.js";
import { fusedOptimizer } from "../train/fusedStep.js";

export interface PretrainSummary {
  readonly stage: "pretrain";
  readonly steps: number;
  readonly initialHeldOutLoss: number;
  readonly heldOutLoss: number;
  /** None: it reads plain text. */
  readonly labels: LabelBudget;
  readonly seconds: number;
}

export async function pretrain(options: StageOptions): Promise<PretrainSummary> {
  const settings = SIZES[options.size];
  const s = settings.pretrain;
  const config = settings.model;
  const seed = options.seed ?? 0;
  const dir = stageDir(options.root ?? "runs", options.size, "pretrain");
  const done = finishedSummary<PretrainSummary>(dir, s.steps);
  if (done !== null) return done;
  const corpus = pretrainCorpus(seed, settings.corpus);
  const train = charTokenizer.encode(corpus.train);
  const heldOut = charTokenizer.encode(corpus.heldOut);
  const lm = lmObjective(config, s.batch);
  const evalRng = makeRng(subSeed(seed, "pretrain/eval"));
  const evalBatches: LmBatch[] = Array.from({ length: 8 }, () => sampleWindows(heldOut, s.batch, config.context, evalRng));
  const schedule = warmupCosine({ peak: s.lr, warmupSteps: s.warmup, totalSteps: s.steps });
  const params = initGpt(config, subSeed(seed, "pretrain/init"));
  const optimizer = fusedOptimizer(lm.objective, { lr: schedule });
  const started = performance.now();
  const initialHeldOutLoss = meanLoss(lm, params, evalBatches);
  const result = await trainLoop({
    label: "pretrain",
    steps: s.steps,
    trainer: fusedTrainer({
      config, params, optimizer,
      batch: (step) => lm.inputs(sampleWindows(train, s.batch, config.context, makeRng(subSeed(seed, `pretrain/${step}/0`)))),
    }),
    tokensPerStep: s.batch * config.context,
    evaluate: () => ({ heldOutLoss: meanLoss(lm, params, evalBatches) }),
    evalEvery: s.evalEvery,
    outDir: dir,
    checkpointEvery: s.evalEvery,
    meta: { seed, size: options.size },
  });
  const summary: PretrainSummary = {
    stage: "pretrain",
    steps: s.steps,
    initialHeldOutLoss,
    heldOutLoss: result.lastEval.heldOutLoss ?? meanLoss(lm, params, evalBatches),
    labels: labelBudget({}),
    seconds: (performance.now() - started) / 1000,
  };
  writeSummary(dir, { ...summary });
  return summary;
}
