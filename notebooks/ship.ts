/**
 * Ships the notebooks with their outputs, so they read well on a code host without running:
 * builds each from notebooks/src, executes it at --size ci through Jupyter (as `npm run
 * notebooks` does, in a fresh run folder), strips what changes from run to run and writes
 * notebooks/NN-*.ipynb: `npm run notebooks:ship`. What is stripped (`stripVolatile`): each
 * cell's execution timestamps, the throughput and ETA of progress lines (and all but the last
 * progress line of each run, since how many are printed depends on the machine's speed), stage
 * timings, and the absolute run folder (written as the notebooks' default, ../runs).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildNotebooks } from "./build.js";
import { runNotebooks } from "./run.js";

export interface NotebookOutput {
  output_type: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface NotebookCell {
  cell_type: string;
  metadata: Record<string, unknown>;
  source: string | string[];
  outputs?: NotebookOutput[];
  [key: string]: unknown;
}

export interface NotebookJson {
  cells: NotebookCell[];
  [key: string]: unknown;
}

/** A progress line of the training loop: `sft 276/1200 | 23.80 steps/s | … | ETA 0m39s`. */
const PROGRESS = /^(\S+) \d+\/\d+ \|/;

const joined = (text: string | string[]): string => (Array.isArray(text) ? text.join("") : text);
const asLines = (text: string): string[] => text.split("\n").map((l, i, all) => (i < all.length - 1 ? `${l}\n` : l)).filter((l) => l !== "");

/** The text with machine-dependent numbers removed and `runFolder` written as ../runs. */
export function maskVolatileText(text: string, runFolder?: string): string {
  let out = runFolder === undefined ? text : text.split(runFolder).join("../runs");
  out = out
    .replace(/ \| [\d.]+ steps\/s/g, "")
    .replace(/ \| [\d.]+ tok\/s/g, "")
    .replace(/ \| ETA \d+m\d+s/g, "")
    .replace(/\bseconds: [\d.e+-]+/g, "seconds: (timing not shipped)")
    .replace(/"seconds": [\d.e+-]+/g, '"seconds": null');
  // Keep only the last progress line of each run in a block of output.
  const lines = out.split("\n");
  const lastOf = new Map<string, number>();
  lines.forEach((l, i) => {
    const m = PROGRESS.exec(l);
    if (m !== null) lastOf.set(m[1], i);
  });
  return lines.filter((l, i) => {
    const m = PROGRESS.exec(l);
    return m === null || lastOf.get(m[1]) === i;
  }).join("\n");
}

/** The notebook without what changes from run to run (see the module comment); idempotent. */
export function stripVolatile(notebook: NotebookJson, runFolder?: string): NotebookJson {
  const mask = (value: unknown): unknown => (typeof value === "string" || Array.isArray(value) ? asLines(maskVolatileText(joined(value as string | string[]), runFolder)) : value);
  return {
    ...notebook,
    cells: notebook.cells.map((cell) => {
      const { execution: _, ...metadata } = cell.metadata;
      if (cell.outputs === undefined) return { ...cell, metadata };
      const outputs = cell.outputs.map((o) => {
        const next: NotebookOutput = { ...o };
        if (o.text !== undefined) next.text = mask(o.text) as string[];
        if (o.data?.["text/plain"] !== undefined) next.data = { ...o.data, "text/plain": mask(o.data["text/plain"]) };
        return next;
      });
      return { ...cell, metadata, outputs };
    }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await buildNotebooks();
  const root = mkdtempSync(join(tmpdir(), "ricci-ship-runs-"));
  const outDir = mkdtempSync(join(tmpdir(), "ricci-ship-out-"));
  const here = new URL(".", import.meta.url).pathname;
  for (const run of runNotebooks({ size: "ci", root, outDir })) {
    const executed = JSON.parse(readFileSync(run.path, "utf8")) as NotebookJson;
    writeFileSync(join(here, run.notebook), `${JSON.stringify(stripVolatile(executed, root), null, 1)}\n`);
    console.log(`shipped ${run.notebook}: ${run.outcome}`);
  }
}
