/**
 * Backend selection in one process (test/backend.test.ts starts a fresh process per case): forcing
 * a backend by name or alias, switching between them, what is reported, and the host tensors
 * ONNX Runtime's outputs become. A backend module loads once per process, so what happens before
 * and at the first choice is tested on fresh instances of the module (a query string makes vite
 * load it anew), with ONNX Runtime present or mocked away. The backend active before this file is
 * restored after it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type * as Backend from "../src/lower/backend.js";
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

describe("the first choice, on a fresh instance of the module", () => {
  let instance = 0;
  let glue = "";
  const fresh = async (): Promise<typeof Backend> =>
    (await import(/* @vite-ignore */ `../src/lower/backend.js?instance=${++instance}`)) as typeof Backend;
  const savedEnv = process.env.RICCI_BACKEND;

  beforeAll(() => {
    glue = tf.getBackend();
    delete process.env.RICCI_BACKEND;
  });
  afterEach(() => {
    for (const path of mocked) vi.doUnmock(path);
    vi.restoreAllMocks();
  });
  const mocked = ["../src/lower/onnx/runtime.js", "@tensorflow/tfjs-node", "@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-backend-wasm", "@tensorflow/tfjs-backend-cpu"];
  /** A module whose import fails, as a package that is missing or broken does. */
  const failing = (path: string): void => {
    vi.doMock(path, () => {
      throw new Error(`${path} mocked as missing`);
    });
  };
  /**
   * tfjs-node's stand-in: on import it registers a "tensorflow" backend, tfjs's cpu kernels under
   * that name, or (`broken`) one whose initialisation fails, as with a missing libtensorflow.
   */
  const fakeTfjsNode = (path: string, broken = false): void => {
    vi.doMock(path, () => {
      const cpu = tf.findBackend("cpu");
      if (cpu === null) throw new Error("the cpu backend is not registered");
      tf.registerBackend("tensorflow", () => {
        if (broken) throw new Error("libtensorflow.so.2: cannot open shared object file");
        return cpu;
      });
      return {};
    });
  };
  afterAll(async () => {
    if (savedEnv !== undefined) process.env.RICCI_BACKEND = savedEnv;
    // The fresh instances moved tfjs; the shared module still holds its choice, so put tfjs back under it.
    await tf.setBackend(glue);
  });

  it("before it, no backend is reported", async () => {
    const backend = await fresh();
    expect(backend.activeBackend()).toBeNull();
    expect(backend.onnxRuntime()).toBeNull();
    expect(backend.describeBackend()).toBe("no backend yet");
  });

  it("is ONNX Runtime when it loads, with wasm for the glue; later calls keep it", async () => {
    const backend = await fresh();
    const first = backend.initBackend();
    expect(await first).toBe("onnx");
    expect(backend.activeBackend()).toBe("onnx");
    expect(backend.onnxRuntime()).not.toBeNull();
    expect(tf.getBackend()).toBe("wasm");
    expect(backend.initBackend()).toBe(first);
    expect(backend.describeBackend()).toMatch(/^onnx \(ONNX Runtime \d+\.\d+\.\d+, \d+ threads?, cpu; tfjs wasm for glue\)$/);
  });

  it("without ONNX Runtime: the first tfjs backend that loads, with a one-line notice of why", async () => {
    vi.doMock("../src/lower/onnx/runtime.js", () => ({ loadOnnxRuntime: () => "onnxruntime-node could not be loaded (mocked away)" }));
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const backend = await fresh();
    expect(await backend.initBackend()).toBe("wasm");
    expect(backend.onnxRuntime()).toBeNull();
    expect(backend.describeBackend()).toBe("wasm (tfjs wasm)");
    expect(warn.mock.calls).toEqual([["ricci: onnxruntime-node could not be loaded (mocked away); compiled graphs run on tfjs instead (slower)"]]);
  });

  it("forcing ONNX Runtime where it does not load is refused with the reason, and nothing is chosen", async () => {
    vi.doMock("../src/lower/onnx/runtime.js", () => ({ loadOnnxRuntime: () => "onnxruntime-node could not be loaded (mocked away)" }));
    const backend = await fresh();
    await expect(backend.initBackend("onnx")).rejects.toThrow(new RicciError('backend "onnx" could not be loaded: onnxruntime-node could not be loaded (mocked away)'));
    expect(backend.activeBackend()).toBeNull();
    expect(backend.describeBackend()).toBe("no backend yet");
    // The next call chooses afresh.
    expect(await backend.initBackend("cpu")).toBe("cpu");
    expect(backend.describeBackend()).toBe("cpu (tfjs cpu)");
  });

  it("a forced tfjs backend that fails leaves the one that was running", async () => {
    const backend = await fresh();
    expect(await backend.initBackend("wasm")).toBe("wasm");
    await expect(backend.initBackend("node")).rejects.toThrow(RicciError);
    expect(backend.activeBackend()).toBe("wasm");
    expect(await backend.initBackend()).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
  });

  it("tfjs-node and tfjs-node-gpu, when installed, run as tfjs's \"tensorflow\" backend", async () => {
    for (const [name, path] of [["node", "@tensorflow/tfjs-node"], ["node-gpu", "@tensorflow/tfjs-node-gpu"]] as const) {
      fakeTfjsNode(path);
      try {
        const backend = await fresh();
        expect(await backend.initBackend(name)).toBe(name);
        expect(tf.getBackend()).toBe("tensorflow");
        expect(backend.describeBackend()).toBe(`${name} (tfjs tensorflow)`);
        expect(backend.onnxRuntime()).toBeNull();
      } finally {
        vi.doUnmock(path);
        tf.removeBackend("tensorflow");
        await tf.setBackend(glue);
      }
    }
  });

  it("tfjs-node installed but failing to initialise is refused, and the running backend stays", async () => {
    fakeTfjsNode("@tensorflow/tfjs-node", true);
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      const backend = await fresh();
      expect(await backend.initBackend("wasm")).toBe("wasm");
      await expect(backend.initBackend("node")).rejects.toThrow(new RicciError('backend "node" could not be loaded: @tensorflow/tfjs-node is not installed or did not load'));
      expect(backend.activeBackend()).toBe("wasm");
    } finally {
      tf.removeBackend("tensorflow");
      await tf.setBackend(glue);
    }
  });

  it("an empty name or RICCI_BACKEND chooses as if none were given", async () => {
    expect(await (await fresh()).initBackend("")).toBe("onnx");
    process.env.RICCI_BACKEND = "";
    try {
      expect(await (await fresh()).initBackend()).toBe("onnx");
    } finally {
      delete process.env.RICCI_BACKEND;
    }
  });

  it("a tfjs backend that does not load is refused with its name; without wasm, ONNX Runtime's glue is cpu", async () => {
    failing("@tensorflow/tfjs-backend-wasm");
    const backend = await fresh();
    await expect(backend.initBackend("wasm")).rejects.toThrow(new RicciError('backend "wasm" could not be loaded: tfjs backend "wasm" did not load'));
    expect(await backend.initBackend("onnx")).toBe("onnx");
    expect(tf.getBackend()).toBe("cpu");
    expect(backend.describeBackend()).toMatch(/; tfjs cpu for glue\)$/);
  });

  it("with no tfjs backend at all, ONNX Runtime is refused for want of glue and nothing loads", async () => {
    failing("@tensorflow/tfjs-backend-wasm");
    failing("@tensorflow/tfjs-backend-cpu");
    const backend = await fresh();
    await expect(backend.initBackend("onnx")).rejects.toThrow(new RicciError('backend "onnx" could not be loaded: no tfjs backend for the glue around ONNX Runtime'));
    vi.doMock("../src/lower/onnx/runtime.js", () => ({ loadOnnxRuntime: () => "onnxruntime-node could not be loaded (mocked away)" }));
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const none = await fresh();
    await expect(none.initBackend()).rejects.toThrow(new RicciError("no backend could be loaded (tried onnx, node-gpu, node, wasm, cpu)"));
  });

  it("describes ONNX Runtime's threads and providers as loaded", async () => {
    const runtime = { version: "1.2.3", threads: 1, providers: ["cuda", "cpu"], tensor: () => null, session: () => null };
    vi.doMock("../src/lower/onnx/runtime.js", () => ({ loadOnnxRuntime: () => runtime }));
    const backend = await fresh();
    expect(await backend.initBackend("onnx")).toBe("onnx");
    expect(backend.onnxRuntime()).toBe(runtime);
    expect(backend.describeBackend()).toBe("onnx (ONNX Runtime 1.2.3, 1 thread, cuda+cpu; tfjs wasm for glue)");
  });

  it("the first host tensor wraps its buffer and keeps tfjs's cpu backend quiet (it would advise installing tfjs-node on its first write)", async () => {
    const backend = await fresh();
    await backend.initBackend("onnx");
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    (tf.findBackend("cpu") as unknown as { firstUse: boolean }).firstUse = true;
    const data = Float32Array.of(1, 2);
    const t = backend.hostTensor(data, [2]);
    expect(t.shape).toEqual([2]);
    // The first host tensor of a process already wraps its buffer, without a copy.
    data[1] = 7;
    expect(Array.from(t.dataSync())).toEqual([1, 7]);
    t.dispose();
    expect(warn).not.toHaveBeenCalled();
  });

  it("RICCI_BACKEND is read at the first call", async () => {
    const backend = await fresh();
    process.env.RICCI_BACKEND = "cpu";
    try {
      expect(await backend.initBackend()).toBe("cpu");
      expect(backend.onnxRuntime()).toBeNull();
    } finally {
      delete process.env.RICCI_BACKEND;
    }
  });
});
