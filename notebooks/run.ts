/**
 * Executes the notebooks in order through real Jupyter (nbconvert from Debian's packages) with
 * the ricci kernel, failing on any cell error: `npm run notebooks` (RICCI_SIZE=ci by default;
 * `RICCI_SIZE=full npm run notebooks` for the full size). Executed copies go to
 * notebooks/executed/, training runs to RICCI_ROOT (default runs/).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { installKernelSpec, KERNEL_ENTRY } from "../kernels/ricci/install.js";

const REPO = resolve(new URL("..", import.meta.url).pathname);
const NOTEBOOKS = join(REPO, "notebooks");
const JUPYTER = "/usr/bin/jupyter";

export interface NotebookRun {
  readonly notebook: string;
  readonly path: string;
  readonly seconds: number;
  /** The text of the notebook's last code cell's result (its outcome line). */
  readonly outcome: string;
  /** MIME types of all rich outputs in the notebook. */
  readonly mimeTypes: string[];
}

/** Installs the kernelspec (as `ricci kernel install --prefix` does) into a temp prefix and returns the JUPYTER_PATH that finds it. */
function kernelPath(): string {
  const prefix = mkdtempSync(join(tmpdir(), "ricci-kernel-"));
  installKernelSpec({ prefix });
  return join(prefix, "share", "jupyter");
}

const textOf = (value: unknown): string => (Array.isArray(value) ? value.join("") : String(value ?? ""));

/** Runs every notebook (or those named) and returns what each produced. */
export function runNotebooks(options: { size?: "ci" | "full"; root?: string; outDir?: string; only?: readonly string[] } = {}): NotebookRun[] {
  if (!existsSync(JUPYTER)) throw new Error(`${JUPYTER} not found: install Debian's packages: apt-get install jupyter-client python3-nbclient jupyter-nbconvert python3-ipykernel`);
  if (!existsSync(join(REPO, "dist", "index.js")) || !existsSync(KERNEL_ENTRY)) execFileSync("npm", ["run", "build"], { cwd: REPO, stdio: "inherit" });
  const outDir = options.outDir ?? join(NOTEBOOKS, "executed");
  mkdirSync(outDir, { recursive: true });
  const env = {
    ...process.env,
    JUPYTER_PATH: kernelPath(),
    RICCI_SIZE: options.size ?? process.env.RICCI_SIZE ?? "ci",
    RICCI_ROOT: resolve(options.root ?? process.env.RICCI_ROOT ?? join(REPO, "runs")),
  };
  const names = readdirSync(NOTEBOOKS).filter((f) => /^\d\d-.*\.ipynb$/.test(f)).sort().filter((f) => options.only === undefined || options.only.some((o) => f.startsWith(o)));
  return names.map((name) => {
    const started = performance.now();
    console.error(`executing ${name} (size ${env.RICCI_SIZE}) …`);
    execFileSync(JUPYTER, [
      "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.kernel_name=ricci",
      "--ExecutePreprocessor.timeout=3600", "--output-dir", outDir, join(NOTEBOOKS, name),
    ], { cwd: NOTEBOOKS, env, stdio: ["ignore", "ignore", "inherit"] });
    const path = join(outDir, name);
    const nb = JSON.parse(readFileSync(path, "utf8")) as { cells: { cell_type: string; outputs?: { output_type: string; data?: Record<string, unknown> }[] }[] };
    const code = nb.cells.filter((c) => c.cell_type === "code");
    const last = code[code.length - 1]?.outputs?.find((o) => o.output_type === "execute_result");
    const mimeTypes = [...new Set(code.flatMap((c) => (c.outputs ?? []).flatMap((o) => Object.keys(o.data ?? {}))))].sort();
    const seconds = (performance.now() - started) / 1000;
    const outcome = textOf(last?.data?.["text/plain"]);
    console.error(`  ${name}: ${outcome} (${seconds.toFixed(0)} s)`);
    return { notebook: name, path, seconds, outcome, mimeTypes };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const runs = runNotebooks({ only: process.argv.slice(2).length > 0 ? process.argv.slice(2) : undefined });
  console.log(JSON.stringify(runs.map(({ notebook, outcome, seconds }) => ({ notebook, outcome, seconds: Math.round(seconds) })), null, 2));
}
