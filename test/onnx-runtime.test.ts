/**
 * Loading ONNX Runtime (src/lower/onnx/runtime.ts) under each setting it reads from the
 * environment. `loadOnnxRuntime` loads once per module instance, so each case imports a fresh
 * instance of the module (a query string makes vite load it anew) with its environment set.
 */
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { afterEach, describe, expect, it } from "vitest";
import type * as Runtime from "../src/lower/onnx/runtime.js";
import { add, compile, scale, variable } from "../src/index.js";
import { RicciError } from "../src/errors.js";

const KEYS = ["RICCI_THREADS", "RICCI_ONNX_PROVIDERS", "RICCI_ONNX_LOG", "RICCI_ONNX_SPIN"] as const;
const saved = Object.fromEntries(KEYS.map((k) => [k, process.env[k]]));

afterEach(() => {
  for (const k of KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

let instance = 0;
/** A fresh instance of the runtime module, loaded with `env` set. */
async function freshRuntime(env: Partial<Record<(typeof KEYS)[number], string>>): Promise<typeof Runtime> {
  for (const k of KEYS) delete process.env[k];
  Object.assign(process.env, env);
  return (await import(/* @vite-ignore */ `../src/lower/onnx/runtime.js?instance=${++instance}`)) as typeof Runtime;
}

/** The ONNX bytes of y = 2·x + 1 over four entries, traced by ricci (its output is named "ricci::out0_y"). */
const model = (): Uint8Array => compile({ y: add(scale(variable("x", { i: 4 }), 2), 1) }).onnx().model;

describe("loading ONNX Runtime", () => {
  it("uses RICCI_THREADS threads per session and the cpu provider by default, and runs a model synchronously", async () => {
    expect((await freshRuntime({ RICCI_THREADS: "1" })).defaultThreads()).toBe(1);
    const { loadOnnxRuntime, defaultThreads } = await freshRuntime({ RICCI_THREADS: "3" });
    expect(defaultThreads()).toBe(3);
    const runtime = loadOnnxRuntime();
    if (typeof runtime === "string") throw new Error(runtime);
    expect(runtime.threads).toBe(3);
    expect(runtime.providers).toEqual(["cpu"]);
    expect(runtime.version).toMatch(/^\d+\.\d+\.\d+$/);
    // Loaded once: the same object on the next call.
    expect(loadOnnxRuntime()).toBe(runtime);
    const session = runtime.session(model());
    const x = runtime.tensor("float32", Float32Array.of(1, -2, 3.5, 0), [4]);
    const y = session.run({ x }, ["ricci::out0_y"])["ricci::out0_y"];
    expect(y.dims).toEqual([4]);
    expect(Array.from(y.data)).toEqual([3, -3, 8, 1]);
    session.dispose();
  });

  it("gives each session a pool of RICCI_THREADS threads, the calling thread included, ended by dispose", async () => {
    const threadsOfProcess = (): number => readdirSync("/proc/self/task").length;
    const added: Record<string, number> = {};
    for (const n of [1, 3]) {
      const runtime = (await freshRuntime({ RICCI_THREADS: String(n) })).loadOnnxRuntime();
      if (typeof runtime === "string") throw new Error(runtime);
      const before = threadsOfProcess();
      const session = runtime.session(model());
      added[n] = threadsOfProcess() - before;
      session.dispose();
      // Disposing the session ends its pool at once, without waiting for a collection.
      expect(threadsOfProcess()).toBe(before);
    }
    expect(added).toEqual({ 1: 0, 3: 2 });
  });

  it("lists RICCI_ONNX_PROVIDERS in order, lower-cased and trimmed, with cpu added last when missing", async () => {
    const providers = async (set: string): Promise<readonly string[]> => {
      const runtime = (await freshRuntime({ RICCI_ONNX_PROVIDERS: set })).loadOnnxRuntime();
      if (typeof runtime === "string") throw new Error(runtime);
      return runtime.providers;
    };
    expect(await providers(" CUDA , ")).toEqual(["cuda", "cpu"]);
    expect(await providers("cpu,cuda")).toEqual(["cpu", "cuda"]);
    expect(await providers("")).toEqual(["cpu"]);
  });

  it("without RICCI_THREADS, one thread per core", async () => {
    const { defaultThreads } = await freshRuntime({});
    const { availableParallelism } = await import("node:os");
    expect(defaultThreads()).toBe(availableParallelism());
    expect((await freshRuntime({ RICCI_THREADS: "" })).defaultThreads()).toBe(availableParallelism());
  });

  it("refuses a RICCI_THREADS that is not a positive integer, naming it", async () => {
    for (const bad of ["0", "-1", "1.5", "two"]) {
      const { loadOnnxRuntime } = await freshRuntime({ RICCI_THREADS: bad });
      expect(() => loadOnnxRuntime()).toThrow(new RicciError(`RICCI_THREADS="${bad}" must be an integer ≥ 1`));
    }
  });

  it("keeps ONNX Runtime's log to errors unless RICCI_ONNX_LOG asks for more", async () => {
    const ort = createRequire(import.meta.url)("onnxruntime-node") as { env: { logLevel?: string } };
    (await freshRuntime({})).loadOnnxRuntime();
    expect(ort.env.logLevel).toBe("error");
    (await freshRuntime({ RICCI_ONNX_LOG: "warning" })).loadOnnxRuntime();
    expect(ort.env.logLevel).toBe("warning");
    (await freshRuntime({})).loadOnnxRuntime();
    expect(ort.env.logLevel).toBe("error");
  });

  it("names what is wrong with a model it cannot load", async () => {
    const runtime = (await freshRuntime({})).loadOnnxRuntime();
    if (typeof runtime === "string") throw new Error(runtime);
    expect(() => runtime.session(Uint8Array.of(1, 2, 3, 4))).toThrow(new RicciError("ONNX Runtime could not load the model: Failed to load model because protobuf parsing failed."));
  });

  it("without onnxruntime-node, gives the reason in one line instead of throwing", async () => {
    const Module = createRequire(import.meta.url)("node:module") as { _load: (request: string, ...rest: unknown[]) => unknown };
    const load = Module._load;
    Module._load = function (this: unknown, request: string, ...rest: unknown[]): unknown {
      if (request === "onnxruntime-node") throw new Error(`Cannot find module '${request}'\nRequire stack:\n- somewhere`);
      return load.call(this, request, ...rest);
    };
    try {
      const { loadOnnxRuntime } = await freshRuntime({});
      expect(loadOnnxRuntime()).toBe("onnxruntime-node could not be loaded (Cannot find module 'onnxruntime-node')");
    } finally {
      Module._load = load;
    }
  });
});
