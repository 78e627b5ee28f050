/**
 * ricci as a user's dependency: the packed tarball installs into a fresh project outside this
 * repository (from npm's cache, no install scripts needed); `import { compile } from "ricci"`
 * there runs a compiled gradient on ONNX Runtime with the right values and loads no module of
 * the models, training, RL or pipeline floors (nor mathjs); every subpath entry type-checks from a strict
 * TypeScript consumer.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const repo = new URL("..", import.meta.url).pathname;

const script = `
import { compile, describeBackend, grad, initBackend, logsumexp, mean, dot, variable } from "ricci";
const W = variable("W", { in: 2, out: 3 });
const x = variable("x", { batch: 1, in: 2 });
const loss = mean(logsumexp(dot(x, W), "out"));
await initBackend();
const out = compile({ dW: grad(loss, W) }).runArrays({ W: [[0, 1, 2], [3, 4, 5]], x: [[1, 2]] });
console.log(JSON.stringify({ engine: describeBackend(), dW: Array.from(out.dW.data) }));
`;

/** Logs every module URL the program resolves (a Node module hook), so the test sees what an import loads. */
const resolveHook = `
import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(process.env.LOADED_LOG, result.url + "\\n");
  return result;
}
`;

/** Uses each subpath from a strict TypeScript project. */
const typedConsumer = `
import { type Expr, grad, toLatex, variable } from "ricci";
import { type GptConfig, gptParams, initGpt } from "ricci/nn";
import { adamW, fusedAdamW, type AdamW } from "ricci/train";
import { grpoObjective, type GrpoTrainerOptions } from "ricci/rl";
import { SIZES, type RunSize } from "ricci/pipeline";
import * as everything from "ricci/all";
const size: RunSize = "ci";
const config: GptConfig = SIZES[size].model;
const W = variable("W", { i: 2 });
const dW: Expr = grad(W, [W])[0];
const options: GrpoTrainerOptions = { promptsPerStep: 2, groupSize: 4 };
const uses: unknown[] = [toLatex(dW), gptParams(config), initGpt, adamW, fusedAdamW, grpoObjective, options, everything.pipeline];
const optimizer: AdamW | null = null;
export { uses, optimizer };
`;

describe("a fresh consumer project", () => {
  it("installs the packed tarball and runs a compiled gradient on ONNX Runtime", () => {
    const work = mkdtempSync(join(tmpdir(), "ricci-consumer-"));
    execFileSync("npm", ["pack", "--pack-destination", work, "--silent"], { cwd: repo, stdio: ["ignore", "ignore", "inherit"] });
    const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
    expect(tarball).toBeDefined();
    const project = join(work, "app");
    execFileSync("mkdir", [project]);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    execFileSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--silent", join(work, tarball!)], {
      cwd: project, stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: "skip" },
    });
    writeFileSync(join(project, "main.mjs"), script);
    writeFileSync(join(project, "hooks.mjs"), resolveHook);
    writeFileSync(join(project, "register.mjs"), `import { register } from "node:module";\nregister("./hooks.mjs", import.meta.url);\n`);
    const loadedLog = join(work, "loaded.txt");
    const stdout = execFileSync(process.execPath, ["--import", "./register.mjs", "main.mjs"], {
      cwd: project, encoding: "utf8", env: { ...process.env, RICCI_BACKEND: "", LOADED_LOG: loadedLog },
    });
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as { engine: string; dW: number[] };
    expect(result.engine).toMatch(/^onnx \(ONNX Runtime/);
    // ∂/∂W of logsumexp(x·W) is xᵀ·softmax(x·W): logits [6, 9, 12].
    const z = [6, 9, 12].map((l) => Math.exp(l));
    const p = z.map((v) => v / z.reduce((a, b) => a + b));
    const expected = [1, 2].flatMap((xi) => p.map((pj) => xi * pj));
    result.dW.forEach((g, i) => expect(g).toBeCloseTo(expected[i], 5));

    // What `import … from "ricci"` loaded of ricci: the language's floors only, and not mathjs
    // (hundreds of modules, loaded when an `fn` formula is first parsed).
    const loaded = readFileSync(loadedLog, "utf8").split("\n");
    expect(loaded.filter((url) => url.includes("/node_modules/mathjs/"))).toEqual([]);
    const ricciModules = loaded.filter((url) => url.includes("/node_modules/ricci/dist/"));
    expect(ricciModules.length).toBeGreaterThan(20);
    const floors = new Set(ricciModules.map((url) => url.split("/node_modules/ricci/dist/")[1].split("/")[0]));
    for (const upper of ["nn", "data", "train", "sample", "rl", "pipeline", "viz", "entries"]) expect(floors.has(upper)).toBe(false);

    // Every subpath, with its types, from a strict TypeScript project.
    writeFileSync(join(project, "typed.ts"), typedConsumer);
    writeFileSync(join(project, "tsconfig.json"), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", skipLibCheck: false, types: [] },
      files: ["typed.ts"],
    }));
    const tsc = join(repo, "node_modules", "typescript", "bin", "tsc");
    let diagnostics = "";
    try {
      execFileSync(process.execPath, [tsc, "-p", "."], { cwd: project, encoding: "utf8" });
    } catch (error) {
      diagnostics = String((error as { stdout?: string }).stdout ?? error);
    }
    // tfjs-core's own declarations name a \`Long\` type they do not import; that is theirs, not ricci's.
    const ours = diagnostics.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("node_modules/@tensorflow/"));
    expect(ours).toEqual([]);
  }, 300_000);
});
