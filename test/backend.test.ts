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
  it("picks the fastest backend that loads (wasm here, where tfjs-node cannot install)", async () => {
    const nativeInstalled = (() => {
      try {
        execFileSync("node", ["-e", "require.resolve('@tensorflow/tfjs-node')"], { stdio: "ignore" });
        return true;
      } catch {
        return false;
      }
    })();
    expect(await runWith({ RICCI_BACKEND: undefined })).toBe(nativeInstalled ? "active=node" : "active=wasm");
  });

  it("honours RICCI_BACKEND", async () => {
    expect(await runWith({ RICCI_BACKEND: "cpu" })).toBe("active=cpu");
  });

  it("names the choices when RICCI_BACKEND is not a backend", async () => {
    expect(await runWith({ RICCI_BACKEND: "tpu" })).toBe('error=RicciError: RICCI_BACKEND="tpu" is not a backend; choose one of node-gpu, node, wasm, cpu');
  });
});
