/**
 * LoRA against full fine-tuning at `--size ci` (`RICCI_THREADS=1 npx tsx bench/lora.ts`):
 *  - SFT from a ci pretrain checkpoint, `SFT_STEPS` fused steps each: full (the ci learning
 *    rate 2e-3), LoRA rank 8 at the same learning rate, and LoRA rank 8 at 5× it;
 *  - GRPO from a ci SFT checkpoint, `GRPO_STEPS` steps each: full (ci's 5e-5) and LoRA rank 8 (10×);
 *  - DPO and PPO as their stages run them (`dpo`, `ppo` with the ci settings, each in its own
 *    temporary root holding a copy of the SFT checkpoint): full, and LoRA rank 8 at 10× the lr.
 * For each: median ms per step, trainable parameters, AdamW state floats (two moments per
 * trainable parameter), and where it ended: held-out loss and greedy accuracy (SFT), mean rollout
 * reward of the last 5 steps and held-out accuracy (GRPO), the stage summary's test accuracy, KL
 * from SFT and seconds (DPO, PPO; their seconds include the stage's two held-out evaluations).
 * Writes bench/results/lora.json.
 * `--only dpo,ppo` runs those parts alone and keeps the others' entries in the results file.
 * Checkpoints are read from RICCI_LORA_CKPTS (default runs/ci): <dir>/pretrain/checkpoint.ckpt
 * and <dir>/sft/checkpoint.ckpt, as `npm run pipeline -- --size ci` writes them.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { arithmeticProblems, formatExample, packSft, sftBatch } from "../src/data/arithmetic.js";
import { charTokenizer } from "../src/data/tokenizer.js";
import { describeBackend, initBackend } from "../src/index.js";
import { type LoraOptions, loraModel, loraSizes } from "../src/nn/lora.js";
import type { Params } from "../src/nn/params.js";
import { DPO_SETTINGS, dpo } from "../src/pipeline/dpo.js";
import { GRPO_SETTINGS } from "../src/pipeline/grpo.js";
import { pairsPath } from "../src/pipeline/pairs.js";
import { PPO_SETTINGS, ppo } from "../src/pipeline/ppo.js";
import { lmObjective, meanLoss } from "../src/pipeline/lm.js";
import { SIZES } from "../src/pipeline/sizes.js";
import { evalProblems, trainSideProblems } from "../src/pipeline/stage.js";
import { exactMatch } from "../src/rl/evaluate.js";
import { grpoTrainer } from "../src/rl/grpo.js";
import { loadCheckpoint } from "../src/train/checkpoint.js";
import { fusedOptimizer } from "../src/train/fusedStep.js";
import { fusedStageTrainer, loraTrainer } from "../src/train/lora.js";
import { adamW, warmupCosine } from "../src/train/optimizer.js";
import { type Trainer, gradientTrainer } from "../src/train/trainer.js";
import { makeRng, subSeed } from "../src/util/random.js";

const SFT_STEPS = 1200; // the ci SFT stage's
const GRPO_STEPS = 40; // the ci GRPO stage's
const RANK8: LoraOptions = { rank: 8 };
const size = "ci";
const settings = SIZES[size];
const config = settings.model;
const checkpoints = process.env.RICCI_LORA_CKPTS ?? join("runs", size);

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Runs `steps` steps, timing each (the first 3 are compile warm-up and left out of the median). */
async function timed(trainer: Trainer, steps: number): Promise<{ msPerStep: number; history: Record<string, number>[] }> {
  const times: number[] = [];
  const history: Record<string, number>[] = [];
  for (let step = 1; step <= steps; step++) {
    const t0 = performance.now();
    history.push(await trainer.step(step));
    times.push(performance.now() - t0);
  }
  return { msPerStep: median(times.slice(3)), history };
}

const sizesOf = (lora: LoraOptions | null) => {
  const s = loraSizes(config, lora ?? RANK8);
  return lora === null ? { trainable: s.full, optimizerFloats: s.fullOptimizerFloats } : { trainable: s.trainable, optimizerFloats: s.optimizerFloats };
};

async function sftRun(lora: LoraOptions | null, lr: number): Promise<Record<string, unknown>> {
  const start = (await loadCheckpoint(join(checkpoints, "pretrain", "checkpoint.ckpt"), { expectConfig: config })).params;
  const s = settings.sft;
  const examples = trainSideProblems(settings.task, settings.sftProblems).map(formatExample);
  const lm = lmObjective(config, s.batch, lora);
  const model = lora === null ? null : loraModel(config, start, lora, 0);
  const params: Params = model === null ? start : model.merged;
  const optimizer = fusedOptimizer(lm.objective, { lr: warmupCosine({ peak: lr, warmupSteps: s.warmup, totalSteps: SFT_STEPS }) });
  const batch = (step: number) => lm.inputs(sftBatch(examples, charTokenizer, s.batch, config.context, makeRng(subSeed(0, `sft/${step}/0`))));
  const trainer = fusedStageTrainer({ config, params, optimizer, batch }, model);
  const { msPerStep, history } = await timed(trainer, SFT_STEPS);
  const { validation } = arithmeticProblems(settings.task);
  const heldOut = Array.from({ length: Math.floor(256 / s.batch) }, (_, i) => packSft(validation.slice(i * s.batch, (i + 1) * s.batch).map(formatExample), charTokenizer, config.context));
  const report = await exactMatch(config, params, evalProblems(size));
  return {
    method: lora === null ? "full" : `lora rank ${lora.rank}`, lr, steps: SFT_STEPS, msPerStep, ...sizesOf(lora),
    trainLossLast10: history.slice(-10).reduce((a, r) => a + r.loss, 0) / 10,
    heldOutLoss: meanLoss(lm, model === null ? params : model.inputs(), heldOut),
    accuracy: report.accuracy,
  };
}

async function grpoRun(lora: LoraOptions | null, lr: number): Promise<Record<string, unknown>> {
  const path = join(checkpoints, "sft", "checkpoint.ckpt");
  const reference = (await loadCheckpoint(path, { expectConfig: config })).params;
  const model = lora === null ? null : loraModel(config, reference, lora, 0);
  const params = model === null ? (await loadCheckpoint(path, { expectConfig: config })).params : model.merged;
  const g = GRPO_SETTINGS[size];
  const optimizer = adamW(model === null ? params : model.adapters, { lr: warmupCosine({ peak: lr, warmupSteps: g.warmup, totalSteps: GRPO_STEPS, minRatio: g.minLrRatio }), weightDecay: 0 });
  const rollouts = grpoTrainer(config, params, reference, trainSideProblems(settings.task, g.trainProblems), { promptsPerStep: g.promptsPerStep, groupSize: g.groupSize, beta: g.beta, seed: 0 }, model ?? undefined);
  const microstep = (step: number, micro: number) => rollouts.microstep(step, micro);
  const trainer = model === null ? gradientTrainer({ config, params, optimizer, microstep }) : loraTrainer(gradientTrainer({ config, params: model.adapters, optimizer, microstep }), model);
  const { msPerStep, history } = await timed(trainer, GRPO_STEPS);
  const report = await exactMatch(config, params, evalProblems(size));
  return {
    method: lora === null ? "full" : `lora rank ${lora.rank}`, lr, steps: GRPO_STEPS, msPerStep, ...sizesOf(lora),
    rewardMeanFirst5: history.slice(0, 5).reduce((a, r) => a + r.rewardMean, 0) / 5,
    rewardMeanLast5: history.slice(-5).reduce((a, r) => a + r.rewardMean, 0) / 5,
    accuracy: report.accuracy,
  };
}

/**
 * A stage run as the pipeline runs it, in a fresh root beside a copy of the SFT checkpoint (and
 * of DPO's sampled pairs once the first run has made them): its summary's numbers.
 */
async function stageRun(
  stage: "dpo" | "ppo", lora: LoraOptions | null, lr: number, shared: string,
): Promise<Record<string, unknown>> {
  const root = mkdtempSync(join(tmpdir(), `ricci-bench-lora-${stage}-`));
  mkdirSync(join(root, size, "sft"), { recursive: true });
  copyFileSync(join(checkpoints, "sft", "checkpoint.ckpt"), join(root, size, "sft", "checkpoint.ckpt"));
  const pairs = pairsPath(shared, size);
  const copy = (from: string, to: string): void => {
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(from, to);
  };
  if (existsSync(pairs)) copy(pairs, pairsPath(root, size));
  const summary: Record<string, unknown> & { steps: number; seconds: number } = stage === "dpo"
    ? { ...(await dpo({ size, root }, { lora, lr })) }
    : { ...(await ppo({ size, root }, { lora, lr })) };
  if (!existsSync(pairs) && existsSync(pairsPath(root, size))) copy(pairsPath(root, size), pairs);
  return {
    method: lora === null ? "full" : `lora rank ${lora.rank}`, lr, steps: summary.steps, ...sizesOf(lora),
    seconds: summary.seconds, initialAccuracy: summary.initialAccuracy, accuracy: summary.accuracy, testAccuracy: summary.testAccuracy,
    klFromReference: summary.klFromReference,
    ...(stage === "dpo" ? { preferenceAccuracy: summary.preferenceAccuracy } : { rewardMean: summary.rewardMean }),
  };
}

const PARTS = ["sft", "grpo", "dpo", "ppo"] as const;
type Part = (typeof PARTS)[number];
const RESULTS = "bench/results/lora.json";

/** The runs of one part, each as its JSON record. */
async function runPart(part: Part, shared: string): Promise<Record<string, unknown>[]> {
  const runs: Record<string, unknown>[] = [];
  const record = async (run: Promise<Record<string, unknown>>): Promise<void> => {
    runs.push(await run);
    console.log(part, JSON.stringify(runs.at(-1)));
  };
  if (part === "sft") for (const [lora, lr] of [[null, 2e-3], [RANK8, 2e-3], [RANK8, 1e-2]] as const) await record(sftRun(lora, lr));
  if (part === "grpo") for (const [lora, lr] of [[null, 5e-5], [RANK8, 5e-4]] as const) await record(grpoRun(lora, lr));
  if (part === "dpo") for (const [lora, lr] of [[null, DPO_SETTINGS[size].lr], [RANK8, 10 * DPO_SETTINGS[size].lr]] as const) await record(stageRun("dpo", lora, lr, shared));
  if (part === "ppo") for (const [lora, lr] of [[null, PPO_SETTINGS[size].lr], [RANK8, 10 * PPO_SETTINGS[size].lr]] as const) await record(stageRun("ppo", lora, lr, shared));
  return runs;
}

/**
 * `npx tsx bench/lora.ts [--only dpo,ppo]`: runs the parts named (default all) and replaces
 * their entries in bench/results/lora.json, keeping the others; each part records its own
 * backend, date and seconds.
 */
async function main(): Promise<void> {
  const at = process.argv.indexOf("--only");
  const only = at < 0 ? [...PARTS] : (process.argv[at + 1] ?? "").split(",");
  const unknown = only.filter((p) => !(PARTS as readonly string[]).includes(p));
  if (unknown.length > 0) throw new Error(`bench:lora: --only takes ${PARTS.join(", ")}; got ${unknown.join(", ")}`);
  await initBackend();
  console.log(`ricci bench:lora on ${describeBackend()} (node ${process.version}), --size ${size}, checkpoints from ${checkpoints}, parts ${only.join(", ")}`);
  const result: Record<string, unknown> = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, "utf8")) as Record<string, unknown>) : {};
  const shared = mkdtempSync(join(tmpdir(), "ricci-bench-lora-pairs-"));
  for (const part of only as Part[]) {
    const started = performance.now();
    const runs = await runPart(part, shared);
    result[part] = { backend: describeBackend(), node: process.version, threads: process.env.RICCI_THREADS ?? null, size, date: new Date().toISOString(), seconds: (performance.now() - started) / 1000, runs };
    mkdirSync("bench/results", { recursive: true });
    writeFileSync(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${part} to ${RESULTS}`);
  }
}

void main();
