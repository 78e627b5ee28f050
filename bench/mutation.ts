/**
 * Mutation testing of the core: runs Stryker (stryker.config.json: vitest runner, the core test
 * files of vitest.stryker.config.ts, concurrency 1) and records, per source file and per folder,
 * the mutation score and the killed / survived / timeout / no-coverage counts in
 * bench/results/mutation.json. Not part of `npm test`: a full run takes hours on two busy cores;
 * narrow it to a folder or to files:
 *
 *   npm run mutation                                        # src/autodiff, src/dsl, src/lower
 *   npm run mutation -- --mutate 'src/autodiff/**\/*.ts'    # one folder (other Stryker flags pass through)
 *   npm run mutation -- --mutate src/lower/contract.ts,src/lower/layout.ts
 *   npm run mutation -- --summary-only [--run-seconds N]    # re-read the last report (N: its run time)
 *   npm run mutation -- --config other.json --mutate …      # another config (its own tempDirName and
 *                                                           # jsonReporter.fileName let two runs go side by side)
 *
 * Each run replaces the entries of the files it measured and keeps the others; a folder's entry
 * sums its measured files, so narrowed runs add up to one table. Each file's entry says which run
 * measured it (date, seconds, `mutate`); a folder's lists the files it covers.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

const RESULTS = "bench/results/mutation.json";

/** What Stryker's JSON report (mutation-testing-report-schema) holds that the summary reads. */
interface Report {
  readonly files: Record<string, { readonly mutants: readonly { readonly status: string }[] }>;
}

interface Counts {
  killed: number;
  survived: number;
  timeout: number;
  noCoverage: number;
  /** Mutants that do not compile or crash the run: not counted in the score (Stryker's rule). */
  errors: number;
  ignored: number;
}

interface Scored extends Counts {
  /** (killed + timeout) / (killed + timeout + survived + noCoverage), in percent. */
  readonly score: number;
  /** The same over covered mutants only (no-coverage excluded). */
  readonly coveredScore: number;
}

interface FileResult extends Scored {
  readonly date: string;
  /** Wall time of the run that measured this file (with the other files of that run). */
  readonly runSeconds: number;
  /** The `mutate` patterns of that run. */
  readonly mutate: readonly string[];
}

interface FolderResult extends Scored {
  readonly files: readonly string[];
  /** Wall time of the runs that measured its files, added up. */
  readonly runSeconds: number;
}

const COUNT_KEYS = ["killed", "survived", "timeout", "noCoverage", "errors", "ignored"] as const;
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

function scored(c: Counts): Scored {
  const detected = c.killed + c.timeout;
  return { ...c, score: percent(detected, detected + c.survived + c.noCoverage), coveredScore: percent(detected, detected + c.survived) };
}

function add(into: Counts, c: Counts): Counts {
  for (const k of COUNT_KEYS) into[k] += c[k];
  return into;
}

/** The folder a file is reported under: `src/lower/onnx/graph.ts` → `src/lower`. */
const folderOf = (file: string): string => file.replace(/\\/g, "/").split("/").slice(0, 2).join("/");

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
  const [secondsArg, rest] = takeOption(args.filter((a) => a !== "--summary-only"), "--run-seconds");
  const [configFile = "stryker.config.json", strykerArgs] = takeOption(rest, "--config");
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
  const previous = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, "utf8")) as { files?: Record<string, FileResult> }) : {};
  const fileResults: Record<string, FileResult> = { ...(previous.files ?? {}) };
  const date = new Date().toISOString();
  for (const [file, { mutants }] of Object.entries(files.files)) {
    const c = empty();
    for (const m of mutants) tally(c, m.status);
    const seconds = !summaryOnly ? runSeconds : secondsArg !== undefined ? Number(secondsArg) : (previous.files?.[file]?.runSeconds ?? 0);
    fileResults[file] = { ...scored(c), date: summaryOnly && secondsArg === undefined ? (previous.files?.[file]?.date ?? date) : date, runSeconds: seconds, mutate };
  }
  const folders: Record<string, FolderResult> = {};
  for (const folder of [...new Set(Object.keys(fileResults).map(folderOf))].sort()) {
    const inFolder = Object.keys(fileResults).filter((f) => folderOf(f) === folder).sort();
    const counts = inFolder.reduce((acc, f) => add(acc, fileResults[f]), empty());
    // One run can measure several files: count each run (by its date) once.
    const runs = new Map(inFolder.map((f) => [fileResults[f].date, fileResults[f].runSeconds]));
    folders[folder] = { ...scored(counts), files: inFolder, runSeconds: [...runs.values()].reduce((t, x) => t + x, 0) };
  }
  const total = scored(Object.values(fileResults).reduce((acc, f) => add(acc, f), empty()));
  const result = { date, node: process.version, stryker: "9.6.1", folders, total, files: fileResults };
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
  for (const [folder, f] of Object.entries(folders)) {
    console.log(`${folder.padEnd(14)} ${f.score.toFixed(1).padStart(5)}%  killed ${f.killed}, survived ${f.survived}, timeout ${f.timeout}, no coverage ${f.noCoverage}  (${f.files.length} files, ${f.runSeconds} s)`);
  }
  console.log(`wrote ${RESULTS}`);
}

main();
