/**
 * Several seeds of the pipeline and what they say together: each seed is a whole pipeline in
 * its own folder (`<root>/seed-<k>`), and the seeds report gives every stage's test accuracy as
 * mean ± 95% t-interval over seeds, and each RL stage's gain over its own seed's SFT start with
 * a paired bootstrap interval (seeds and test problems resampled, the same problems for the SFT
 * and the RL policy). `npm run pipeline -- --seeds 3`.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { RicciError } from "../errors.js";
import { makeRng } from "../util/random.js";
import { runStageTasks } from "./processes.js";
import { type PipelineOptions, pipeline } from "./run.js";
import { readSummary, stageDir } from "./stage.js";
import { describeLabels, type StageRow } from "./report.js";

/** Two-sided 95% quantiles of Student's t for 1 … 30 degrees of freedom (then 1.96). */
const T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** Mean and the half-width of its 95% t-interval (NaN half-width for one value): `meanInterval([0.7, 0.6, 0.65])`. */
export function meanInterval(values: readonly number[]): { mean: number; halfWidth: number } {
  const n = values.length;
  if (n === 0) throw new RicciError("meanInterval: no values");
  const mean = values.reduce((s, v) => s + v, 0) / n;
  if (n === 1) return { mean, halfWidth: Number.NaN };
  const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
  return { mean, halfWidth: (T95[n - 2] ?? 1.96) * (sd / Math.sqrt(n)) };
}

/**
 * The mean gain of `after` over `before` (per seed, per problem: 1 correct, 0 not) and its 95%
 * paired bootstrap interval: each resample draws seeds with replacement, then problems with
 * replacement within each, and takes the same problems from both. Deterministic (seeded).
 */
export function pairedGain(before: readonly string[], after: readonly string[], resamples = 2000, seed = 0): { gain: number; low: number; high: number } {
  if (before.length === 0 || before.length !== after.length) throw new RicciError(`pairedGain: ${before.length} seeds before, ${after.length} after`);
  before.forEach((b, k) => {
    if (b.length !== after[k].length || b.length === 0) throw new RicciError(`pairedGain: seed ${k} has ${b.length} problems before and ${after[k].length} after`);
  });
  const diffs = before.map((b, k) => Array.from(b, (c, i) => Number(after[k][i]) - Number(c)));
  const meanGain = (seeds: readonly number[][]): number => seeds.reduce((s, d) => s + d.reduce((a, x) => a + x, 0) / d.length, 0) / seeds.length;
  const rng = makeRng(seed);
  const pickOne = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];
  const gains: number[] = [];
  for (let r = 0; r < resamples; r++) {
    const seeds = diffs.map(() => pickOne(diffs)).map((d) => d.map(() => pickOne(d)));
    gains.push(meanGain(seeds));
  }
  gains.sort((a, b) => a - b);
  return { gain: meanGain(diffs), low: gains[Math.floor(0.025 * resamples)], high: gains[Math.ceil(0.975 * resamples) - 1] };
}

const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}` : "–");
const signed = (v: number): string => `${v >= 0 ? "+" : ""}${(100 * v).toFixed(1)}`;

/** The RL stages whose gain over SFT the report states. */
const RL_STAGES = ["ppo", "grpo", "dpo", "trpo"];

/** Writes `<root>/<size>/<file>` (default seeds-report.md) from each seed's stage rows; returns its path. */
export function writeSeedsReport(root: string, size: string, seeds: readonly number[], runs: readonly (readonly StageRow[])[], file = "seeds-report.md"): string {
  const row = (k: number, stage: string): Record<string, unknown> => runs[k].find((r) => r.stage === stage)?.summary ?? {};
  const stages = runs[0].map((r) => r.stage).filter((stage) => typeof row(0, stage).testAccuracy === "number");
  const lines = [
    `# ricci pipeline over ${seeds.length} seeds (--size ${size})`,
    "",
    `Seeds ${seeds.join(", ")}, each in its own ${join(root, "seed-<k>")}. Test accuracy is greedy exact match on`,
    "the task's test side (never used for a choice: training curves and settings use the validation side), as mean",
    "± the half-width of a 95% t-interval over seeds. An RL stage's gain is over its own seed's SFT start, with a",
    "95% paired bootstrap interval (seeds and test problems resampled; the same problems for both policies).",
    "",
    "Labels used are seed " + String(seeds[0]) + "'s (sampled pair counts vary a little by seed): what the stage trained on.",
    "",
    "| stage | test accuracy, % (mean ± 95% CI) | per seed | gain over SFT, points [95% CI] | labels used |",
    "|---|---|---|---|---|",
    ...stages.map((stage) => {
      const accuracies = seeds.map((_, k) => row(k, stage).testAccuracy as number);
      const { mean, halfWidth } = meanInterval(accuracies);
      let gain = "–";
      if (RL_STAGES.includes(stage)) {
        const g = pairedGain(seeds.map((_, k) => row(k, "sft").testCorrect as string), seeds.map((_, k) => row(k, stage).testCorrect as string));
        gain = `${signed(g.gain)} [${signed(g.low)}, ${signed(g.high)}]`;
      }
      return `| ${stage} | ${pct(mean)} ± ${Number.isFinite(halfWidth) ? (100 * halfWidth).toFixed(1) : "–"} | ${accuracies.map(pct).join(", ")} | ${gain} | ${describeLabels(row(0, stage).labels)} |`;
    }),
    "",
  ];
  const rm = seeds.map((_, k) => row(k, "rm").testPairwiseAccuracy).filter((v): v is number => typeof v === "number");
  if (rm.length === seeds.length) {
    const { mean, halfWidth } = meanInterval(rm);
    lines.push(`Reward model (${describeLabels(row(0, "rm").labels)}), test pairwise accuracy: ${pct(mean)}% ± ${(100 * halfWidth).toFixed(1)} (per seed ${rm.map(pct).join(", ")}).`, "");
    const constructed = seeds.map((_, k) => row(k, "rm").testConstructedPairwiseAccuracy).filter((v): v is number => typeof v === "number");
    if (constructed.length === seeds.length) {
      const c = meanInterval(constructed);
      lines.push(`On test pairs constructed from gold answers (plausible mistakes): ${pct(c.mean)}% ± ${(100 * c.halfWidth).toFixed(1)} (per seed ${constructed.map(pct).join(", ")}).`, "");
    }
  }
  const trust = seeds.map((_, k) => row(k, "trpo")).filter((r) => typeof r.maxStepKl === "number" && typeof r.klBound === "number");
  if (trust.length === seeds.length) {
    const bound = trust[0].klBound as number;
    lines.push(`TRPO's largest proposed-step KL (the full step, accepted or not) per seed: ${trust.map((r) => `${((r.maxStepKl as number) / (r.klBound as number)).toFixed(2)}δ`).join(", ")} (δ = ${bound}; the check is ≤ 1.5δ).`, "");
  }
  mkdirSync(join(root, size), { recursive: true });
  const path = join(root, size, file);
  writeFileSync(`${path}.tmp`, `${lines.join("\n")}\n`);
  renameSync(`${path}.tmp`, path);
  return path;
}

/** The seeds `--seed` … `--seed` + N − 1 and their folders `<root>/seed-<k>`, for runs over `--seeds N`. */
function seedFolders(options: PipelineOptions & { readonly seeds: number }): { root: string; seeds: number[]; rootOf: (seed: number) => string } {
  if (!(Number.isInteger(options.seeds) && options.seeds >= 1)) throw new RicciError(`--seeds must be a positive integer, got ${options.seeds}`);
  const root = options.root ?? "runs";
  const first = options.seed ?? 0;
  return { root, seeds: Array.from({ length: options.seeds }, (_, i) => first + i), rootOf: (seed) => join(root, `seed-${seed}`) };
}

/** Runs the pipeline once per seed (0 … seeds − 1, or from `options.seed`), each in `<root>/seed-<k>`, then the seeds report. */
export async function pipelineSeeds(options: PipelineOptions & { readonly seeds: number }): Promise<{ report: string; seconds: number }> {
  const { root, seeds, rootOf } = seedFolders(options);
  const started = performance.now();
  const runs: StageRow[][] = [];
  for (const seed of seeds) {
    console.error(`\n==== seed ${seed} of ${seeds.join(", ")} ====`);
    runs.push((await pipeline({ ...options, seed, root: rootOf(seed) })).rows);
  }
  const report = writeSeedsReport(root, options.size, seeds, runs);
  return { report, seconds: (performance.now() - started) / 1000 };
}

/**
 * One stage over several seeds, each in `<root>/seed-<k>` (whose upstream stages must have run,
 * e.g. by `pipeline --seeds`), side by side in `jobs` child processes (default: the cores, at
 * most the seeds); then `<root>/<size>/seeds-<stage>.md`, the seeds report of SFT and the stage.
 * `ricci trpo --size full --seeds 3`.
 */
export async function stageSeeds(stage: string, options: PipelineOptions & { readonly seeds: number }): Promise<{ report: string; seconds: number }> {
  const { root, seeds, rootOf } = seedFolders(options);
  const started = performance.now();
  const tasks = seeds.map((seed) => ({ stage, options: { size: options.size, root: rootOf(seed), seed }, label: `${stage} seed ${seed}` }));
  const summaries = await runStageTasks(tasks, options.jobs ?? Math.min(availableParallelism(), seeds.length));
  const runs = seeds.map((seed, k): StageRow[] => [
    ...(stage === "sft" ? [] : [{ stage: "sft", summary: readSummary(stageDir(rootOf(seed), options.size, "sft")) ?? {} }]),
    { stage, summary: summaries[k] },
  ]);
  const report = writeSeedsReport(root, options.size, seeds, runs, `seeds-${stage}.md`);
  return { report, seconds: (performance.now() - started) / 1000 };
}
