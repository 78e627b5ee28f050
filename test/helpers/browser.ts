/**
 * Drives notebooks in a real browser (the system Chromium through playwright-core) and checks
 * what a reader sees: no error output, every formula typeset by the page's MathJax, every
 * diagram and chart an image or SVG that is visible and non-empty. The same page check serves
 * Notebook 6 (classic), JupyterLab 4 and nbconvert's HTML export.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.RICCI_CHROMIUM ?? "/usr/bin/chromium";

/** MathJax 2 from Debian's libjs-mathjax, so exported pages typeset without a CDN. */
export const LOCAL_MATHJAX = "file:///usr/share/javascript/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe";

export const launchChromium = (): Promise<Browser> =>
  chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });

/** What one page shows in its outputs, and what is wrong with it. */
export interface PageReport {
  readonly outputs: number;
  readonly formulas: number;
  readonly images: number;
  readonly problems: string[];
}

/**
 * The in-page check (a string: the project compiles without the DOM library). Output areas are
 * Notebook 6's `.output_subarea` and JupyterLab's / nbconvert's `.jp-OutputArea-output`.
 * MathJax 2 keeps each formula's source in a `script[type^="math/tex"]` beside a rendered
 * `#…-Frame`; MathJax 3 renders `mjx-container`. Raw LaTeX is `$$` or a TeX command left in an
 * output's text once MathJax's own elements are removed.
 */
const PAGE_CHECK = String.raw`(() => {
  const problems = [];
  const short = (s) => s.replace(/\s+/g, " ").trim().slice(0, 160);
  const sized = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const MATHJAX = ".MathJax, .MathJax_Display, .MathJax_Preview, .MathJax_CHTML, .MathJax_SVG, .MathJax_SVG_Display, .MathJax_CHTML_Display, .MathJax_MathML, mjx-container, mjx-assistive-mml";
  const outputs = [...document.querySelectorAll(".output_subarea, .jp-OutputArea-output")];
  let formulas = 0, images = 0;
  outputs.forEach((out, i) => {
    const where = "output " + (i + 1);
    const mime = out.getAttribute("data-mime-type") || "";
    if (out.matches(".output_error, .output_stderr") || mime === "application/vnd.jupyter.stderr") {
      problems.push(where + ": error output: " + short(out.textContent || ""));
      return;
    }
    // The kernel shows an expression as text/html (formula beside diagram); a front end that
    // picked text/latex shows the formula with no diagram (Notebook 6 ranks it above SVG).
    if (out.matches(".output_latex") || mime === "text/latex") problems.push(where + ": shown as text/latex alone (no diagram beside the formula)");
    for (const bad of out.querySelectorAll(".MathJax_Error, merror, mjx-merror, [data-mjx-error]")) {
      problems.push(where + ": MathJax error: " + short(bad.getAttribute("data-mjx-error") || bad.textContent || ""));
    }
    if (/Math Processing Error/.test(out.textContent || "")) problems.push(where + ": MathJax 'Math Processing Error'");
    for (const script of out.querySelectorAll('script[type^="math/tex"]')) {
      formulas++;
      const frame = document.getElementById(script.id + "-Frame");
      if (!frame || !sized(frame)) problems.push(where + ": formula not typeset: " + short(script.textContent || ""));
    }
    for (const math of out.querySelectorAll("mjx-container")) {
      formulas++;
      if (!sized(math)) problems.push(where + ": formula typeset with zero size");
    }
    // Plain text (a stream, a text/plain result) may print LaTeX source on purpose; only rendered outputs must not show it.
    const isText = out.matches(".output_text") || mime === "text/plain" || mime === "application/vnd.jupyter.stdout";
    const plain = out.cloneNode(true);
    for (const el of plain.querySelectorAll("script, style, " + MATHJAX)) el.remove();
    const text = plain.textContent || "";
    const raw = text.match(/\$\$|\\\[|\\begin\{|\\(frac|mathrm|operatorname|sum|cdot|left|right|mathbf|text)\b/);
    if (raw && !isText) problems.push(where + ": raw LaTeX (" + raw[0] + "): " + short(text.slice(Math.max(0, raw.index - 40))));
    for (const img of out.querySelectorAll("img")) {
      images++;
      if (!img.complete || img.naturalWidth === 0 || img.naturalHeight === 0) problems.push(where + ": image did not load: " + short(img.src).slice(0, 80));
      else if (!sized(img)) problems.push(where + ": image has zero size on the page");
    }
    for (const svg of out.querySelectorAll("svg")) {
      if (svg.closest(MATHJAX) || svg.parentElement.closest("svg")) continue;
      images++;
      if (svg.children.length === 0) problems.push(where + ": empty <svg> (" + svg.outerHTML.length + " chars)");
      else if (!sized(svg)) problems.push(where + ": <svg> has zero size on the page");
    }
    for (const canvas of out.querySelectorAll("canvas")) {
      images++;
      if (!sized(canvas)) problems.push(where + ": <canvas> has zero size on the page");
    }
  });
  // Markdown cells: every formula typeset, and no TeX command that lost its backslash on the way
  // into the notebook ("$mathrm{x}$" typesets without error, as the letters m a t h r m).
  document.querySelectorAll(".text_cell_render, .jp-MarkdownOutput").forEach((md, i) => {
    const where = "markdown cell " + (i + 1);
    for (const bad of md.querySelectorAll(".MathJax_Error, merror, mjx-merror, [data-mjx-error]")) problems.push(where + ": MathJax error: " + short(bad.textContent || ""));
    const sources = [...md.querySelectorAll('script[type^="math/tex"]')].map((s) => s.textContent || "");
    const plain = md.cloneNode(true);
    for (const el of plain.querySelectorAll("script, style, code, pre, " + MATHJAX)) el.remove();
    const text = plain.textContent || "";
    if (/\$\$/.test(text)) problems.push(where + ": raw LaTeX ($$): " + short(text.slice(Math.max(0, text.indexOf("$$") - 40))));
    for (const tex of [...sources, text]) {
      const lost = tex.match(/(^|[^\\a-zA-Z])(mathrm|mathbf|operatorname|frac)\{/);
      if (lost) problems.push(where + ": TeX command without its backslash (" + lost[2] + "): " + short(tex.slice(Math.max(0, lost.index - 20))));
    }
  });
  return { outputs: outputs.length, formulas, images, problems };
})()`;

/** Checks the page once MathJax has settled: re-checks until the report stops changing (or `settleMs` passes). */
export async function checkPage(page: Page, settleMs = 30_000): Promise<PageReport> {
  const deadline = Date.now() + settleMs;
  let last = "";
  let report = (await page.evaluate(PAGE_CHECK)) as PageReport;
  for (;;) {
    const busy = (await page.evaluate(
      `(() => { const hub = window.MathJax && window.MathJax.Hub; return !!document.querySelector(".MathJax_Processing, .MathJax_Processed + script[type^='math/tex']:not([id])") || !!(hub && hub.queue && hub.queue.pending); })()`,
    )) as boolean;
    const key = JSON.stringify(report);
    if ((!busy && key === last) || Date.now() > deadline) return report;
    last = key;
    await page.waitForTimeout(1500);
    report = (await page.evaluate(PAGE_CHECK)) as PageReport;
  }
}

/** Saves a full-length screenshot of the page (or of the element that scrolls, for the notebook UIs). */
export async function screenshot(page: Page, path: string, scroller?: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const height = scroller === undefined
    ? undefined
    : ((await page.evaluate(`(() => { const el = document.querySelector(${JSON.stringify(scroller)}); return el ? el.scrollHeight : 0; })()`)) as number);
  if (height !== undefined && height > 0) {
    const width = page.viewportSize()?.width ?? 1280;
    await page.setViewportSize({ width, height: Math.min(height + 200, 16_000) });
    await page.evaluate(`(() => { const el = document.querySelector(${JSON.stringify(scroller)}); if (el) el.scrollTop = 0; })()`);
    await page.waitForTimeout(1000);
  }
  await page.screenshot({ path, fullPage: true });
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

/** A running Jupyter server (classic Notebook or JupyterLab) on 127.0.0.1 with a random token. */
export interface JupyterServer {
  readonly base: string;
  readonly token: string;
  readonly env: NodeJS.ProcessEnv;
  readonly log: () => string;
  stop(): Promise<void>;
}

/** Starts `command args… --port P --token T` in `cwd` and waits until /api/status answers. */
export async function startJupyter(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<JupyterServer> {
  const port = await freePort();
  const token = randomBytes(16).toString("hex");
  const isLab = /lab$/.test(command) || args.includes("lab");
  const app = isLab ? "ServerApp" : "NotebookApp";
  const child: ChildProcess = spawn(command, [
    ...args, "--no-browser", `--port=${port}`, "--ip=127.0.0.1", `--${app}.token=${token}`, `--${app}.port_retries=0`, ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
  ], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout?.on("data", (d: Buffer) => { log += d.toString(); });
  child.stderr?.on("data", (d: Buffer) => { log += d.toString(); });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${command} exited (${child.exitCode}):\n${log}`);
    try {
      const res = await fetch(`${base}/api/status?token=${token}`);
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { child.kill("SIGTERM"); throw new Error(`${command} did not answer in ${timeoutMs} ms:\n${log}`); }
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    base, token, env, log: () => log,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
      setTimeout(() => { if (child.exitCode === null) child.kill("SIGKILL"); }, 10_000);
    }),
  };
}

/** The JupyterLab launcher to drive: $RICCI_JUPYTER_LAB, else a venv at .jupyterlab/ in the repository, else `jupyter-lab` on PATH; undefined when none. */
export function findJupyterLab(repo: string): string | undefined {
  const candidates = [
    process.env.RICCI_JUPYTER_LAB,
    join(repo, ".jupyterlab", "bin", "jupyter-lab"),
    ...(process.env.PATH ?? "").split(":").filter(Boolean).map((dir) => join(dir, "jupyter-lab")),
  ];
  return candidates.find((c): c is string => c !== undefined && c !== "" && existsSync(c));
}

/** JupyterLab user settings that keep every cell in the DOM (no windowing) and the news toast away. */
export function writeLabSettings(dir: string): void {
  const put = (plugin: string, settings: object) => {
    mkdirSync(join(dir, dirname(plugin)), { recursive: true });
    writeFileSync(join(dir, `${plugin}.jupyterlab-settings`), JSON.stringify(settings));
  };
  put("@jupyterlab/notebook-extension/tracker", { windowingMode: "none" });
  put("@jupyterlab/apputils-extension/notification", { fetchNews: "false", checkForUpdates: false });
}
