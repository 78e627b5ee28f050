/**
 * Mutation testing of the core: runs Stryker (stryker.config.json: vitest runner, the core test
 * files of vitest.stryker.config.ts, concurrency 1) and records, per source folder, the mutation
 * score and the killed / survived / timeout / no-coverage counts in bench/results/mutation.json.
 * Not part of `npm test`: a full run takes hours on two cores; narrow it to a folder or a file:
 *
 *   npm run mutation                                        # src/autodiff, src/dsl, src/lower
 *   npm run mutation -- --mutate 'src/autodiff/**\/*.ts'    # one folder (other Stryker flags pass through)
 *   npm run mutation -- --summary-only                      # re-read the last report
 *   npm run mutation -- --config other.json --mutate …      # another config (its own tempDirName and
 *                                                           # jsonReporter.fileName let two runs go side by side)
 *
 * Each run replaces the entries of the folders it measured and keeps the others, so per-folder
 * runs add up to one table. A narrowed run's entry says what it mutated (`mutate`).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

const RESULTS = "bench/results/mutation.json";

/** What Stryker's JSON report (mutation-testing-report-schema) holds that the summary reads. */
interface Report {
  readonly files: Record<string, { readonly mutants: readonly { readonly status: string }[] }>;
}

export interface Counts {
  killed: number;
  survived: number;
  timeout: number;
  noCoverage: number;
  /** Mutants that do not compile or crash the run: not counted in the score (Stryker's rule). */
  errors: number;
  ignored: number;
}

export interface FolderResult extends Counts {
  /** (killed + timeout) / (killed + timeout + survived + noCoverage), in percent. */
  readonly score: number;
  /** The same over covered mutants only (no-coverage excluded). */
  readonly coveredScore: number;
  readonly date: string;
  readonly runSeconds: number;
  /** The `mutate` patterns of the run that measured this folder. */
  readonly mutate: readonly string[];
}

const empty = (): Counts => ({ killed: 0, survived: 0, timeout: 0, noCoverage: 0, errors: 0, ignored: 0 });

/** Adds a mutant's status to `c` (statuses as Stryker's JSON report spells them). */
function tally(c: Counts, status: string): void {
  switch (status) {
    case "Killed": c.killed++; break;
    case "Survived": c.survived++; break;
    case "Timeout": c.timeout++; break;
    case "NoCoverage": c.noCoverage++; break;
    case "CompileError": case "RuntimeError": c.errors++; break;
    default: c.ignored++; // Ignored, Pending
  }
}

const percent = (num: number, den: number): number => (den === 0 ? 100 : Math.round((1000 * num) / den) / 10);

/** Counts per folder (`src/autodiff`, `src/lower/onnx` rolls up into `src/lower`), and in total. */
export function summarize(report: Report): Record<string, Counts> {
  const byFolder: Record<string, Counts> = {};
  for (const [file, { mutants }] of Object.entries(report.files)) {
    const parts = file.replace(/\\/g, "/").split("/");
    const folder = parts.length > 2 ? parts.slice(0, 2).join("/") : dirname(file);
    const c = (byFolder[folder] ??= empty());
    for (const m of mutants) tally(c, m.status);
  }
  return byFolder;
}

export function scoreOf(c: Counts): { score: number; coveredScore: number } {
  const detected = c.killed + c.timeout;
  return { score: percent(detected, detected + c.survived + c.noCoverage), coveredScore: percent(detected, detected + c.survived) };
}

interface StrykerConfig {
  readonly mutate: string[];
  readonly jsonReporter?: { readonly fileName?: string };
}

/** The value after `flag` in `args`, and `args` without the two. */
function takeOption(args: string[], flag: string): [string | undefined, string[]] {
  const at = args.indexOf(flag);
  return at < 0 ? [undefined, args] : [args[at + 1], [...args.slice(0, at), ...args.slice(at + 2)]];
}

function main(): void {
  const args = process.argv.slice(2);
  const summaryOnly = args.includes("--summary-only");
  const [configFile = "stryker.config.json", strykerArgs] = takeOption(args.filter((a) => a !== "--summary-only"), "--config");
  const config = JSON.parse(readFileSync(configFile, "utf8")) as StrykerConfig;
  const report = config.jsonReporter?.fileName ?? "reports/mutation/mutation.json";
  const t0 = Date.now();
  if (!summaryOnly) {
    const run = spawnSync("npx", ["stryker", "run", configFile, ...strykerArgs], { stdio: "inherit" });
    if (run.status !== 0) process.exit(run.status ?? 1);
  }
  const runSeconds = Math.round((Date.now() - t0) / 1000);
  if (!existsSync(report)) throw new Error(`no Stryker report at ${report}; run without --summary-only first`);
  const files = (JSON.parse(readFileSync(report, "utf8")) as Report);
  const [mutateArg] = takeOption(strykerArgs, "--mutate");
  const mutate = mutateArg !== undefined ? mutateArg.split(",") : config.mutate;
  const previous = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, "utf8")) as { folders?: Record<string, FolderResult> }) : {};
  const folders: Record<string, FolderResult> = { ...(previous.folders ?? {}) };
  const date = new Date().toISOString();
  for (const [folder, c] of Object.entries(summarize(files))) {
    folders[folder] = { ...scoreOf(c), ...c, date, runSeconds: summaryOnly ? (previous.folders?.[folder]?.runSeconds ?? 0) : runSeconds, mutate };
  }
  const total = Object.values(folders).reduce((acc, f) => {
    for (const k of Object.keys(acc) as (keyof Counts)[]) acc[k] += f[k];
    return acc;
  }, empty());
  const result = { date, node: process.version, stryker: "9.6.1", folders, total: { ...scoreOf(total), ...total } };
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
  for (const [folder, f] of Object.entries(folders).sort()) {
    console.log(`${folder.padEnd(14)} ${f.score.toFixed(1).padStart(5)}%  killed ${f.killed}, survived ${f.survived}, timeout ${f.timeout}, no coverage ${f.noCoverage}  (${f.runSeconds} s, ${f.date.slice(0, 10)})`);
  }
  console.log(`wrote ${RESULTS}`);
}

main();
