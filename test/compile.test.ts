/**
 * `compile`'s contract (src/lower/compile.ts) on both targets: what it refuses and how it says so,
 * the plan cache, what a compiled function reports about itself, and its three ways to run (async,
 * runSync, runArrays) agreeing on ONNX Runtime and on tfjs (wasm). The backend active before this
 * file is restored after it.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { restoreBackendAfterFile } from "./helpers/backend.js";
import { initBackend } from "../src/lower/backend.js";
import { add, compile, dot, exp, mul, sum, tf, variable } from "../src/index.js";
import { topologicalOrder } from "../src/dsl/expr.js";

restoreBackendAfterFile();

const x = variable("x", { b: 2, i: 3 });
const W = variable("W", { i: 3, o: 2 });
const y = exp(dot(x, W));
const xs = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]];
const Ws = [[1, 0], [0, 1], [0.5, -0.5]];

describe("compile refuses", () => {
  it("no outputs", () => {
    expect(() => compile({})).toThrow("compile: give at least one output expression, e.g. compile({ loss })");
  });

  it("an output that is not an expression, naming it", () => {
    expect(() => compile({ y, z: 3 as never })).toThrow('compile: output "z" is not a ricci expression');
    expect(() => compile({ z: null as never })).toThrow('compile: output "z" is not a ricci expression');
    expect(() => compile({ z: { kind: 7 } as never })).toThrow('compile: output "z" is not a ricci expression');
  });

  it("a dtype other than float32 and float64", () => {
    expect(() => compile({ y }, { dtype: "float16" as never })).toThrow('compile: dtype must be "float32" or "float64", got "float16"');
  });

  it("inputs that are not an object", () => {
    const run = compile({ y });
    expect(() => run.runSync(null as never)).toThrow("compiled function: inputs must be an object of values by variable name");
    expect(() => run.runArrays(7 as never)).toThrow("compiled function: inputs must be an object of values by variable name");
  });
});

describe("the plan cache", () => {
  it("returns the same compiled function for the same outputs and options, another for other ones", () => {
    const first = compile({ y });
    expect(compile({ y })).toBe(first);
    expect(compile({ z: y })).not.toBe(first);
    expect(compile({ y }, { checkNumerics: true })).not.toBe(first);
    expect(compile({ y }, { dtype: "float64" })).not.toBe(first);
    expect(compile({ y, s: sum(y) })).not.toBe(first);
  });

  it("a compiled function knows its variables and its number of steps", () => {
    const run = compile({ y, s: sum(y) });
    expect(run.variables.map((v) => v.name).sort()).toEqual(["W", "x"]);
    expect(run.steps).toBe(topologicalOrder([y, sum(y)]).length);
    expect(compile({ x }).steps).toBe(1);
  });
});

describe.each(["onnx", "wasm"] as const)("on %s", (backend) => {
  beforeAll(async () => {
    await initBackend(backend);
  });

  it("run, runSync and runArrays agree, in the outputs' edge order", async () => {
    const s = sum(mul(y, y));
    const run = compile({ y, s });
    const viaAsync = await run({ x: xs, W: Ws });
    const viaSync = run.runSync({ x: xs, W: Ws });
    const arrays = run.runArrays({ x: xs, W: Ws });
    expect(arrays.y.edges).toEqual(["b", "o"]);
    expect(arrays.y.shape).toEqual([2, 2]);
    expect(arrays.s.shape).toEqual([]);
    const want = [0, 1].flatMap((b) => [0, 1].map((o) => Math.exp(xs[b].reduce((acc, v, i) => acc + v * Ws[i][o], 0))));
    for (const got of [viaAsync.y.dataSync(), viaSync.y.dataSync(), arrays.y.data]) {
      Array.from(got).forEach((v, k) => expect(v).toBeCloseTo(want[k], 5));
    }
    expect(arrays.s.data[0]).toBeCloseTo(want.reduce((acc, v) => acc + v * v, 0), 4);
    tf.dispose([...Object.values(viaAsync), ...Object.values(viaSync)]);
  });

  it("with checkNumerics, refuses a NaN input naming the variable; without, lets it through", () => {
    const bad = [[0.1, Number.NaN, 0.3], [0.4, 0.5, -0.6]];
    expect(() => compile({ y }, { checkNumerics: true }).runArrays({ x: bad, W: Ws })).toThrow(/"x"/);
    expect(Number.isNaN(compile({ y }).runArrays({ x: bad, W: Ws }).y.data[0])).toBe(true);
  });

  it("RICCI_CHECK_NUMERICS=1 turns checkNumerics on when the call does not say", () => {
    const saved = process.env.RICCI_CHECK_NUMERICS;
    const bad = [[0.1, Number.NaN, 0.3], [0.4, 0.5, -0.6]];
    const z = add(x, 2);
    try {
      process.env.RICCI_CHECK_NUMERICS = "1";
      expect(() => compile({ z }).runArrays({ x: bad })).toThrow(/"x"/);
      expect(Number.isNaN(compile({ z }, { checkNumerics: false }).runArrays({ x: bad }).z.data[1])).toBe(true);
      process.env.RICCI_CHECK_NUMERICS = "0";
      expect(Number.isNaN(compile({ z }).runArrays({ x: bad }).z.data[1])).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.RICCI_CHECK_NUMERICS;
      else process.env.RICCI_CHECK_NUMERICS = saved;
    }
  });

  it("float64 outputs are read with runArrays: tf.Tensors are float32", () => {
    const run = compile({ y: add(x, 1) }, { dtype: "float64" });
    expect(() => run.runSync({ x: xs })).toThrow("compile: float64 outputs are not tf.Tensors (tfjs is float32); read them with runArrays");
    if (backend === "onnx") expect(run.runArrays({ x: xs }).y.data).toBeInstanceOf(Float64Array);
    else expect(() => run.runArrays({ x: xs })).toThrow('compile: dtype "float64" runs on the onnx backend only (active: wasm); initBackend("onnx")');
  });
});
