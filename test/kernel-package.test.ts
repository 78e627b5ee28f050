/**
 * The kernel as a user of the package gets it: the packed tarball installs offline into a fresh
 * project outside this repository, `npx ricci kernel install` registers the kernel in a
 * temporary Jupyter data directory (JUPYTER_DATA_DIR, as for a user install), and nbclient runs a
 * notebook in that project whose cells import ricci, tslab and a package installed next to the
 * notebook, and draw a chart with the vega-lite that the package's dependency range installs. Nothing of this checkout is on the kernel's path: it runs from the project's
 * node_modules.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const PYTHON = "/usr/bin/python3";
/** What `npm pack` builds the package from (its `prepare` script) and ships. */
const PACKAGE_SOURCES = ["package.json", "README.md", "tsconfig.json", "tsconfig.build.json", "src", "kernels", "scripts"];

/** The notebook's cells: each starts with the imports a user types first. */
const CELLS = [
  'import { variable, grad, toLatex, dot } from "ricci";\nconst W = variable("W", { i: 3 });\ntoLatex(grad(dot(W, W), [W])[0])',
  'import * as tslab from "tslab";\ntslab.display.markdown("**shown by tslab**");\ntslab.versions.tslab',
  'import { greet } from "greeting";\ngreet("notebook")',
  'import { SIZES } from "ricci/pipeline";\nObject.keys(SIZES).join(",")',
  // A chart through vega-lite as the package's dependency range installs it (Node 20 included).
  'import { chartBundle, lineChart } from "ricci/train";\nchartBundle(lineChart({ title: "loss", data: [{ step: 1, loss: 2 }, { step: 2, loss: 1 }], x: "step", y: "loss" }))',
  "process.argv[1]",
];

/** A package written next to the notebook, as a user's own dependency would be. */
function writeNeighbourPackage(project: string): void {
  const dir = join(project, "node_modules", "greeting");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "greeting", version: "1.0.0", main: "index.js", types: "index.d.ts" }));
  writeFileSync(join(dir, "index.js"), 'exports.greet = (name) => `hello, ${name}`;\n');
  writeFileSync(join(dir, "index.d.ts"), "export declare function greet(name: string): string;\n");
}

const notebook = (cells: string[]): string =>
  JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "ricci", display_name: "ricci (TypeScript)", language: "typescript" } },
    cells: cells.map((source, i) => ({ id: `cell-${i}`, cell_type: "code", metadata: {}, execution_count: null, outputs: [], source })),
  });

/** Executes a notebook with nbclient in its own folder, writing the executed copy to `output`. */
const EXECUTE = `
import sys, nbformat
from nbclient import NotebookClient
path, output, cwd = sys.argv[1:4]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, kernel_name="ricci", timeout=300, startup_timeout=120, resources={"metadata": {"path": cwd}}).execute()
nbformat.write(nb, output)
`;

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
}
const text = (value: unknown): string => (Array.isArray(value) ? value.join("") : String(value ?? ""));

const work = mkdtempSync(join(tmpdir(), "ricci-kernel-package-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the kernel in a fresh project", () => {
  it("installs from the tarball with one command and runs a notebook that imports ricci, tslab and a neighbouring package", () => {
    const seconds: Record<string, number> = {};
    const timed = <T>(step: string, run: () => T): T => {
      const started = performance.now();
      try {
        return run();
      } finally {
        seconds[step] = Math.round((performance.now() - started) / 100) / 10;
      }
    };
    // Built and packed from a copy of the sources, so that this checkout's dist/ (which other
    // tests run) is never rewritten under them.
    const sources = join(work, "sources");
    for (const path of PACKAGE_SOURCES) cpSync(join(ROOT, path), join(sources, path), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(sources, "node_modules"));
    timed("build and pack", () => execFileSync("npm", ["pack", "--pack-destination", work, "--silent"], { cwd: sources, stdio: ["ignore", "ignore", "inherit"] }));
    const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
    expect(tarball).toBeDefined();

    const project = join(work, "project");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "fresh-project", private: true }));
    // Only the data directory here may offer a "ricci" kernel: no JUPYTER_PATH.
    const { JUPYTER_PATH: _, ...inherited } = process.env;
    const env = { ...inherited, ONNXRUNTIME_NODE_INSTALL: "skip", JUPYTER_DATA_DIR: join(work, "jupyter-data"), JUPYTER_RUNTIME_DIR: join(work, "jupyter-runtime") };
    const install = timed("install", () =>
      spawnSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=warn", join(work, tarball!)], { cwd: project, env, encoding: "utf8" }),
    );
    expect(install.status, install.stderr).toBe(0);
    // Every dependency accepts the Node versions ricci's "engines" names (vega-lite 6.5 wanted Node 22).
    expect(install.stderr).not.toContain("EBADENGINE");
    writeNeighbourPackage(project);

    const installed = timed("kernel install", () => execFileSync("npx", ["--offline", "ricci", "kernel", "install"], { cwd: project, env, encoding: "utf8" }));
    const specDir = join(work, "jupyter-data", "kernels", "ricci");
    expect(installed).toContain(specDir);
    const spec = JSON.parse(readFileSync(join(specDir, "kernel.json"), "utf8")) as { argv: string[] };
    const packageRoot = realpathSync(join(project, "node_modules", "ricci"));
    expect(spec.argv.slice(1)).toEqual([join(packageRoot, "dist", "kernel", "main.js"), "--connection-file", "{connection_file}"]);
    expect(JSON.stringify(spec)).not.toContain(ROOT);

    writeFileSync(join(project, "imports.ipynb"), notebook(CELLS));
    const executed = timed("notebook", () =>
      spawnSync(PYTHON, ["-c", EXECUTE, join(project, "imports.ipynb"), join(work, "executed.ipynb"), project], { cwd: project, env, encoding: "utf8" }),
    );
    console.log(`fresh project, seconds per step: ${JSON.stringify(seconds)}`);
    expect(executed.status, executed.stderr).toBe(0);

    const cells = (JSON.parse(readFileSync(join(work, "executed.ipynb"), "utf8")) as { cells: { outputs: Output[] }[] }).cells;
    const result = (i: number): string => text(cells[i].outputs.find((o) => o.output_type === "execute_result")?.data?.["text/plain"]);
    // No cell wrote to stderr: no start-up note (a stale build, a failed preload) either.
    expect(cells.flatMap((c) => c.outputs).filter((o) => o.output_type === "stream" && o.name === "stderr").map((o) => text(o.text))).toEqual([]);
    expect(result(0)).toBe("2 W_{i}");
    const shownByTslab = cells[1].outputs.find((o) => o.output_type === "display_data")?.data ?? {};
    expect(Object.keys(shownByTslab)).toEqual(["text/markdown"]);
    expect(text(shownByTslab["text/markdown"])).toBe("**shown by tslab**");
    expect(result(1)).toMatch(/^\d+\.\d+\.\d+$/);
    expect(result(2)).toBe("hello, notebook");
    expect(result(3)).toBe("ci,full");
    const chart = cells[4].outputs.find((o) => o.output_type === "execute_result")?.data ?? {};
    expect(Object.keys(chart)).toContain("application/vnd.vegalite.v6+json");
    expect(text(chart["image/svg+xml"])).toMatch(/^<svg[\s\S]*loss[\s\S]*<\/svg>/);
    // The kernel that ran is the project's copy.
    expect(result(5)).toBe(join(packageRoot, "dist", "kernel", "main.js"));
  }, 600_000);
});
