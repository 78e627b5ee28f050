/**
 * The main job: every stage — pretrain → SFT → reward model → PPO, GRPO, DPO, TRPO — each resuming
 * from its own checkpoint, then the report. `npm run pipeline -- --size ci`. The RL stages read
 * only the SFT and reward-model checkpoints, so with `jobs` > 1 they run side by side in child
 * processes (src/pipeline/processes.ts); their numbers are the same either way.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { activeBackend } from "../lower/backend.js";
import { dpo } from "./dpo.js";
import { runStageProcesses } from "./processes.js";
import { grpo } from "./grpo.js";
import { ppo } from "./ppo.js";
import { pretrain } from "./pretrain.js";
import { headline, type StageRow, writeReport } from "./report.js";
import { rewardModel } from "./rm.js";
import { sft } from "./sft.js";
import { stageDir } from "./stage.js";
import { trpo } from "./trpo.js";
import type { RunSize } from "./sizes.js";
import { RicciError } from "../errors.js";

type Stage = (options: { size: RunSize; root: string; seed: number }) => Promise<object>;

/** The stages in the order they run; later stages start from the SFT checkpoint. */
export const PIPELINE: readonly (readonly [name: string, run: Stage])[] = [
  ["pretrain", pretrain],
  ["sft", sft],
  ["rm", rewardModel],
  ["ppo", ppo],
  ["grpo", grpo],
  ["dpo", dpo],
  ["trpo", trpo],
];

/**
 * Stages that depend only on SFT and the reward model, longest first (the order lanes take
 * them): at full size TRPO's 500 natural-gradient steps take longest, then PPO and GRPO.
 */
export const PARALLEL_STAGES: readonly string[] = ["trpo", "ppo", "grpo", "dpo"];

export interface PipelineOptions {
  readonly size: RunSize;
  readonly root?: string;
  readonly seed?: number;
  /** Processes for the RL stages (1: all in this process, in PIPELINE order). Default: the cores, at most 4. */
  readonly jobs?: number;
}

export async function pipeline(options: PipelineOptions): Promise<{ report: string; rows: StageRow[]; seconds: number }> {
  const root = options.root ?? "runs";
  const seed = options.seed ?? 0;
  const requested = options.jobs ?? availableParallelism();
  if (!(Number.isInteger(requested) && requested >= 1)) throw new RicciError(`pipeline: jobs must be a positive integer, got ${requested}`);
  // More processes than RL stages would idle: the report and the log state the ones that run.
  const jobs = Math.min(requested, PARALLEL_STAGES.length);
  const started = performance.now();
  const summaries = new Map<string, Record<string, unknown>>();
  const inProcess = jobs === 1 ? PIPELINE : PIPELINE.filter(([name]) => !PARALLEL_STAGES.includes(name));
  for (const [name, run] of inProcess) {
    const stageStarted = performance.now();
    console.error(`\n== ${name} ==`);
    const summary = (await run({ size: options.size, root, seed })) as Record<string, unknown>;
    console.error(`${name} done in ${((performance.now() - stageStarted) / 1000).toFixed(0)} s: ${headline(summary)} (${join(stageDir(root, options.size, name), "summary.json")})`);
    summaries.set(name, summary);
  }
  if (jobs > 1) {
    console.error(`\n== ${PARALLEL_STAGES.join(", ")} in ${jobs} processes ==`);
    const parallel = await runStageProcesses(PARALLEL_STAGES, { size: options.size, root, seed }, jobs);
    PARALLEL_STAGES.forEach((name, i) => summaries.set(name, parallel[i]));
  }
  const rows = PIPELINE.map(([stage]) => ({ stage, summary: summaries.get(stage) ?? {} }));
  const seconds = (performance.now() - started) / 1000;
  const report = writeReport(root, options.size, rows, { backend: activeBackend() ?? "?", seconds, jobs });
  return { report, rows, seconds };
}
