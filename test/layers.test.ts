/**
 * The layering of src/ (test/helpers/importGraph.ts): no module imports from a layer above its
 * own, and no import cycle exists — and the checks do fail when either is introduced.
 */
import { describe, expect, it } from "vitest";
import { type ImportGraph, importCycles, importGraph, layerOf, upwardImports } from "./helpers/importGraph.js";

const src = importGraph("src");
const runtime = importGraph("src", { runtime: true });

describe("the layers of src/", () => {
  it("import only downward or sideways: dsl → autodiff/simplify/print/reference → lower → nn/data/losses → train/sample → rl → pipeline → cli", () => {
    expect(src.size).toBeGreaterThan(80);
    expect(upwardImports(src)).toEqual([]);
  });

  it("have no import cycle among the imports that load modules (type-only imports are erased)", () => {
    expect(importCycles(runtime)).toEqual([]);
  });

  it("the root entry loads the language only: no model, data, training, RL or pipeline module", () => {
    const loaded = new Set<string>();
    const visit = (m: string): void => {
      if (loaded.has(m)) return;
      loaded.add(m);
      for (const next of runtime.get(m) ?? []) visit(next);
    };
    visit("index.ts");
    const tops = new Set([...loaded].map((m) => m.split("/")[0]));
    expect([...tops].sort()).toEqual(["autodiff", "dsl", "errors.ts", "index.ts", "losses", "lower", "print", "reference", "simplify", "util"]);
    // Each subpath entry reaches its own floor: ricci/rl loads rl/, ricci/pipeline the pipeline.
    for (const [entry, floor] of [["entries/nn.ts", "nn"], ["entries/train.ts", "train"], ["entries/rl.ts", "rl"], ["entries/pipeline.ts", "pipeline"]]) {
      expect(runtime.get(entry)?.some((m) => m.startsWith(`${floor}/`))).toBe(true);
    }
  });

  it("every import resolves to a module of src/", () => {
    const missing = [...src].flatMap(([from, targets]) => targets.filter((t) => !src.has(t)).map((t) => `${from} → ${t}`));
    expect(missing).toEqual([]);
  });

  it("the checks catch an upward arrow and a cycle added to the real graph", () => {
    const withUpward: ImportGraph = new Map([...src, ["dsl/build.ts", [...(src.get("dsl/build.ts") ?? []), "train/loop.ts"]]]);
    expect(upwardImports(withUpward)).toEqual(["dsl/build.ts → train/loop.ts"]);
    const withCycle: ImportGraph = new Map([...runtime, ["dsl/edges.ts", [...(runtime.get("dsl/edges.ts") ?? []), "dsl/build.ts"]]]);
    expect(importCycles(withCycle)).toContain("dsl/build.ts → dsl/edges.ts → dsl/build.ts");
    expect(() => layerOf("newfolder/x.ts")).toThrow(/add "newfolder" to LAYERS/);
  });
});
