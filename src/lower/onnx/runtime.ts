/**
 * ONNX Runtime through `onnxruntime-node`'s native binding, used synchronously: the binding
 * loads a model and runs it in the calling thread (the package's public `run` only defers the
 * same call with setImmediate), which keeps ricci's `runSync` contract and saves a tick per
 * call. onnxruntime-node is an optional dependency: `loadOnnxRuntime` reports why it is
 * missing instead of throwing.
 */
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { inspect } from "node:util";
import { RicciError } from "../../errors.js";

/** The parts of onnxruntime-common's Tensor ricci uses. */
export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: Float32Array | Float64Array;
}

interface NativeSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): unknown;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, null>, options: object): Record<string, OrtTensor>;
  readonly inputMetadata: readonly { name: string }[];
  dispose(): void;
}

interface OrtModule {
  readonly Tensor: new (type: string, data: Float32Array | Float64Array, dims: readonly number[]) => OrtTensor;
  readonly version: string;
}

export interface OnnxRuntime {
  readonly version: string;
  /** Intra-op threads per session. */
  readonly threads: number;
  /** Execution providers, in order of preference ("cuda", "cpu"). */
  readonly providers: readonly string[];
  tensor(type: "float32" | "float64", data: Float32Array | Float64Array, dims: readonly number[]): OrtTensor;
  /** A session on `model` (ONNX bytes); runs synchronously. */
  session(model: Uint8Array): OnnxSession;
}

export interface OnnxSession {
  run(feeds: Record<string, OrtTensor>, outputs: readonly string[]): Record<string, OrtTensor>;
  dispose(): void;
}

let loaded: OnnxRuntime | string | null = null;

/** Threads ONNX Runtime uses per session: RICCI_THREADS, else every core. */
export function defaultThreads(): number {
  const set = process.env.RICCI_THREADS;
  if (set !== undefined && set !== "") {
    const n = Number(set);
    if (!Number.isInteger(n) || n < 1) throw new RicciError(`RICCI_THREADS="${set}" must be an integer ≥ 1`);
    return n;
  }
  return availableParallelism();
}

/** Execution providers from RICCI_ONNX_PROVIDERS (e.g. "cuda,cpu"); default "cpu". */
function providers(): string[] {
  const set = process.env.RICCI_ONNX_PROVIDERS;
  const list = (set ?? "cpu").split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== "");
  return list.includes("cpu") ? list : [...list, "cpu"];
}

/**
 * The binding's loadModel does its work synchronously but reports through a promise that is
 * already settled when it returns; a rejection is read from it at once (and marked handled).
 */
function settledSync(result: unknown): void {
  if (!(result instanceof Promise)) return;
  result.catch(() => undefined);
  const shown = inspect(result);
  const rejected = /<rejected>\s*(?:\w*Error: )?([^\n]*)/.exec(shown);
  if (rejected !== null) throw new RicciError(`ONNX Runtime could not load the model: ${rejected[1]}`);
}

/**
 * Loads onnxruntime-node once; returns the runtime, or a one-line reason why it is not
 * available (not installed, no binary for this platform).
 */
export function loadOnnxRuntime(): OnnxRuntime | string {
  if (loaded !== null) return loaded;
  const threads = defaultThreads(); // a bad RICCI_THREADS is the user's error to see, not a missing package
  try {
    const require = createRequire(import.meta.url);
    const ort = require("onnxruntime-node") as OrtModule & { env: { versions: { common: string }; logLevel?: string } };
    const { binding, initOrt } = require("onnxruntime-node/dist/binding.js") as {
      binding: { InferenceSession: new () => NativeSession };
      initOrt: () => void;
    };
    // ONNX Runtime's warnings (e.g. on nodes its optimiser removes) are not the user's concern.
    if (process.env.RICCI_ONNX_LOG === undefined) ort.env.logLevel = "error";
    else ort.env.logLevel = process.env.RICCI_ONNX_LOG as typeof ort.env.logLevel;
    initOrt();
    const eps = providers();
    const options = {
      graphOptimizationLevel: "all",
      executionMode: "sequential",
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionProviders: eps,
      // Spinning threads wait busily between ops: faster alone, much slower when processes share cores.
      extra: { session: { intra_op: { allow_spinning: process.env.RICCI_ONNX_SPIN === "1" ? "1" : "0" } } },
    };
    loaded = {
      version: ort.env.versions.common,
      threads,
      providers: eps,
      tensor: (type, data, dims) => new ort.Tensor(type, data, dims),
      session(model) {
        const native = new binding.InferenceSession();
        settledSync(native.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, options));
        return {
          run(feeds, outputs) {
            return native.run(feeds, Object.fromEntries(outputs.map((o) => [o, null])), {});
          },
          dispose: () => native.dispose(),
        };
      },
    };
  } catch (e) {
    const message = e instanceof Error ? e.message.split("\n")[0] : String(e);
    loaded = `onnxruntime-node could not be loaded (${message})`;
  }
  return loaded;
}
