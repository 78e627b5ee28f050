/**
 * Stages side by side in child processes. The RL stages read only the SFT and reward-model
 * checkpoints, never each other's, so on a machine with several cores they finish in the time of
 * the longest lane instead of the sum (lanes beat threads here: a tiny GPT's ops are too small
 * for ONNX Runtime to spread well over cores, and tfjs wasm uses one thread anyway).
 * Each child is this package's own CLI (`src/cli/main.ts` under tsx, `dist/cli/main.js` when
 * built), so a stage computes exactly what it computes when run alone: same seed, same numbers.
 */
import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { createInterface } from "node:readline";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RunSize } from "./sizes.js";
import { readSummary, stageDir } from "./stage.js";
import { RicciError } from "../errors.js";
import { progressStream } from "../train/progress.js";

export interface StageProcessOptions {
  readonly size: RunSize;
  readonly root: string;
  readonly seed: number;
  /** ONNX Runtime threads for the child (RICCI_THREADS); default: the parent's setting. */
  readonly threads?: number;
}

/** The CLI entry point beside this module, and the node flags that run it (tsx for .ts sources). */
function cliCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  const cli = fileURLToPath(new URL(`../cli/main${extname(here)}`, import.meta.url));
  return extname(here) === ".ts" ? ["--import", import.meta.resolve("tsx"), cli] : [cli];
}

/**
 * Runs `ricci <stage>` in a child process, its log and outcome lines prefixed "[label] " (the
 * stage's name by default); resolves to the summary the stage wrote (`<root>/<size>/<stage>/summary.json`).
 */
export function runStageProcess(stage: string, options: StageProcessOptions, label = stage): Promise<Record<string, unknown>> {
  const args = [...cliCommand(), stage, "--size", options.size, "--root", options.root, "--seed", String(options.seed)];
  // The child keeps its progress on stderr and its outcome lines on stdout; the parent relays both
  // where its own progress goes (stdout in the kernel, where stderr shows as an error box).
  const env = { ...process.env, RICCI_PROGRESS: "stderr", ...(options.threads === undefined ? {} : { RICCI_THREADS: String(options.threads) }) };
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env });
  for (const output of [child.stderr, child.stdout]) createInterface({ input: output }).on("line", (line) => progressStream().write(`[${label}] ${line}\n`));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new RicciError(`stage ${label} exited with code ${code} (its log lines above start with [${label}])`));
      const dir = stageDir(options.root, options.size, stage);
      const summary = readSummary(dir);
      if (summary === null) return reject(new RicciError(`stage ${stage} finished but wrote no ${join(dir, "summary.json")}`));
      resolve(summary);
    });
  });
}

/** One stage run for `runStageTasks`: the stage, where and with which seed, and its log prefix (default: the stage). */
export interface StageTask {
  readonly stage: string;
  readonly options: StageProcessOptions;
  readonly label?: string;
}

/**
 * Runs `stages` in at most `jobs` child processes at once, each lane taking the next stage as it
 * frees up (so list the longest first). The cores are shared out between the lanes (each child's
 * ONNX Runtime gets cores / lanes threads unless RICCI_THREADS is set). Every stage runs to the
 * end even if another fails; the failures are then thrown together. Resolves to the summaries in
 * the order of `stages`.
 */
export function runStageProcesses(stages: readonly string[], options: StageProcessOptions, jobs: number): Promise<Record<string, unknown>[]> {
  return runStageTasks(stages.map((stage) => ({ stage, options })), jobs);
}

/** `runStageProcesses` for runs that differ in more than the stage (e.g. one stage over several seeds' folders). */
export async function runStageTasks(tasks: readonly StageTask[], jobs: number): Promise<Record<string, unknown>[]> {
  const results: PromiseSettledResult<Record<string, unknown>>[] = new Array(tasks.length);
  const lanes = Math.max(1, Math.min(jobs, tasks.length));
  const shared = process.env.RICCI_THREADS ? undefined : Math.max(1, Math.floor(availableParallelism() / lanes));
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      const { stage, options, label = stage } = tasks[i];
      const started = performance.now();
      const [settled] = await Promise.allSettled([runStageProcess(stage, { ...options, threads: options.threads ?? shared }, label)]);
      results[i] = settled;
      const outcome = settled.status === "fulfilled" ? "done" : "failed";
      console.error(`${label} ${outcome} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  const failures = results.flatMap((r) => (r.status === "rejected" ? [String(r.reason instanceof Error ? r.reason.message : r.reason)] : []));
  if (failures.length > 0) throw new RicciError(`${failures.length} of ${tasks.length} stages failed:\n${failures.join("\n")}`);
  return results.map((r) => (r as PromiseFulfilledResult<Record<string, unknown>>).value);
}
