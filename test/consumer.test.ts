/**
 * ricci as a user's dependency: the packed tarball installs into a fresh project outside this
 * repository (from npm's cache, no install scripts needed), and `import { compile } from
 * "ricci"` there runs a compiled gradient on ONNX Runtime with the right values.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
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
    const stdout = execFileSync(process.execPath, ["main.mjs"], { cwd: project, encoding: "utf8", env: { ...process.env, RICCI_BACKEND: "" } });
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as { engine: string; dW: number[] };
    expect(result.engine).toMatch(/^onnx \(ONNX Runtime/);
    // ∂/∂W of logsumexp(x·W) is xᵀ·softmax(x·W): logits [6, 9, 12].
    const z = [6, 9, 12].map((l) => Math.exp(l));
    const p = z.map((v) => v / z.reduce((a, b) => a + b));
    const expected = [1, 2].flatMap((xi) => p.map((pj) => xi * pj));
    result.dW.forEach((g, i) => expect(g).toBeCloseTo(expected[i], 5));
  }, 300_000);
});
