/**
 * The worked notebooks, executed headlessly through real Jupyter with the ricci kernel at CI
 * size — twice, from fresh run folders, to check they reproduce their outcome numbers — and
 * their outputs checked for the rich MIME types users see (LaTeX, SVG diagrams, Vega-Lite).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type NotebookRun, runNotebooks } from "../notebooks/run.js";
import { PIPELINE, pipeline } from "../src/pipeline/run.js";

const fresh = (label: string): string => mkdtempSync(join(tmpdir(), `ricci-notebooks-${label}-`));

describe("notebooks at --size ci", () => {
  let first: NotebookRun[] = [];
  const rootA = fresh("runs-a");

  it("all execute without a cell error and end with an asserted outcome", () => {
    first = runNotebooks({ size: "ci", root: rootA, outDir: fresh("out-a") });
    expect(first.map((r) => r.notebook)).toEqual([
      "00-dsl-tour.ipynb", "01-pretraining.ipynb", "02-sft.ipynb", "03-reward-model.ipynb",
      "04-ppo.ipynb", "05-grpo.ipynb", "06-dpo.ipynb", "07-trpo.ipynb",
    ]);
    for (const run of first) expect(run.outcome, run.notebook).toMatch(/^outcome: /);
  }, 3_600_000);

  it("show expressions as HTML (LaTeX beside the diagram), LaTeX and SVG, and training curves as Vega-Lite charts with HTML and SVG fallbacks", () => {
    const all = new Set(first.flatMap((r) => r.mimeTypes));
    for (const mime of ["text/html", "text/latex", "image/svg+xml", "application/vnd.vegalite.v6+json", "text/plain"]) expect(all.has(mime), mime).toBe(true);
    for (const run of first.filter((r) => /^0[1-7]/.test(r.notebook))) {
      expect(run.mimeTypes, run.notebook).toContain("application/vnd.vegalite.v6+json");
      expect(run.mimeTypes, run.notebook).toContain("text/latex");
      expect(run.mimeTypes, run.notebook).toContain("text/html");
    }
    const tour = JSON.parse(readFileSync(first[0].path, "utf8")) as { cells: { outputs?: { data?: Record<string, unknown> }[] }[] };
    const svgs = tour.cells.flatMap((c) => (c.outputs ?? []).map((o) => o.data?.["image/svg+xml"])).filter((s) => s !== undefined);
    expect(svgs.length).toBeGreaterThan(2);
    for (const svg of svgs) expect(String(Array.isArray(svg) ? svg.join("") : svg)).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
  });

  it("leave finished stages that `pipeline` (RL stages in 2 child processes) reads back into its report", async () => {
    const { report, rows } = await pipeline({ size: "ci", root: rootA, jobs: 2 });
    expect(rows.map((r) => r.stage)).toEqual(PIPELINE.map(([name]) => name));
    for (const { stage, summary } of rows) {
      expect(summary, stage).toEqual(JSON.parse(readFileSync(join(rootA, "ci", stage, "summary.json"), "utf8")));
    }
    const text = readFileSync(report, "utf8");
    expect(text).toContain("RL stages in 2 processes");
    expect(text).toMatch(/\| grpo \| \d+\.\d% \|/);
  }, 600_000);

  it("reproduce the same outcome numbers on a second run from scratch (seeded)", () => {
    const second = runNotebooks({ size: "ci", root: fresh("runs-b"), outDir: fresh("out-b") });
    expect(second.map((r) => r.outcome)).toEqual(first.map((r) => r.outcome));
  }, 3_600_000);
});
