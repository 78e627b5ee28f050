/**
 * The tfjs lowering target inside the core suite: compile's eager runner (src/lower/compile.ts)
 * with tfjs's kernels (src/lower/tfjsOps.ts) on the wasm backend, switched to for this file and
 * back afterwards. `npm test` also runs the compiled tests a second time on wasm (the "wasm"
 * project of vitest.config.ts); this file is what the one-project mutation run
 * (vitest.stryker.config.ts) sees of that target, and it checks what only the eager runner has:
 * its tensor bookkeeping (nothing leaked, inputs never disposed) and the rank-2 transpose route.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { restoreBackendAfterFile } from "./helpers/backend.js";
import { activeBackend, describeBackend, initBackend } from "../src/lower/backend.js";
import { type Expr, add, compile, dot, evaluate, fn, gather, grad, mul, sum, tanh, tf, transpose, variable } from "../src/index.js";
import { firstMismatch, seededValues } from "./helpers/oracle.js";
import { cases, instantiate, sizesOfExpr } from "./helpers/primitive-cases.js";

const F32_TOL = 1e-4;
const toFloat32 = (x: Float64Array): Float64Array => Float64Array.from(Float32Array.from(x));
const mismatch = (got: ArrayLike<number>, want: ArrayLike<number>): string | null => firstMismatch(got, want, F32_TOL);

restoreBackendAfterFile();
beforeAll(async () => {
  await initBackend("wasm");
});

describe("the wasm backend is the active one", () => {
  it("is reported as tfjs wasm", () => {
    expect(activeBackend()).toBe("wasm");
    expect(describeBackend()).toBe("wasm (tfjs wasm)");
  });
});

describe.each(cases)("on tfjs wasm: $name", (c) => {
  it("compiled value and symbolic gradients match the float64 reference", async () => {
    const inst = instantiate(c, toFloat32);
    const expr = c.build(inst.vars);
    const R = variable("R", sizesOfExpr(expr));
    const r = seededValues(expr.edges.reduce((p, d) => p * d.size, 1), 7);
    const grads = inst.differentiable.length === 0 ? [] : grad(sum(mul(expr, R)), inst.differentiable);
    const outputs: Record<string, Expr> = { value: expr, ...Object.fromEntries(inst.differentiable.map((v, k) => [`d_${v.name}`, grads[k]])) };
    const values = { ...inst.values, R: toFloat32(r) };
    const compiled = compile(outputs).runArrays(values);
    expect(compiled.value.shape).toEqual(expr.edges.map((d) => d.size));
    expect(mismatch(compiled.value.data, evaluate(expr, inst.values).data), "value").toBeNull();
    inst.differentiable.forEach((v, k) => {
      expect(compiled[`d_${v.name}`].shape, v.name).toEqual(v.edges.map((d) => d.size));
      expect(mismatch(compiled[`d_${v.name}`].data, evaluate(grads[k], values).data), `d/d${v.name}`).toBeNull();
    });
  });
});

describe("tfjs kernels the primitive cases do not reach", () => {
  // (erf, log1p and expm1 have kernels but no way in: mathjs cannot differentiate them, so `fn` refuses them;
  // sign comes in through the DSL's own `sign`, which the cases reach.)
  it("every unary function of a user formula, and its derivative", () => {
    const f = fn("allUnary", "sin(x) + cos(x) + tan(x) + sinh(x) + cosh(x) + atan(x) + asin(x/2) + acos(x/2) + abs(x) + sqrt(x^2 + 1)");
    const x = variable("x", { i: 7 });
    const y = f(x);
    const [dy] = grad(sum(y), [x]);
    const xs = Float64Array.from([-1.3, -0.6, -0.2, 0.15, 0.4, 0.9, 1.2]);
    const out = compile({ y, dy }).runArrays({ x: xs });
    expect(mismatch(out.y.data, evaluate(y, { x: xs }).data), "value").toBeNull();
    expect(mismatch(out.dy.data, evaluate(dy, { x: xs }).data), "derivative").toBeNull();
  });

  it("rank-2 transposes, on the split route (both sizes even and ≥ 32) and the direct one", () => {
    for (const [rows, cols] of [[64, 32], [48, 96], [3, 5], [64, 7], [33, 64]]) {
      const W = variable("W", { i: rows, j: cols });
      const values = seededValues(rows * cols, rows + cols);
      // A product whose layout moves W's edges: the lowering transposes it to {j, i}.
      const out = compile({ t: transpose(W, ["j", "i"]) }).runArrays({ W: values });
      expect(out.t.shape, `${rows}×${cols}`).toEqual([cols, rows]);
      const want = new Float64Array(rows * cols);
      for (let a = 0; a < rows; a++) for (let b = 0; b < cols; b++) want[b * rows + a] = values[a * cols + b];
      expect(mismatch(out.t.data, want), `${rows}×${cols}`).toBeNull();
    }
  });
});

describe("what the tfjs target runs (the kernels tf.profile records)", () => {
  /** The rank of each Transpose kernel's input in one run of `outputs`. */
  async function transposeRanks(outputs: Record<string, Expr>, inputs: Record<string, Float64Array>): Promise<number[]> {
    const step = compile(outputs);
    step.runArrays(inputs); // a first run outside the profile
    const info = await tf.profile(() => {
      tf.dispose(Object.values(step.runSync(inputs)));
    });
    return info.kernels.filter((k) => k.name === "Transpose").map((k) => k.inputShapes[0]?.length ?? 0);
  }

  it("moves a rank-2 tensor as one rank-4 transpose when both sizes are even and ≥ 32 (3× faster on wasm), else as it is", async () => {
    const ranks = async (rows: number, cols: number): Promise<number[]> =>
      transposeRanks({ t: transpose(variable("W", { i: rows, j: cols }), ["j", "i"]) }, { W: seededValues(rows * cols, 1) });
    expect(await ranks(64, 32)).toEqual([4]);
    expect(await ranks(32, 34)).toEqual([4]);
    expect(await ranks(30, 64)).toEqual([2]);
    expect(await ranks(64, 31)).toEqual([2]);
    expect(await ranks(64, 7)).toEqual([2]);
    expect(await ranks(3, 5)).toEqual([2]);
  });

  it("transposes a value feeding several contractions once per run and reuses the layout", async () => {
    const xs = variable("xs", { b: 8, in: 4 });
    const outs = Object.fromEntries(["o1", "o2", "o3"].map((o) => [o, dot(xs, variable(`P${o}`, { b: 8, [o]: 10 }))]));
    const inputs = { xs: seededValues(32, 2), ...Object.fromEntries(["o1", "o2", "o3"].map((o, i) => [`P${o}`, seededValues(80, 3 + i)])) };
    expect(await transposeRanks(outs, inputs)).toEqual([2]);
  });
});

describe("the eager runner's tensors", () => {
  it("leaves no tensor behind but its outputs, never disposes an input, and hands out outputs the caller may dispose", async () => {
    const x = variable("x", { a: 3, b: 4 });
    const W = variable("W", { b: 4, c: 2 });
    const h = fn("softplusLike", "log(1 + exp(x))")(mul(x, 2));
    const loss = sum(mul(h, W));
    const [dx, dW] = grad(loss, [x, W]);
    const step = compile({ loss, dx, dW, x, h });
    const inputs = { x: tf.tensor(Float32Array.from(seededValues(12, 3)), [3, 4]), W: tf.tensor(Float32Array.from(seededValues(8, 4)), [4, 2]) };
    const before = tf.memory().numTensors;
    for (let run = 0; run < 3; run++) {
      const out = await step(inputs);
      expect(Object.keys(out).sort()).toEqual(["dW", "dx", "h", "loss", "x"]);
      // An input returned as an output is a copy: disposing it leaves the caller's input intact.
      expect(out.x).not.toBe(inputs.x);
      tf.dispose(Object.values(out));
      expect(tf.memory().numTensors, `after run ${run + 1}`).toBe(before);
      expect(inputs.x.isDisposed || inputs.W.isDisposed).toBe(false);
    }
    expect(mismatch(inputs.x.dataSync(), Float32Array.from(seededValues(12, 3)))).toBeNull();
    tf.dispose(Object.values(inputs));
  });

  it("frees each intermediate after its last use: a chain of 32 ops over 100,000 entries peaks at a few tensors, not 32", async () => {
    const x = variable("x", { i: 100_000 });
    let y: Expr = x;
    for (let k = 0; k < 16; k++) y = tanh(add(y, 0.1));
    const step = compile({ y });
    const input = tf.tensor(Float32Array.from(seededValues(100_000, 5)), [100_000]);
    tf.dispose(Object.values(step.runSync({ x: input })));
    const info = await tf.profile(() => {
      tf.dispose(Object.values(step.runSync({ x: input })));
    });
    const tensorBytes = 4 * 100_000;
    expect(info.peakBytes).toBeGreaterThanOrEqual(2 * tensorBytes);
    expect(info.peakBytes).toBeLessThanOrEqual(6 * tensorBytes);
    input.dispose();
  });

  it("with checkNumerics, reads a tensor input back and refuses a NaN in it; without, does not", () => {
    const x = variable("x", { i: 3 });
    const bad = tf.tensor(Float32Array.of(1, Number.NaN, 3), [3]);
    expect(() => compile({ y: sum(x) }, { checkNumerics: true }).runSync({ x: bad })).toThrow(/"x"/);
    const out = compile({ y: sum(x) }).runSync({ x: bad });
    expect(Number.isNaN(out.y.dataSync()[0])).toBe(true);
    tf.dispose([bad, out.y]);
  });

  it("casts an int32 tensor fed to a real variable and a float tensor fed as one-hot ids, and frees both casts", () => {
    const x = variable("x", { a: 4 });
    const ids = variable("ids", { t: 3 });
    const E = variable("E", { v: 4 });
    const y = sum(mul(x, x));
    const picked = gather(E, ids, "v");
    const xInt = tf.tensor(Int32Array.from([1, -2, 3, 0]), [4], "int32");
    const idsFloat = tf.tensor(Float32Array.from([3, 0, 2]), [3], "float32");
    const before = tf.memory().numTensors;
    const out = compile({ y, picked }).runSync({ x: xInt, ids: idsFloat, E: [0.5, 1.5, 2.5, 3.5] });
    expect(out.y.dataSync()[0]).toBe(14);
    expect(Array.from(out.picked.dataSync())).toEqual([3.5, 0.5, 2.5]);
    tf.dispose(Object.values(out));
    expect(tf.memory().numTensors).toBe(before);
    expect(xInt.isDisposed || idsFloat.isDisposed).toBe(false);
    tf.dispose([xInt, idsFloat]);
  });
});
