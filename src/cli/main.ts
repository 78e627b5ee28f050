/**
 * The ricci command line: `tsx src/cli/main.ts <stage> [--size ci|full] [--root runs] [--seed 0]`.
 * Stages: pretrain, sft, rm, ppo, grpo, dpo, trpo, and `pipeline` (all of them in that order, then
 * the report). Each resumes from its own checkpoint. `ppo` also takes `--reward rule|model`;
 * `pipeline` takes `--jobs N`, the processes its RL stages run in (default: the cores, at most 4),
 * and `--seeds N`: N whole pipelines (seeds --seed … --seed + N − 1, each in <root>/seed-<k>)
 * and a report of every stage's test accuracy over them with 95% intervals. Any other stage with
 * `--seeds N` runs in each of those seeds' folders (their upstream stages done), side by side in
 * `--jobs` processes, and writes <root>/<size>/seeds-<stage>.md. `sft`, `ppo`, `grpo`
 * and `dpo` take `--lora RANK`: train LoRA adapters of that rank on every projection instead of
 * all weights (src/nn/lora.ts; give the run its own `--root`, as its stage folder is the usual one).
 */
import { describeBackend, initBackend } from "../lower/backend.js";
import { PIPELINE, pipeline } from "../pipeline/run.js";
import { pipelineSeeds, stageSeeds } from "../pipeline/seeds.js";
import { parseSize } from "../pipeline/sizes.js";
import { RicciError } from "../errors.js";
import { outcomeLines } from "./summary.js";
import type { LoraOptions } from "../nn/lora.js";
import { dpo } from "../pipeline/dpo.js";
import { grpo } from "../pipeline/grpo.js";
import { ppo } from "../pipeline/ppo.js";
import { sft } from "../pipeline/sft.js";

interface CliOptions {
  readonly size: "ci" | "full";
  readonly root: string;
  readonly seed: number;
  readonly reward?: "rule" | "model";
  readonly jobs?: number;
  readonly seeds?: number;
}

const stages: Record<string, (options: CliOptions) => Promise<object>> = {
  ...Object.fromEntries(PIPELINE),
  pipeline: (options) => (options.seeds === undefined ? pipeline(options) : pipelineSeeds({ ...options, seeds: options.seeds })),
};

/** The stages that train through LoRA adapters with `--lora RANK`. */
const loraStages: Record<string, (options: CliOptions, lora: LoraOptions) => Promise<object>> = {
  sft: (options, lora) => sft(options, { lora }),
  ppo: (options, lora) => ppo(options, { lora }),
  grpo: (options, lora) => grpo(options, { lora }),
  dpo: (options, lora) => dpo(options, { lora }),
};

function parseArgs(argv: readonly string[]): { stage: string; flags: Record<string, string> } {
  const [stage = "", ...rest] = argv;
  const flags: Record<string, string> = {};
  for (let i = 0; i < rest.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(rest[i]);
    if (m === null) throw new RicciError(`unexpected argument "${rest[i]}"`);
    flags[m[1]] = m[2] ?? rest[++i] ?? "";
  }
  return { stage, flags };
}

async function main(): Promise<void> {
  const { stage, flags } = parseArgs(process.argv.slice(2));
  if (!(stage in stages)) {
    console.error(`usage: ricci <${Object.keys(stages).join("|")}> [--size ci|full] [--root runs] [--seed 0] [--reward rule|model (ppo)] [--seeds N] [--jobs N (pipeline, --seeds)] [--lora RANK (${Object.keys(loraStages).join(", ")})]`);
    process.exitCode = 2;
    return;
  }
  await initBackend();
  const size = parseSize(flags.size);
  console.error(`ricci ${stage} --size ${size} on ${describeBackend()}`);
  const reward = flags.reward;
  if (reward !== undefined && reward !== "rule" && reward !== "model") throw new RicciError(`--reward must be "rule" or "model", got "${reward}"`);
  const jobs = flags.jobs === undefined ? undefined : Number(flags.jobs);
  if (jobs !== undefined && !(Number.isInteger(jobs) && jobs >= 1)) throw new RicciError(`--jobs must be a positive integer, got "${flags.jobs}"`);
  const seeds = flags.seeds === undefined ? undefined : Number(flags.seeds);
  if (seeds !== undefined && !(Number.isInteger(seeds) && seeds >= 1)) throw new RicciError(`--seeds must be a positive integer, got "${flags.seeds}"`);
  const rank = flags.lora === undefined ? undefined : Number(flags.lora);
  if (rank !== undefined && !(Number.isInteger(rank) && rank >= 1)) throw new RicciError(`--lora must be a positive integer (the adapters' rank), got "${flags.lora}"`);
  if (rank !== undefined && !(stage in loraStages)) throw new RicciError(`--lora applies to ${Object.keys(loraStages).join(", ")}, not ${stage}`);
  const root = flags.root ?? "runs";
  const options: CliOptions = {
    size, root, seed: Number(flags.seed ?? 0), ...(reward === undefined ? {} : { reward }), ...(jobs === undefined ? {} : { jobs }),
    ...(seeds === undefined ? {} : { seeds }),
  };
  if (seeds !== undefined && rank !== undefined) throw new RicciError("--seeds and --lora do not combine yet: run each seed's LoRA stage with --seed K and its own --root");
  const run = seeds !== undefined && stage !== "pipeline" ? () => stageSeeds(stage, { ...options, seeds }) : () => (rank === undefined ? stages[stage](options) : loraStages[stage](options, { rank }));
  const summary = await run();
  // The full numbers are in the summary files and the report; the terminal gets where they are.
  console.log(outcomeLines(stage, summary, { root, size }).join("\n"));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  process.exitCode = 1;
});
