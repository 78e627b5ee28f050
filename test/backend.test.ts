/** Backend selection, checked in child processes so each starts from a fresh tfjs engine. */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";


function runWith(env: Record<string, string | undefined>): string {
  const out = execFileSync(process.execPath, ["--import", "tsx", "test/helpers/print-backend.ts"], {
    cwd: new URL("..", import.meta.url).pathname,
    env: { ...process.env, ...env },
    encoding: "utf8",
  });
  return out.split("\n").find((l) => l.startsWith("active=") || l.startsWith("error=")) ?? out;
}

describe("backend selection", () => {
  it("picks the fastest backend that loads (wasm here, where tfjs-node cannot install)", () => {
    const nativeInstalled = (() => {
      try {
        execFileSync("node", ["-e", "require.resolve('@tensorflow/tfjs-node')"], { stdio: "ignore" });
        return true;
      } catch {
        return false;
      }
    })();
    expect(runWith({ RICCI_BACKEND: undefined })).toBe(nativeInstalled ? "active=node" : "active=wasm");
  });

  it("honours RICCI_BACKEND", () => {
    expect(runWith({ RICCI_BACKEND: "cpu" })).toBe("active=cpu");
    expect(runWith({ RICCI_BACKEND: "wasm" })).toBe("active=wasm");
  });

  it("names the choices when RICCI_BACKEND is not a backend", () => {
    expect(runWith({ RICCI_BACKEND: "tpu" })).toBe('error=RicciError: RICCI_BACKEND="tpu" is not a backend; choose one of node-gpu, node, wasm, cpu');
  });
});
