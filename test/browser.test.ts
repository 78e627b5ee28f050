/**
 * The notebooks in a real browser: headless Chromium (playwright-core, the system's
 * /usr/bin/chromium) drives Debian's classic Notebook 6.4, JupyterLab 4 when one is found, and
 * nbconvert's HTML export opened from file://. Each notebook is Run All'd at RICCI_SIZE=ci and
 * must show no error output, every formula typeset by MathJax, and every diagram and chart
 * visible with non-zero size. Screenshots go to test-results/browser/ (CI keeps that folder).
 *
 *   npx vitest run test/browser.test.ts                                 # all notebooks (~10 min of training per front end)
 *   RICCI_BROWSER_NOTEBOOKS=00 npx vitest run test/browser.test.ts      # only the DSL tour (no training)
 *   RICCI_JUPYTER_LAB=/path/to/venv/bin/jupyter-lab …                   # drive JupyterLab too
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installKernelSpec, KERNEL_ENTRY } from "../kernels/ricci/install.js";
import {
  checkPage, CHROMIUM, findJupyterLab, type JupyterServer, launchChromium, LOCAL_MATHJAX, type PageReport, screenshot, startJupyter, writeLabSettings,
} from "./helpers/browser.js";

const REPO = resolve(fileURLToPath(new URL("..", import.meta.url)));
const SHOTS = join(REPO, "test-results", "browser");
const JUPYTER = "/usr/bin/jupyter";
const MISSING = [CHROMIUM, JUPYTER, "/usr/bin/jupyter-notebook"].filter((p) => !existsSync(p));
if (MISSING.length > 0) throw new Error(`the browser test needs ${MISSING.join(", ")}: apt-get install chromium jupyter-notebook jupyter-nbconvert`);

/** The notebooks to run: RICCI_BROWSER_NOTEBOOKS="00,03" picks by prefix; all of notebooks/ by default. */
const NOTEBOOKS = (() => {
  const only = (process.env.RICCI_BROWSER_NOTEBOOKS ?? "").split(/[\s,]+/).filter(Boolean);
  return readdirSync(join(REPO, "notebooks")).filter((f) => /^\d\d-.*\.ipynb$/.test(f)).sort()
    .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)));
})();
const JUPYTER_LAB = findJupyterLab(REPO);
if (JUPYTER_LAB === undefined) {
  console.warn("\n*** JupyterLab NOT RUN: no jupyter-lab found (set RICCI_JUPYTER_LAB, or make a venv at .jupyterlab/ with `pip install jupyterlab`) ***\n");
}

const RUN_TIMEOUT = 40 * 60_000;
const fresh = (label: string): string => mkdtempSync(join(tmpdir(), `ricci-browser-${label}-`));
const stem = (notebook: string): string => notebook.replace(/\.ipynb$/, "");
const summary = (r: PageReport): string => `${r.outputs} outputs, ${r.formulas} formulas, ${r.images} images`;

/** Jupyter's environment: the ricci kernelspec in a temp prefix, notebooks at ci size, training under a temp root. */
function jupyterEnv(label: string): NodeJS.ProcessEnv {
  if (!existsSync(KERNEL_ENTRY)) execFileSync("npm", ["run", "build"], { cwd: REPO, stdio: "inherit" });
  const prefix = fresh(`${label}-kernel`);
  installKernelSpec({ prefix });
  return {
    ...process.env,
    JUPYTER_PATH: join(prefix, "share", "jupyter"),
    JUPYTER_CONFIG_DIR: join(prefix, "config"),
    JUPYTER_RUNTIME_DIR: join(prefix, "runtime"),
    IPYTHONDIR: join(prefix, "ipython"),
    RICCI_SIZE: "ci",
    RICCI_ROOT: fresh(`${label}-runs`),
    PYTHONDONTWRITEBYTECODE: "1",
  };
}

/** A folder holding copies of the chosen notebooks, for a server to open and save. */
/**
 * A folder with the notebooks as notebooks/src builds them, without the shipped outputs, so
 * that every output the check sees is one this Run All produced.
 */
function notebookFolder(label: string): string {
  const dir = fresh(label);
  for (const name of NOTEBOOKS) {
    const notebook = JSON.parse(readFileSync(join(REPO, "notebooks", name), "utf8")) as { cells: { cell_type: string; outputs?: unknown[]; execution_count?: number | null }[] };
    for (const cell of notebook.cells) if (cell.cell_type === "code") Object.assign(cell, { outputs: [], execution_count: null });
    writeFileSync(join(dir, name), JSON.stringify(notebook, null, 1));
  }
  return dir;
}

/** Asserts a report has outputs, formulas and images and no problem; logs the outcome. */
function expectShown(frontEnd: string, notebook: string, report: PageReport, seconds: number): void {
  console.log(`[browser] ${frontEnd} ${notebook}: ${summary(report)}, ${report.problems.length} problems, ${seconds.toFixed(0)} s`);
  expect(report.problems, `${frontEnd} ${notebook}`).toEqual([]);
  expect(report.formulas, `${frontEnd} ${notebook}: formulas`).toBeGreaterThan(0);
  expect(report.images, `${frontEnd} ${notebook}: diagrams and charts`).toBeGreaterThan(0);
}

/** Exports a notebook with nbconvert (Debian's template, MathJax from Debian's libjs-mathjax) and returns the HTML file. */
function exportHtml(notebook: string, outDir: string): string {
  execFileSync(JUPYTER, ["nbconvert", "--to", "html", `--HTMLExporter.mathjax_url=${LOCAL_MATHJAX}`, "--output-dir", outDir, notebook], {
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" }, stdio: ["ignore", "ignore", "pipe"],
  });
  return join(outDir, `${stem(notebook.split("/").pop()!)}.html`);
}

async function checkHtmlFile(browser: Browser, file: string, shot: string): Promise<PageReport> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await page.goto(pathToFileURL(file).href, { waitUntil: "load", timeout: 120_000 });
    const report = await checkPage(page);
    await screenshot(page, shot);
    return report;
  } finally {
    await page.close();
  }
}

let browser: Browser;
beforeAll(async () => { browser = await launchChromium(); }, 120_000);
afterAll(async () => { await browser?.close(); });

/** Notebooks executed and saved by the classic run, reused by the HTML export (no second training). */
const executedByClassic = new Map<string, string>();

describe("classic Notebook 6.4 (Debian's jupyter-notebook): Run All in Chromium", () => {
  let server: JupyterServer;
  let dir: string;
  beforeAll(async () => {
    dir = notebookFolder("classic");
    server = await startJupyter("/usr/bin/jupyter-notebook", [`--notebook-dir=${dir}`, "--NotebookApp.open_browser=False"], dir, jupyterEnv("classic"));
  }, 180_000);
  afterAll(async () => { await server?.stop(); });

  it.each(NOTEBOOKS)("%s: no error output, every formula typeset, every diagram and chart visible", async (notebook) => {
    const started = performance.now();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await page.goto(`${server.base}/notebooks/${notebook}?token=${server.token}`, { timeout: 120_000 });
      await page.waitForFunction("window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected()", null, { timeout: 180_000, polling: 500 });
      // Long outputs shown whole (not in a scrolled box), so screenshots show every diagram.
      await page.evaluate("if (window.IPython && IPython.OutputArea) IPython.OutputArea.auto_scroll_threshold = -1; Jupyter.notebook.clear_all_output(); Jupyter.notebook.execute_all_cells()");
      await runUntilIdle(page, `(() => !document.querySelector("#kernel_indicator_icon.kernel_busy_icon")
        && Jupyter.notebook.get_cells().every((c) => c.cell_type !== "code" || c.input_prompt_number !== "*"))()`);
      const unexecuted = (await page.evaluate(
        `Jupyter.notebook.get_cells().map((c, i) => [i + 1, c]).filter(([, c]) => c.cell_type === "code" && typeof c.input_prompt_number !== "number").map(([i]) => i)`,
      )) as number[];
      await page.evaluate("Jupyter.notebook.save_notebook()");
      const report = await checkPage(page);
      await screenshot(page, join(SHOTS, "classic", `${stem(notebook)}.png`), "#site");
      executedByClassic.set(notebook, join(dir, notebook));
      await page.evaluate("Jupyter.notebook.session.delete()"); // its kernel would otherwise idle on, holding memory
      expect(unexecuted, `${notebook}: code cells left unexecuted (a cell before them failed?)`).toEqual([]);
      expectShown("classic", notebook, report, (performance.now() - started) / 1000);
    } finally {
      await page.close();
    }
  }, RUN_TIMEOUT);

  it("the check fails on the display before text/html bundles, as Notebook 6 shows it (saved outputs, not re-run)", async () => {
    writeFileSync(join(dir, "broken-display.ipynb"), await brokenDisplayNotebook());
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await page.goto(`${server.base}/notebooks/broken-display.ipynb?token=${server.token}`, { timeout: 120_000 });
      await page.waitForFunction("window.Jupyter && Jupyter.notebook && Jupyter.notebook._fully_loaded", null, { timeout: 120_000, polling: 500 });
      const report = await checkPage(page);
      await screenshot(page, join(SHOTS, "fixtures", "broken-display-classic.png"), "#site");
      expectBroken("classic", report, { svg: false });
    } finally {
      await page.close();
    }
  }, 300_000);
});

describe("nbconvert --to html of the executed notebooks, opened from file:// in Chromium", () => {
  it.each(NOTEBOOKS)("%s: no error output, every formula typeset (offline MathJax), every diagram and chart visible", async (notebook) => {
    const started = performance.now();
    const executed = executedByClassic.get(notebook);
    expect(executed, `${notebook} was not executed by the classic run`).toBeDefined();
    const outDir = join(SHOTS, "html");
    mkdirSync(outDir, { recursive: true });
    const report = await checkHtmlFile(browser, exportHtml(executed!, outDir), join(outDir, `${stem(notebook)}.png`));
    expectShown("html", notebook, report, (performance.now() - started) / 1000);
  }, 300_000);
});

describe.skipIf(JUPYTER_LAB === undefined)(`JupyterLab 4 (${JUPYTER_LAB ?? "NOT RUN: no jupyter-lab found; set RICCI_JUPYTER_LAB"}): Run All in Chromium`, () => {
  let server: JupyterServer;
  beforeAll(async () => {
    const dir = notebookFolder("lab");
    const settings = fresh("lab-settings");
    writeLabSettings(settings);
    server = await startJupyter(JUPYTER_LAB!, [
      `--ServerApp.root_dir=${dir}`, `--LabApp.user_settings_dir=${settings}`, `--LabApp.workspaces_dir=${fresh("lab-workspaces")}`,
      "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None", "--ServerApp.open_browser=False",
    ], dir, jupyterEnv("lab"));
  }, 240_000);
  afterAll(async () => { await server?.stop(); });

  it.each(NOTEBOOKS)("%s: no error output, every formula typeset, every diagram and chart visible", async (notebook) => {
    const started = performance.now();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await page.goto(`${server.base}/lab/tree/${notebook}?token=${server.token}`, { timeout: 180_000 });
      await page.waitForFunction(`(() => {
        const w = window.jupyterapp && jupyterapp.shell.currentWidget;
        const ctx = w && w.sessionContext;
        return !!(ctx && ctx.session && ctx.session.kernel && ctx.session.kernel.connectionStatus === "connected" && ctx.kernelDisplayStatus === "idle");
      })()`, null, { timeout: 180_000, polling: 500 });
      // Close any other tab the workspace restored (a hidden panel's outputs have zero size on the page).
      await page.evaluate(`(() => {
        const current = jupyterapp.shell.currentWidget;
        const others = Array.from(jupyterapp.shell.widgets("main")).filter((w) => w !== current);
        return Promise.all(others.map((w) => (w.sessionContext ? w.sessionContext.shutdown() : Promise.resolve()).then(() => w.dispose())));
      })()`);
      await page.evaluate(`jupyterapp.commands.execute("notebook:clear-all-cell-outputs").then(() => { jupyterapp.commands.execute("notebook:run-all-cells"); })`);
      await page.waitForTimeout(1000);
      await runUntilIdle(page, `(() => jupyterapp.shell.currentWidget.sessionContext.kernelDisplayStatus === "idle"
        && ![...jupyterapp.shell.currentWidget.node.querySelectorAll(".jp-CodeCell .jp-InputPrompt")].some((p) => p.textContent.includes("*")))()`);
      const unexecuted = (await page.evaluate(
        `[...jupyterapp.shell.currentWidget.node.querySelectorAll(".jp-Notebook .jp-Cell")].map((c, i) => [i + 1, c]).filter(([, c]) => c.classList.contains("jp-CodeCell") && !/\\[\\d+\\]/.test(c.querySelector(".jp-InputPrompt").textContent)).map(([i]) => i)`,
      )) as number[];
      const report = await checkPage(page);
      await page.evaluate("jupyterapp.shell.collapseLeft()");
      await screenshot(page, join(SHOTS, "lab", `${stem(notebook)}.png`), ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer");
      // Shut its kernel down (it would idle on) and close its tab (the workspace would reopen it with the next notebook).
      await page.evaluate("(() => { const w = jupyterapp.shell.currentWidget; return w.sessionContext.shutdown().then(() => w.dispose()); })()");
      expect(unexecuted, `${notebook}: code cells left unexecuted (a cell before them failed?)`).toEqual([]);
      expectShown("lab", notebook, report, (performance.now() - started) / 1000);
    } finally {
      await page.close();
    }
  }, RUN_TIMEOUT);
});

/** Waits (up to the run timeout) until `idle` holds twice in a row, 2 s apart. */
async function runUntilIdle(page: Page, idle: string): Promise<void> {
  const deadline = Date.now() + RUN_TIMEOUT - 120_000;
  let streak = 0;
  while (streak < 2) {
    if (Date.now() > deadline) throw new Error("the notebook did not finish running in time");
    await page.waitForTimeout(2000);
    streak = (await page.evaluate(idle)) ? streak + 1 : 0;
  }
}

/**
 * A notebook with the display before text/html bundles, saved as the kernel wrote it: an
 * expression as LaTeX + SVG + text (nbconvert prefers the SVG and its sanitiser empties it;
 * Notebook 6 prefers the LaTeX), a gradient's LaTeX over MathJax 2's buffer, an error and stderr,
 * and a markdown formula whose \mathrm lost its backslash (as notebook 05's did).
 */
async function brokenDisplayNotebook(): Promise<string> {
  const { grad, grpoLoss, MATHJAX2_MAX_BUFFER, simplify, toLatex, toSvg, toText, variable, dot } = await import("../src/index.js");
  const te = { group: 2, sample: 3, t: 4 };
  const [logp, oldLogp, refLogp, mask] = ["logp", "oldLogp", "refLogp", "mask"].map((n) => variable(n, te));
  const gradient = simplify(grad(grpoLoss({ logp, oldLogp, refLogp, rewards: variable("rewards", { group: 2, sample: 3 }), mask }).loss, logp));
  const bigTex = toLatex(gradient);
  expect(bigTex.length).toBeGreaterThan(MATHJAX2_MAX_BUFFER);
  const product = dot(variable("x", { batch: 8, in: 4 }), variable("W", { in: 4, out: 3 }));
  const code = (outputs: object[]) => ({ cell_type: "code", execution_count: 1, metadata: {}, source: "x", outputs });
  return JSON.stringify({
    cells: [
      { cell_type: "markdown", metadata: {}, source: "A prime: $mathrm{sample}'$ (its backslash lost in a template string)." },
      code([{ output_type: "execute_result", execution_count: 1, metadata: {}, data: { "text/latex": `$$${toLatex(product)}$$`, "image/svg+xml": toSvg(product), "text/plain": toText(product) } }]),
      code([{ output_type: "display_data", metadata: {}, data: { "text/latex": `$$${bigTex}$$`, "text/plain": "gradient" } }]),
      code([{ output_type: "error", ename: "TypeError", evalue: "boom", traceback: ["TypeError: boom"] }]),
      code([{ output_type: "stream", name: "stderr", text: "warning on stderr\n" }]),
    ],
    metadata: { kernelspec: { name: "ricci", display_name: "ricci (TypeScript)", language: "typescript" } },
    nbformat: 4,
    nbformat_minor: 5,
  });
}

/** The problems of a broken page, by kind: the checker must find each. */
function expectBroken(frontEnd: string, report: PageReport, kinds: { svg: boolean }): void {
  console.log(`[browser] ${frontEnd} fixture problems:\n  ${report.problems.join("\n  ")}`);
  const count = (re: RegExp) => report.problems.filter((p) => re.test(p)).length;
  if (kinds.svg) expect(count(/empty <svg>/), "emptied SVG diagram").toBeGreaterThan(0);
  else expect(count(/text\/latex alone/), "formula shown without its diagram").toBeGreaterThan(0);
  expect(count(/raw LaTeX|MathJax error|Math Processing Error|not typeset/), "LaTeX over MathJax 2's buffer").toBeGreaterThan(0);
  expect(count(/without its backslash \(mathrm\)/), "markdown TeX command without backslash").toBeGreaterThan(0);
  expect(count(/error output: .*boom/), "error output").toBe(1);
  expect(count(/error output: .*warning on stderr/), "stderr output").toBe(1);
}

describe("the page check fails on a broken display", () => {
  it("reports an error output, an emptied <svg> and LaTeX MathJax 2 cannot typeset (the display before text/html bundles, through nbconvert)", async () => {
    const dir = fresh("bad");
    try {
      writeFileSync(join(dir, "broken-display.ipynb"), await brokenDisplayNotebook());
      const report = await checkHtmlFile(browser, exportHtml(join(dir, "broken-display.ipynb"), dir), join(SHOTS, "fixtures", "broken-display-html.png"));
      expectBroken("html", report, { svg: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
