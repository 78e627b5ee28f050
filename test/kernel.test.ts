/**
 * The ricci Jupyter kernel, driven the way Jupyter drives it: `ricci kernel install` (the built
 * dist/kernel/cli.js, what `npm run kernel:install` runs after building) writes the kernelspec
 * into a temporary prefix, and Debian's jupyter_client on /usr/bin/python3 starts the kernel from it. Two kernels run side by side: one for Jupyter's own conformance suite
 * (jupyter_kernel_test, kernels/ricci/test_conformance.py), one for the scenarios below
 * (test/helpers/kernel_client.py runs them and reports every message as JSON).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportedNames, RICCI_ENTRY } from "../kernels/ricci/preload.js";
import { codePointsToUtf16, utf16ToCodePoints } from "../kernels/ricci/runtime.js";
import { typescript } from "../kernels/ricci/tslab.js";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const PYTHON = "/usr/bin/python3";
const APT_LINE =
  "sudo apt-get update && sudo apt-get install -y jupyter-client python3-nbclient jupyter-nbconvert python3-jupyter-kernel-test python3-ipykernel";

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runProcess(command: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Finished> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

/** Fails (never skips) when this machine lacks Jupyter's Python packages, saying how to get them. */
function requireJupyter(): void {
  const probe = spawnSync(PYTHON, ["-c", "import jupyter_client, jupyter_kernel_test"], { encoding: "utf8" });
  if (probe.status !== 0) {
    throw new Error(
      `The kernel tests drive the kernel with Jupyter's Python client, and ${PYTHON} cannot import it ` +
        `(${(probe.error?.message ?? probe.stderr).trim()}). Install Debian's Jupyter packages:\n  ${APT_LINE}`,
    );
  }
}

// -- what kernel_client.py reports -----------------------------------------------------------

type Json = Record<string, unknown>;
interface Output {
  msg_type: string;
  content: Json;
}
interface Executed {
  op: "execute";
  reply: Json;
  outputs: Output[];
  /** SIGINTs sent to stop the cell (see kernel_client.py). */
  interrupts: number;
  seconds: number;
}
interface Step {
  op: string;
  seconds: number;
  [field: string]: unknown;
}

const execute = (code: string, extra: Json = {}): Json => ({ op: "execute", code, ...extra });

/** The scenario: one kernel, these steps in order; step(name) finds a step's result. */
const SCENARIO = {
  first: execute("1 + 1"),
  typeError: execute('const typed: number = "not a number";'),
  afterTypeError: execute("const answer = 6 * 7;\nanswer"),
  runtimeError: execute('throw new RangeError("out of range: " + answer)'),
  afterRuntimeError: execute("answer + 1"),
  busyLoop: execute('console.log("spinning");\nwhile (true) {}', { interrupt_on: "spinning" }),
  afterBusyLoop: execute('[answer, answer * 2].join(",")'),
  endlessWait: execute('console.log("waiting");\nawait new Promise(() => {})', { interrupt_on: "waiting" }),
  afterEndlessWait: execute("answer * 10"),
  expression: execute('dot(variable("x", { batch: 8, in: 4 }), variable("W", { in: 4, out: 3 }))'),
  displays: execute(
    'const bar = displayHandle();\nawait bar.update("step 1");\nawait bar.update("step 2");\ndisplay(variable("v", { i: 2 }));',
  ),
  chart: execute('chartBundle(lineChart({ title: "loss", data: [{ step: 1, loss: 2 }, { step: 2, loss: 1 }], x: "step", y: "loss" }))'),
  chartSpec: execute('lineChart({ title: "curve", data: [{ step: 1, loss: 3 }], x: "step", y: "loss" })'),
  customDisplay: execute('({ [Symbol.for("ricci.display")]() { return { "text/markdown": "**custom**" }; } })'),
  importRicci: execute(
    'import { variable as v, grad as g, toLatex as latex, type Expr as E } from "ricci";\n' +
      '// One ricci: the imported names and the preloaded ones share types and values.\n' +
      'const u: E = v("u", { i: 3 });\nconst sameRicci: boolean = v === variable && g === grad;\nlatex(g(dot(u, u), [u])[0]) + (sameRicci ? " (one ricci)" : " (two riccis)")',
  ),
  importSubpath: execute('import { gptParams as params } from "ricci/nn";\nimport { SIZES as sizes } from "ricci/pipeline";\n[typeof params, Object.keys(sizes).join("+")].join(" ")'),
  importTslab: execute('import * as tslab from "tslab";\ntslab.display.html("<b>from tslab</b>");\ntslab.versions.tslab'),
  importNeighbour: execute('import { pipe } from "fp-ts/lib/function.js";\npipe(20, (n: number) => n + 1, (n) => n * 2)'),
  importMissing: execute('import { nothing } from "no-such-package-here";\nnothing'),
  queuedAfterError: { op: "execute_queued", codes: ['throw new Error("first")', "answer"], stop_on_error: true },
  queuedIgnoringError: { op: "execute_queued", codes: ['throw new Error("first")', "answer"], stop_on_error: false },
  restart: { op: "shutdown", restart: true },
} satisfies Record<string, Json>;
type StepName = keyof typeof SCENARIO;
const STEP_NAMES = Object.keys(SCENARIO) as StepName[];

let prefix: string;
let conformance: Promise<Finished>;
let scenario: Promise<Step[]>;
let installed: Finished;

beforeAll(async () => {
  requireJupyter();
  prefix = mkdtempSync(join(tmpdir(), "ricci-kernel-"));
  installed = await runProcess(process.execPath, [join(ROOT, "dist", "kernel", "cli.js"), "kernel", "install", "--prefix", prefix], process.env);
  const env = {
    ...process.env,
    JUPYTER_PATH: join(prefix, "share", "jupyter"),
    JUPYTER_RUNTIME_DIR: join(prefix, "runtime"),
    PYTHONDONTWRITEBYTECODE: "1",
  };
  conformance = runProcess(PYTHON, ["-m", "unittest", "-v", "kernels/ricci/test_conformance.py"], env);
  scenario = runProcess(PYTHON, ["test/helpers/kernel_client.py"], env, JSON.stringify(STEP_NAMES.map((name) => SCENARIO[name]))).then(
    (finished) => {
      if (finished.code !== 0) throw new Error(`kernel_client.py failed (exit ${finished.code}):\n${finished.stderr}`);
      return JSON.parse(finished.stdout) as Step[];
    },
  );
  // Both run while the tests below wait for them; neither may reject unobserved meanwhile.
  conformance.catch(() => undefined);
  scenario.catch(() => undefined);
});

afterAll(() => {
  if (prefix !== undefined) rmSync(prefix, { recursive: true, force: true });
});

async function step(name: StepName): Promise<Step> {
  // Result 0 is the kernel's start.
  return (await scenario)[STEP_NAMES.indexOf(name) + 1];
}

async function executed(name: StepName): Promise<Executed> {
  const result = await step(name);
  expect(result.op).toBe("execute");
  return result as unknown as Executed;
}

function outputsOfType(cell: Executed, msgType: string): Json[] {
  return cell.outputs.filter((o) => o.msg_type === msgType).map((o) => o.content);
}

/** The SVG documents of every `<img src="data:image/svg+xml;base64,…">` in some HTML. */
function embeddedSvgs(html: string): string[] {
  return [...html.matchAll(/<img src="data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1], "base64").toString("utf8"));
}

/** The one execute_result's data of a cell that succeeded. */
function resultData(cell: Executed): Json {
  expect(cell.reply.status, JSON.stringify(cell.reply)).toBe("ok");
  const results = outputsOfType(cell, "execute_result");
  expect(results).toHaveLength(1);
  expect(results[0].execution_count).toBe(cell.reply.execution_count);
  return results[0].data as Json;
}

/** The cell failed: status error in the reply, and one `error` message on iopub with the same fields. */
function errorOf(cell: Executed): { ename: string; evalue: string; traceback: string[] } {
  expect(cell.reply.status).toBe("error");
  const errors = outputsOfType(cell, "error");
  expect(errors).toHaveLength(1);
  const error = errors[0] as { ename: string; evalue: string; traceback: string[] };
  expect(cell.reply).toMatchObject(error);
  expect(error.traceback.length).toBeGreaterThan(0);
  return error;
}

describe("ricci kernel", () => {
  // These two run while the kernels start in the background.
  it("converts cursor positions between code points (Jupyter) and UTF-16 offsets (JavaScript)", () => {
    const text = "a😀b"; // 3 code points; the emoji takes two UTF-16 units
    expect([0, 1, 2, 3].map((cp) => codePointsToUtf16(text, cp))).toEqual([0, 1, 3, 4]);
    expect([0, 1, 3, 4].map((offset) => utf16ToCodePoints(text, offset))).toEqual([0, 1, 2, 3]);
  });

  it("finds every runtime export of the built package among the names the hidden first cell imports", async () => {
    const names = new Set(exportedNames(typescript, RICCI_ENTRY.replace(/\.js$/, ".d.ts")));
    const runtime = Object.keys(await import(/* @vite-ignore */ RICCI_ENTRY));
    expect(runtime.length).toBeGreaterThan(50);
    expect(runtime.filter((name) => !names.has(name))).toEqual([]);
    // Type-only exports come from the declarations alone.
    for (const typeName of ["Expr", "Edge", "Variable"]) expect(names.has(typeName)).toBe(true);
  });

  it("installs a kernelspec that runs this package's built kernel with absolute paths", () => {
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stdout).toContain(`JUPYTER_PATH=${join(prefix, "share", "jupyter")}`);
    const spec = JSON.parse(readFileSync(join(prefix, "share", "jupyter", "kernels", "ricci", "kernel.json"), "utf8")) as {
      argv: string[];
      display_name: string;
      language: string;
      interrupt_mode: string;
    };
    expect(spec).toMatchObject({ display_name: "ricci (TypeScript)", language: "typescript", interrupt_mode: "signal" });
    expect(spec.argv).toEqual([process.execPath, join(ROOT, "dist", "kernel", "main.js"), "--connection-file", "{connection_file}"]);
    expect(existsSync(spec.argv[1])).toBe(true);
  });

  it("passes Jupyter's kernel conformance suite (jupyter_kernel_test)", async () => {
    const { code, stderr } = await conformance;
    expect(code, stderr).toBe(0);
    // Twelve tests, of which only test_pager skips (the kernel has no pager); a test that starts
    // skipping, or a subtest failure, shows up here.
    expect(stderr).toMatch(/^Ran 12 tests in /m);
    expect(stderr).toMatch(/^OK \(skipped=1\)$/m);
    expect(stderr).toMatch(/test_pager .* skipped/);
    expect(stderr.match(/ \.\.\. ok$/gm)).toHaveLength(11);
  });

  it("numbers executions 1, 2, 3, … including failed ones", async () => {
    const counts = [];
    for (const name of STEP_NAMES.slice(0, STEP_NAMES.indexOf("afterEndlessWait") + 1)) {
      const cell = await executed(name);
      counts.push(cell.reply.execution_count);
      const input = outputsOfType(cell, "execute_input");
      expect(input).toHaveLength(1);
      expect(input[0].execution_count).toBe(cell.reply.execution_count);
    }
    expect(counts).toEqual(counts.map((_, i) => i + 1));
  });

  it("returns the last expression's value as execute_result", async () => {
    expect(resultData(await executed("first"))).toEqual({ "text/plain": "2" });
  });

  it("reports a type error as an error message, and the next cell runs", async () => {
    const error = errorOf(await executed("typeError"));
    expect(error.ename).toBe("TSError");
    expect(error.evalue).toContain("Type 'string' is not assignable to type 'number'");
    expect(error.traceback[0]).toMatch(/^cell:1:7 - error TS2322: /);
    expect(resultData(await executed("afterTypeError"))).toEqual({ "text/plain": "42" });
  });

  it("reports a runtime error with its name, message and stack, and the next cell sees earlier declarations", async () => {
    const error = errorOf(await executed("runtimeError"));
    expect(error).toMatchObject({ ename: "RangeError", evalue: "out of range: 42" });
    expect(error.traceback[0]).toBe("RangeError: out of range: 42");
    expect(error.traceback.some((line) => /^\s+at /.test(line))).toBe(true);
    expect(resultData(await executed("afterRuntimeError"))).toEqual({ "text/plain": "43" });
  });

  it("interrupts a synchronous infinite loop mid-cell, and the kernel stays usable", async () => {
    const loop = await executed("busyLoop");
    expect(outputsOfType(loop, "stream")[0]).toEqual({ name: "stdout", text: "spinning\n" });
    expect(errorOf(loop).ename).toBe("Interrupted");
    expect(loop.interrupts).toBe(1);
    expect(resultData(await executed("afterBusyLoop"))).toEqual({ "text/plain": "42,84" });
  });

  it("interrupts a cell awaiting a promise that never settles", async () => {
    const wait = await executed("endlessWait");
    expect(errorOf(wait).ename).toBe("Interrupted");
    expect(wait.interrupts).toBe(1);
    expect(resultData(await executed("afterEndlessWait"))).toEqual({ "text/plain": "420" });
  });

  it("shows an expression as HTML (formula beside diagram), LaTeX, SVG diagram and text", async () => {
    const data = resultData(await executed("expression"));
    expect(Object.keys(data).sort()).toEqual(["image/svg+xml", "text/html", "text/latex", "text/plain"]);
    const latex = data["text/latex"] as string;
    expect(latex.startsWith("$$") && latex.endsWith("$$")).toBe(true);
    expect(latex).toMatch(/W/);
    expect(latex).toMatch(/x/);
    expect(data["image/svg+xml"]).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    const html = data["text/html"] as string;
    expect(html).toContain(latex);
    expect(embeddedSvgs(html)).toEqual([data["image/svg+xml"]]);
    const text = data["text/plain"] as string;
    expect(text).toMatch(/W/);
    expect(text).not.toBe(latex);
  });

  it("display() sends display_data; displayHandle() updates one area in place", async () => {
    const cell = await executed("displays");
    expect(cell.reply.status).toBe("ok");
    const kinds = cell.outputs.map((o) => o.msg_type).filter((t) => t !== "execute_input");
    expect(kinds).toEqual(["display_data", "update_display_data", "display_data"]);
    const [first, update, diagram] = cell.outputs.filter((o) => o.msg_type !== "execute_input").map((o) => o.content);
    expect(first.data).toEqual({ "text/plain": "step 1" });
    expect(update.data).toEqual({ "text/plain": "step 2" });
    const id = (first.transient as Json).display_id;
    expect(typeof id).toBe("string");
    expect((update.transient as Json).display_id).toBe(id);
    expect(Object.keys(diagram.data as Json)).toEqual(expect.arrayContaining(["text/html", "text/latex", "image/svg+xml", "text/plain"]));
  });

  it("awaits a promised MIME bundle (chartBundle) and shows chart specs as Vega-Lite + SVG", async () => {
    const bundle = resultData(await executed("chart"));
    const spec = bundle["application/vnd.vegalite.v6+json"] as { data: { values: unknown[] } };
    expect(spec.data.values).toHaveLength(2);
    expect(bundle["image/svg+xml"]).toMatch(/^<svg/);
    const fromSpec = resultData(await executed("chartSpec"));
    expect(Object.keys(fromSpec).sort()).toEqual(["application/vnd.vegalite.v6+json", "image/svg+xml", "text/html", "text/plain"]);
    expect(embeddedSvgs(fromSpec["text/html"] as string)).toEqual([fromSpec["image/svg+xml"]]);
  });

  it("shows an object through its [Symbol.for(\"ricci.display\")]() bundle", async () => {
    expect(resultData(await executed("customDisplay"))).toEqual({ "text/markdown": "**custom**" });
  });

  it("imports ricci in a cell as the preloaded package: same values, same types", async () => {
    const latex = resultData(await executed("importRicci"))["text/plain"] as string;
    expect(latex).toMatch(/^2 u_\{i\} \(one ricci\)$/);
  });

  it("imports ricci's subpaths, tslab (whose display reaches the notebook) and packages resolvable from the working directory", async () => {
    expect(resultData(await executed("importSubpath"))).toEqual({ "text/plain": "function ci+full" });
    const tslab = await executed("importTslab");
    expect(outputsOfType(tslab, "display_data").map((c) => c.data)).toEqual([{ "text/html": "<b>from tslab</b>" }]);
    expect(resultData(tslab)["text/plain"]).toMatch(/^\d+\.\d+\.\d+$/);
    expect(resultData(await executed("importNeighbour"))).toEqual({ "text/plain": "42" });
  });

  it("reports an import that does not resolve as a compile error naming the module", async () => {
    const error = errorOf(await executed("importMissing"));
    expect(error.ename).toBe("TSError");
    expect(error.evalue).toContain("Cannot find module 'no-such-package-here'");
  });

  it("answers a cell queued behind a failing one: aborted with stop_on_error, run without", async () => {
    const stopped = (await step("queuedAfterError")).replies as Json[];
    expect(stopped.map((r) => r.status)).toEqual(["error", "aborted"]);
    const continued = (await step("queuedIgnoringError")).replies as Json[];
    expect(continued.map((r) => r.status)).toEqual(["error", "ok"]);
  });

  it("answers a restart's shutdown_request and exits by itself", async () => {
    const restart = await step("restart");
    expect(restart.reply).toEqual({ status: "ok", restart: true });
    expect(restart.exit_code).toBe(0);
    expect(restart.seconds).toBeLessThan(5);
  });
});

// -- what a reader of an exported notebook sees ----------------------------------------------

/** A notebook for the ricci kernel with these code cells (the .ipynb JSON). */
function notebookOf(cells: string[]): string {
  return JSON.stringify({
    cells: cells.map((source, i) => ({ cell_type: "code", id: `cell-${i}`, execution_count: null, metadata: {}, outputs: [], source })),
    metadata: { kernelspec: { name: "ricci", display_name: "ricci (TypeScript)", language: "typescript" } },
    nbformat: 4,
    nbformat_minor: 5,
  });
}

const decodeHtml = (html: string): string => html.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");

/** The page's body outside the elements MathJax 2 does not typeset (tex2jax's skipTags; code cells are in <pre>). */
function typesetText(page: string): string {
  return page.slice(page.indexOf("<body")).replace(/<(script|noscript|style|textarea|pre|code)\b[\s\S]*?<\/\1>/g, "");
}

describe("a notebook exported with nbconvert --to html", () => {
  it("shows each expression's formula as MathJax-typesettable $$…$$ and its diagram as a non-empty SVG image, and charts as images", async () => {
    const { toLatex, toLatexDerivation, toSvg, dot, grad, grpoLoss, simplify, variable, MATHJAX2_MAX_BUFFER } = await import("../src/index.js");
    const dir = mkdtempSync(join(tmpdir(), "ricci-nbconvert-"));
    try {
      const cells = [
        'dot(variable("x", { batch: 8, in: 4 }), variable("W", { in: 4, out: 3 }))',
        [
          "const te = { group: 2, sample: 3, t: 4 };",
          'const [logp, oldLogp, refLogp, mask] = ["logp", "oldLogp", "refLogp", "mask"].map((n) => variable(n, te));',
          'const rewards = variable("rewards", { group: 2, sample: 3 });',
          "simplify(grad(grpoLoss({ logp: logp, oldLogp: oldLogp, refLogp: refLogp, rewards: rewards, mask: mask }).loss, logp))",
        ].join("\n"),
        'lineChart({ title: "nbconvert chart", data: [{ step: 1, loss: 2 }, { step: 2, loss: 1 }], x: "step", y: "loss" })',
      ];
      writeFileSync(join(dir, "display.ipynb"), notebookOf(cells));
      const env = { ...process.env, JUPYTER_PATH: join(prefix, "share", "jupyter"), JUPYTER_RUNTIME_DIR: join(prefix, "runtime"), PYTHONDONTWRITEBYTECODE: "1" };
      const run = await runProcess(
        "/usr/bin/jupyter",
        ["nbconvert", "--to", "html", "--execute", "--ExecutePreprocessor.kernel_name=ricci", "--ExecutePreprocessor.timeout=600", "--output-dir", dir, join(dir, "display.ipynb")],
        env,
      );
      expect(run.code, run.stderr).toBe(0);
      const page = readFileSync(join(dir, "display.html"), "utf8");

      // The page loads MathJax and has it typeset $$…$$ display maths.
      expect(page).toMatch(/<script[^>]+src="[^"]*MathJax\.js/);
      expect(page).toContain("displayMath: [ ['$$','$$']");

      // Every output went through text/html: no emptied image/svg+xml output, no raw LaTeX output.
      expect(page).not.toContain('data-mime-type="image/svg+xml"');
      expect(page).not.toContain('data-mime-type="text/latex"');

      // The diagrams: non-empty SVG images with the boxes and wires of the expressions.
      const svgs = embeddedSvgs(page);
      const x = variable("x", { batch: 8, in: 4 });
      const W = variable("W", { in: 4, out: 3 });
      expect(svgs).toContain(toSvg(dot(x, W)));
      const product = svgs.find((svg) => svg === toSvg(dot(x, W)))!;
      for (const label of ["x", "W", "in", "batch", "out"]) expect(product).toContain(`>${label}</text>`);
      expect(svgs.some((svg) => svg.includes(">nbconvert chart</text>"))).toBe(true);

      // The formulas, where MathJax typesets them and as it will read them (entities decoded).
      const maths = [...typesetText(page).matchAll(/\$\$([\s\S]*?)\$\$/g)].map((m) => decodeHtml(m[1]));
      expect(maths).toContain(toLatex(dot(x, W)));
      const te = { group: 2, sample: 3, t: 4 };
      const [logp, oldLogp, refLogp, mask] = ["logp", "oldLogp", "refLogp", "mask"].map((n) => variable(n, te));
      const gradient = simplify(grad(grpoLoss({ logp, oldLogp, refLogp, rewards: variable("rewards", { group: 2, sample: 3 }), mask }).loss, logp));
      const blocks = toLatexDerivation(gradient);
      expect(blocks.length).toBeGreaterThan(1);
      for (const block of blocks) expect(maths).toContain(block);
      for (const tex of maths) {
        expect(tex.length).toBeLessThan(MATHJAX2_MAX_BUFFER);
        expect(tex).not.toContain("#");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
