/** Backend selection, checked in child processes so each starts from a fresh tfjs engine. */
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";


async function runWith(env: Record<string, string | undefined>): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "test/helpers/print-backend.ts"], {
    cwd: new URL("..", import.meta.url).pathname,
    env: { ...process.env, ...env },
    encoding: "utf8",
  });
  return stdout.split("\n").find((l) => l.startsWith("active=") || l.startsWith("error=")) ?? stdout;
}

describe.concurrent("backend selection", () => {
  it("picks the fastest backend that loads: ONNX Runtime (onnxruntime-node is installed here)", async () => {
    expect(() => execFileSync("node", ["-e", "require.resolve('onnxruntime-node')"], { stdio: "ignore" })).not.toThrow();
    expect(await runWith({ RICCI_BACKEND: undefined })).toBe("active=onnx");
  });

  it("without onnxruntime-node, says so in one line and takes the next backend", async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--require", "./test/helpers/hide-onnxruntime.cjs", "--import", "tsx", "test/helpers/print-backend.ts"], {
      cwd: new URL("..", import.meta.url).pathname,
      env: { ...process.env, RICCI_BACKEND: "" },
      encoding: "utf8",
    });
    const tfjsNode = (() => {
      try {
        execFileSync("node", ["-e", "require.resolve('@tensorflow/tfjs-node')"], { stdio: "ignore" });
        return true;
      } catch {
        return false;
      }
    })();
    expect(stdout).toContain(tfjsNode ? "active=node" : "active=wasm");
    const notice = stderr.split("\n").filter((l) => l.includes("onnxruntime-node"));
    expect(notice).toHaveLength(1);
    expect(notice[0]).toMatch(/^ricci: onnxruntime-node could not be loaded \(.+\); compiled graphs run on tfjs instead/);
  });

  it("names a bad RICCI_THREADS instead of falling back", async () => {
    expect(await runWith({ RICCI_BACKEND: undefined, RICCI_THREADS: "zero" })).toBe('error=RicciError: RICCI_THREADS="zero" must be an integer ≥ 1');
  });

  it("RICCI_BACKEND=onnx uses ONNX Runtime with a tfjs backend for the glue", async () => {
    expect(await runWith({ RICCI_BACKEND: "onnx" })).toBe("active=onnx");
  });

  it("honours RICCI_BACKEND", async () => {
    expect(await runWith({ RICCI_BACKEND: "cpu" })).toBe("active=cpu");
  });

  it("names the choices when RICCI_BACKEND is not a backend", async () => {
    expect(await runWith({ RICCI_BACKEND: "tpu" })).toBe('error=RicciError: RICCI_BACKEND="tpu" is not a backend; choose one of onnx, node-gpu, node, wasm, cpu');
  });
});
