/**
 * The import graph of src/ and the layering it must respect: a module may import from its own
 * layer or the ones below, never above, and no chain of imports may lead back to where it
 * started (a cycle). `layerViolations(importGraph("src"))` lists every offending arrow.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

/** The layers, lowest first: each top-level folder of src/ (or root module) with its rank. */
export const LAYERS: readonly (readonly string[])[] = [
  ["errors.ts", "util"],
  ["dsl"],
  ["autodiff", "simplify", "print", "reference"],
  ["lower"],
  ["nn", "data", "losses", "viz"],
  ["train", "sample"],
  ["rl"],
  ["pipeline"],
  ["cli", "index.ts", "entries"],
];

/** Module (path relative to the root, e.g. "rl/grpo.ts") → the modules it imports. */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

const IMPORT = /(?:^|\n)\s*(?:import|export)\s(type\s)?[^;]*?from\s+["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g;

/**
 * The relative imports of every .ts file under `root`. With `runtime`, only the imports that
 * load a module when the program runs (not `import type`, which TypeScript erases): the graph
 * whose cycles matter. Without, type-only imports are arrows too (for the layering).
 */
export function importGraph(root: string, options: { runtime?: boolean } = {}): ImportGraph {
  const graph = new Map<string, string[]>();
  const visit = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) visit(path);
      else if (name.endsWith(".ts")) {
        const source = readFileSync(path, "utf8");
        const from = relative(root, path);
        const targets = [...source.matchAll(IMPORT)]
          .filter((m) => !(options.runtime === true && m[1] !== undefined))
          .map((m) => normalize(join(dirname(from), (m[2] ?? m[3]).replace(/\.js$/, ".ts"))));
        graph.set(from, [...new Set(targets)]);
      }
    }
  };
  visit(root);
  return graph;
}

/** The rank of a module's layer (its top folder, or the file itself at the root). */
export function layerOf(module: string): number {
  const top = module.split("/")[0];
  const rank = LAYERS.findIndex((layer) => layer.includes(top));
  if (rank < 0) throw new Error(`importGraph: ${module} is in no layer; add "${top}" to LAYERS in test/helpers/importGraph.ts`);
  return rank;
}

/** Every arrow that points up the layers, as "from → to". */
export function upwardImports(graph: ImportGraph): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) for (const to of targets) if (layerOf(to) > layerOf(from)) out.push(`${from} → ${to}`);
  return out;
}

/** Every import cycle, each as the modules along it ("a.ts → b.ts → a.ts"). */
export function importCycles(graph: ImportGraph): string[] {
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const walk = (node: string): void => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") cycles.push([...stack.slice(stack.indexOf(next)), next].join(" → "));
      else if (state.get(next) === undefined && graph.has(next)) walk(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) if (state.get(node) === undefined) walk(node);
  return cycles;
}
