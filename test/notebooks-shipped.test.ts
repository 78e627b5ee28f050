/**
 * The notebooks ship with their outputs (`npm run notebooks:ship`): each one's cells are those
 * notebooks/src builds (so the shipped outputs belong to the code shown), every code cell ran
 * and the last one states the outcome, and nothing that changes from run to run is left in them
 * (cell timestamps, throughput, ETAs, timings, temporary folders).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { builtNotebooks } from "../notebooks/build.js";
import { type NotebookJson, maskVolatileText, stripVolatile } from "../notebooks/ship.js";

const NOTEBOOKS = join(import.meta.dirname, "..", "notebooks");
const built = await builtNotebooks();
const textOf = (value: unknown): string => (Array.isArray(value) ? value.join("") : String(value ?? ""));

describe("volatile output", () => {
  it("progress lines lose throughput and ETA, and only each run's last line stays; timings and the run folder are masked", () => {
    const block = [
      "sft 1/1200 | 0.63 steps/s | 485 tok/s | loss 4.379 | accuracy 0.0 | ETA 31m40s",
      "sft 600/1200 | 23.80 steps/s | 18277 tok/s | loss 0.9047 | accuracy 0.0 | ETA 0m39s",
      "pairs: 248 pairs",
      "sft 1200/1200 | 25.09 steps/s | 19266 tok/s | loss 0.7857 | accuracy 0.025 | ETA 0m00s",
      "  seconds: 84.169,",
      "backend onnx, size ci, runs in /tmp/ricci-ship-runs-x1",
    ].join("\n");
    expect(maskVolatileText(block, "/tmp/ricci-ship-runs-x1")).toBe([
      "pairs: 248 pairs",
      "sft 1200/1200 | loss 0.7857 | accuracy 0.025",
      "  seconds: (timing not shipped),",
      "backend onnx, size ci, runs in ../runs",
    ].join("\n"));
  });
});

describe.each(built)("shipped $name", ({ name, notebook }) => {
  const shipped = JSON.parse(readFileSync(join(NOTEBOOKS, name), "utf8")) as NotebookJson;
  const fromSource = notebook as NotebookJson;

  it("has the cells notebooks/src builds", () => {
    expect(shipped.cells.map((c) => [c.cell_type, textOf(c.source)])).toEqual(fromSource.cells.map((c) => [c.cell_type, textOf(c.source)]));
  });

  it("ran every code cell, and the last one states the outcome", () => {
    const code = shipped.cells.filter((c) => c.cell_type === "code");
    for (const [i, cell] of code.entries()) expect(cell.outputs?.length ?? 0, `code cell ${i}`).toBeGreaterThan(0);
    const errors = code.flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === "error" || (o.output_type === "stream" && o.name === "stderr"));
    expect(errors).toEqual([]);
    const last = code.at(-1)?.outputs?.find((o) => o.output_type === "execute_result");
    if (/^0[1-7]/.test(name)) expect(textOf(last?.data?.["text/plain"])).toMatch(/^'?outcome: /);
  });

  it("shows each expression's diagram beside its formula, every formula within MathJax 2's 5,120-character buffer", () => {
    const outputs = shipped.cells.flatMap((c) => c.outputs ?? []);
    for (const o of outputs.filter((x) => x.data?.["text/latex"] !== undefined)) {
      const html = textOf(o.data?.["text/html"]);
      expect(html).toMatch(/\$\$[\s\S]+\$\$/);
      expect(html).toMatch(/<img [^>]*src="data:image\/svg\+xml/);
    }
    const formulas = outputs.flatMap((o) => textOf(o.data?.["text/html"]).match(/\$\$[\s\S]*?\$\$/g) ?? []);
    for (const f of formulas) expect(f.length).toBeLessThanOrEqual(5120);
  });

  it("holds nothing that changes from run to run", () => {
    expect(stripVolatile(shipped)).toEqual(shipped);
    expect(JSON.stringify(shipped)).not.toMatch(/\/tmp\/|ricci-ship-|iopub\.execute_input/);
  });
});
