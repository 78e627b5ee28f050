/**
 * The main job: every stage in order — pretrain → SFT → reward model → PPO, GRPO, DPO, TRPO — each resuming
 * from its own checkpoint, then the report. `npm run pipeline -- --size ci`.
 */
import { activeBackend } from "../lower/backend.js";
import { dpo } from "./dpo.js";
import { grpo } from "./grpo.js";
import { ppo } from "./ppo.js";
import { pretrain } from "./pretrain.js";
import { type StageRow, writeReport } from "./report.js";
import { rewardModel } from "./rm.js";
import { sft } from "./sft.js";
import { trpo } from "./trpo.js";
import type { RunSize } from "./sizes.js";

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

export async function pipeline(options: { size: RunSize; root?: string; seed?: number }): Promise<{ report: string; rows: StageRow[] }> {
  const root = options.root ?? "runs";
  const rows: StageRow[] = [];
  for (const [name, run] of PIPELINE) {
    const started = performance.now();
    console.error(`\n== ${name} ==`);
    const summary = (await run({ size: options.size, root, seed: options.seed ?? 0 })) as Record<string, unknown>;
    console.error(`${name} done in ${((performance.now() - started) / 1000).toFixed(0)} s: ${JSON.stringify(summary)}`);
    rows.push({ stage: name, summary });
  }
  const report = writeReport(root, options.size, rows, activeBackend() ?? "?");
  return { report, rows };
}
