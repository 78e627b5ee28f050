/**
 * Backend selection at run time: the first of ONNX Runtime (onnxruntime-node's native kernels),
 * tfjs-node-gpu (CUDA), tfjs-node (native CPU), wasm (SIMD) and the pure-JS cpu backend that
 * loads. `RICCI_BACKEND=onnx|node-gpu|node|wasm|cpu` forces one. onnxruntime-node is an
 * optional dependency and the tfjs-node packages optional peers: none is needed to install or
 * test. With ONNX Runtime, compiled graphs run there and tfjs (wasm, else cpu) carries the
 * glue around them (optimizer state, sampling bookkeeping).
 */
import * as tf from "@tensorflow/tfjs-core";
import { RicciError } from "../errors.js";
import { type OnnxRuntime, loadOnnxRuntime } from "./onnx/runtime.js";

export { tf };

/** ricci's names for the backends, in order of preference. */
export const BACKENDS = ["onnx", "node-gpu", "node", "wasm", "cpu"] as const;
export type BackendName = (typeof BACKENDS)[number];
type TfjsBackendName = Exclude<BackendName, "onnx">;

const loaders: Record<TfjsBackendName, { tfName: string; load: () => Promise<unknown> }> = {
  // Package names are held in variables so bundlers and tsc do not try to resolve optional peers.
  "node-gpu": { tfName: "tensorflow", load: () => importOptional("@tensorflow/tfjs-node-gpu") },
  node: { tfName: "tensorflow", load: () => importOptional("@tensorflow/tfjs-node") },
  wasm: { tfName: "wasm", load: () => import("@tensorflow/tfjs-backend-wasm") },
  cpu: { tfName: "cpu", load: () => import("@tensorflow/tfjs-backend-cpu") },
};

function importOptional(name: string): Promise<unknown> {
  return import(/* @vite-ignore */ name);
}

let active: Promise<BackendName> | null = null;
let activeName: BackendName | null = null;
let onnx: OnnxRuntime | null = null;
const notices = new Set<string>();

/** Prints a one-line notice once per process (stderr). */
function noticeOnce(line: string): void {
  if (notices.has(line)) return;
  notices.add(line);
  console.warn(`ricci: ${line}`);
}

async function tryTfjs(name: TfjsBackendName): Promise<boolean> {
  const { tfName, load } = loaders[name];
  try {
    await load();
    if (!(await tf.setBackend(tfName))) return false;
    await tf.ready();
    return tf.getBackend() === tfName;
  } catch {
    return false;
  }
}

/** ONNX Runtime for compiled graphs, with wasm (else cpu) tfjs for the glue; a reason string when it cannot load. */
async function tryOnnx(): Promise<true | string> {
  const runtime = loadOnnxRuntime();
  if (typeof runtime === "string") return runtime;
  // Registers the cpu backend, which holds ONNX Runtime's outputs (hostTensor; without it they are copied).
  await loaders.cpu.load().catch(() => undefined);
  if (!(await tryTfjs("wasm")) && !(await tryTfjs("cpu"))) return "no tfjs backend for the glue around ONNX Runtime";
  onnx = runtime;
  return true;
}

function parseBackend(value: string): BackendName {
  const name = value.trim().toLowerCase();
  const alias: Record<string, BackendName> = { tensorflow: "node", gpu: "node-gpu", cuda: "node-gpu", js: "cpu", ort: "onnx", onnxruntime: "onnx" };
  const resolved = (alias[name] ?? name) as BackendName;
  if (!BACKENDS.includes(resolved)) {
    throw new RicciError(`RICCI_BACKEND="${value}" is not a backend; choose one of ${BACKENDS.join(", ")}`);
  }
  return resolved;
}

async function tryBackend(name: BackendName): Promise<true | string> {
  if (name === "onnx") return tryOnnx();
  if (await tryTfjs(name)) {
    onnx = null;
    return true;
  }
  return name.startsWith("node") ? `@tensorflow/tfjs-${name} is not installed or did not load` : `tfjs backend "${name}" did not load`;
}

/**
 * Selects and initialises the backend once (later calls return the same promise):
 * `await initBackend()` → "onnx". Pass a name (or set RICCI_BACKEND) to force one. A
 * preferred backend that does not load is reported in one line and the next one is used.
 */
export function initBackend(preferred?: BackendName | string): Promise<BackendName> {
  const forced = preferred ?? process.env.RICCI_BACKEND;
  if (active !== null && (forced === undefined || forced === "")) return active;
  if (active !== null && forced !== undefined && activeName === parseBackend(forced)) return active;
  const before = active;
  active = (async () => {
    if (forced !== undefined && forced !== "") {
      const name = parseBackend(forced);
      const result = await tryBackend(name);
      if (result !== true) {
        // The backend that was running still is: keep answering with it.
        active = before;
        throw new RicciError(`backend "${name}" could not be loaded: ${result}`);
      }
      return (activeName = name);
    }
    for (const name of BACKENDS) {
      const result = await tryBackend(name);
      if (result === true) return (activeName = name);
      if (name === "onnx") noticeOnce(`${result}; compiled graphs run on tfjs instead (slower)`);
    }
    throw new RicciError("no backend could be loaded (tried onnx, node-gpu, node, wasm, cpu)");
  })();
  return active;
}

/** The backend ricci is running on (after `initBackend`), e.g. "onnx"; null before. */
export function activeBackend(): BackendName | null {
  return activeName;
}

let hostBackend: tf.KernelBackend | null = null;

/**
 * A tf.Tensor over `data` without a copy: on tfjs's cpu backend, which stores typed arrays as
 * they are (ONNX Runtime's outputs become tensors for free; a tfjs op on the glue backend moves
 * one over when it needs it).
 */
export function hostTensor(data: Float32Array, shape: readonly number[]): tf.Tensor {
  if (hostBackend === null) {
    const engine = tf.engine();
    const cpu = engine.findBackend("cpu");
    if (cpu === null) return tf.tensor(data, [...shape], "float32");
    // tfjs-backend-cpu advises installing tfjs-node on its first write; here it only holds data.
    (cpu as unknown as { firstUse: boolean }).firstUse = false;
    hostBackend = cpu;
  }
  return tf.engine().makeTensor(data, [...shape], "float32", hostBackend) as tf.Tensor;
}

/** ONNX Runtime when it is the active backend, else null. */
export function onnxRuntime(): OnnxRuntime | null {
  return activeName === "onnx" ? onnx : null;
}

/** One line on what runs compiled graphs: `onnx (ONNX Runtime 1.31.1, 2 threads, cpu; tfjs wasm for glue)`. */
export function describeBackend(): string {
  if (activeName === null) return "no backend yet";
  if (activeName === "onnx" && onnx !== null) {
    return `onnx (ONNX Runtime ${onnx.version}, ${onnx.threads} thread${onnx.threads === 1 ? "" : "s"}, ${onnx.providers.join("+")}; tfjs ${tf.getBackend()} for glue)`;
  }
  return `${activeName} (tfjs ${tf.getBackend()})`;
}
