/**
 * Backend selection in one process (test/backend.test.ts starts a fresh process per case): forcing
 * a backend by name or alias, switching between them, what is reported, and the host tensors
 * ONNX Runtime's outputs become. The backend active before this file is restored after it.
 */
import { describe, expect, it } from "vitest";
import { restoreBackendAfterFile } from "./helpers/backend.js";
import { BACKENDS, activeBackend, describeBackend, hostTensor, initBackend, onnxRuntime, tf } from "../src/lower/backend.js";
import { RicciError } from "../src/errors.js";

restoreBackendAfterFile();

describe("forcing a backend", () => {
  it("by name: each tfjs backend that is installed, then ONNX Runtime, each reported as it runs", async () => {
    expect(await initBackend("cpu")).toBe("cpu");
    expect(activeBackend()).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    expect(describeBackend()).toBe("cpu (tfjs cpu)");
    expect(onnxRuntime()).toBeNull();

    expect(await initBackend("wasm")).toBe("wasm");
    expect(describeBackend()).toBe("wasm (tfjs wasm)");
    expect(onnxRuntime()).toBeNull();

    expect(await initBackend("onnx")).toBe("onnx");
    const runtime = onnxRuntime();
    expect(runtime).not.toBeNull();
    expect(tf.getBackend()).toBe("wasm");
    const threads = runtime!.threads;
    expect(describeBackend()).toBe(`onnx (ONNX Runtime ${runtime!.version}, ${threads} thread${threads === 1 ? "" : "s"}, ${runtime!.providers.join("+")}; tfjs wasm for glue)`);
    expect(describeBackend()).toMatch(/^onnx \(ONNX Runtime \d+\.\d+\.\d+, \d+ threads?, cpu; tfjs wasm for glue\)$/);
  });

  it("by alias, in any case and with spaces: ort, onnxruntime → onnx; js → cpu", async () => {
    expect(await initBackend(" JS ")).toBe("cpu");
    expect(await initBackend("ORT")).toBe("onnx");
    expect(await initBackend("js")).toBe("cpu");
    expect(await initBackend("onnxruntime")).toBe("onnx");
  });

  it("asking for the active backend again returns the same promise; no name keeps it", async () => {
    const first = initBackend("onnx");
    expect(initBackend("onnx")).toBe(first);
    expect(initBackend("ort")).toBe(first);
    expect(initBackend()).toBe(first);
    expect(initBackend("")).toBe(first);
    await first;
  });

  it("an uninstalled tfjs-node (by name or alias) is refused with what is missing", async () => {
    for (const [asked, name] of [["node", "node"], ["tensorflow", "node"], ["gpu", "node-gpu"], ["cuda", "node-gpu"]] as const) {
      await expect(initBackend(asked)).rejects.toThrow(new RicciError(`backend "${name}" could not be loaded: @tensorflow/tfjs-${name} is not installed or did not load`));
    }
    await initBackend("onnx");
    expect(activeBackend()).toBe("onnx");
  });

  it("a name that is not a backend is refused, listing the choices", () => {
    expect(() => initBackend("tpu")).toThrow(`RICCI_BACKEND="tpu" is not a backend; choose one of ${BACKENDS.join(", ")}`);
    expect(BACKENDS).toEqual(["onnx", "node-gpu", "node", "wasm", "cpu"]);
  });

  it("RICCI_BACKEND forces one when no name is given", async () => {
    const saved = process.env.RICCI_BACKEND;
    try {
      process.env.RICCI_BACKEND = "cpu";
      expect(await initBackend()).toBe("cpu");
    } finally {
      if (saved === undefined) delete process.env.RICCI_BACKEND;
      else process.env.RICCI_BACKEND = saved;
    }
    expect(await initBackend("onnx")).toBe("onnx");
  });
});

describe("host tensors", () => {
  it("wrap ONNX Runtime's output buffers without a copy, on tfjs's cpu backend", async () => {
    await initBackend("onnx");
    const data = Float32Array.of(1, 2, 3, 4, 5, 6);
    const t = hostTensor(data, [2, 3]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe("float32");
    expect(Array.from(t.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    // The same buffer: a write to it shows through the tensor.
    data[0] = 9;
    expect(t.dataSync()[0]).toBe(9);
    // and the glue backend (wasm) computes with it.
    expect(Array.from(tf.add(t, 1).dataSync())).toEqual([10, 3, 4, 5, 6, 7]);
    t.dispose();
  });
});
