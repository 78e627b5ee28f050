/**
 * Backend selection at run time: the first of tfjs-node-gpu (CUDA), tfjs-node (native CPU),
 * wasm (SIMD) and the pure-JS cpu backend that loads. `RICCI_BACKEND=wasm|cpu|node|node-gpu`
 * forces one. The native packages are optional peers: never needed to install or test.
 */
import * as tf from "@tensorflow/tfjs-core";
import { RicciError } from "../dsl/errors.js";

export { tf };

/** ricci's names for the backends, in order of preference. */
export const BACKENDS = ["node-gpu", "node", "wasm", "cpu"] as const;
export type BackendName = (typeof BACKENDS)[number];

const loaders: Record<BackendName, { tfName: string; load: () => Promise<unknown> }> = {
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

async function tryBackend(name: BackendName): Promise<boolean> {
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

function parseBackend(value: string): BackendName {
  const name = value.trim().toLowerCase();
  const alias: Record<string, BackendName> = { tensorflow: "node", gpu: "node-gpu", cuda: "node-gpu", js: "cpu" };
  const resolved = (alias[name] ?? name) as BackendName;
  if (!BACKENDS.includes(resolved)) {
    throw new RicciError(`RICCI_BACKEND="${value}" is not a backend; choose one of ${BACKENDS.join(", ")}`);
  }
  return resolved;
}

/**
 * Selects and initialises the backend once (later calls return the same promise):
 * `await initBackend()` → "wasm". Pass a name (or set RICCI_BACKEND) to force one.
 */
export function initBackend(preferred?: BackendName | string): Promise<BackendName> {
  const forced = preferred ?? process.env.RICCI_BACKEND;
  if (active !== null && forced === undefined) return active;
  if (active !== null && forced !== undefined && activeName === parseBackend(forced)) return active;
  active = (async () => {
    if (forced !== undefined && forced !== "") {
      const name = parseBackend(forced);
      if (!(await tryBackend(name))) {
        throw new RicciError(`backend "${name}" could not be loaded${name.startsWith("node") ? " (is @tensorflow/tfjs-node(-gpu) installed?)" : ""}`);
      }
      return (activeName = name);
    }
    for (const name of BACKENDS) if (await tryBackend(name)) return (activeName = name);
    throw new RicciError("no tfjs backend could be loaded (tried node-gpu, node, wasm, cpu)");
  })();
  return active;
}

/** The backend ricci is running on (after `initBackend`), e.g. "wasm"; null before. */
export function activeBackend(): BackendName | null {
  return activeName;
}
