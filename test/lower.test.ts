/**
 * The lowering: compiled results against the float64 reference, for planner corner cases. Runs
 * once per vitest project: on the default backend (ONNX Runtime) and on wasm.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { RicciError, activeBackend, add, compile, constant, delta, dot, einsum, evaluate, exp, grad, initBackend, logsumexp, mean, mul, ones, oneHot, rename, softmax, sum, tf, transpose, variable, type Expr } from "../src/index.js";
import { gptConstants, gptData, gptForward, gptParams } from "../src/nn/gpt.js";
import { relativeError, seededValues } from "./helpers/oracle.js";

beforeAll(async () => {
  await initBackend();
});

it("runs on the backend its vitest project names", () => {
  expect(activeBackend()).toBe(process.env.RICCI_BACKEND === "wasm" ? "wasm" : "onnx");
});

type Inputs = Record<string, Float64Array>;

function randomInputs(e: Expr | Expr[], seed = 1): Inputs {
  const inputs: Inputs = {};
  const roots = Array.isArray(e) ? e : [e];
  const seen = new Set<string>();
  let s = seed;
  for (const root of roots) {
    const stack = [root];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.kind === "variable" && !seen.has(n.name)) {
        seen.add(n.name);
        inputs[n.name] = seededValues(n.edges.reduce((k, d) => k * d.size, 1), s++);
      }
      if ("factors" in n) stack.push(...n.factors);
      if ("terms" in n) stack.push(...n.terms);
      if ("args" in n) stack.push(...n.args);
      if ("arg" in n) stack.push(n.arg);
    }
  }
  return inputs;
}

async function compiledMatchesReference(outputs: Record<string, Expr>, inputs: Inputs, tol = 1e-5): Promise<void> {
  const run = compile(outputs);
  const got = await run(inputs);
  for (const [name, e] of Object.entries(outputs)) {
    const ref = evaluate(e, inputs);
    expect(got[name].shape, name).toEqual(ref.shape);
    expect(relativeError(got[name].dataSync(), ref.data), name).toBeLessThan(tol);
    got[name].dispose();
  }
}

describe("contraction planning", () => {
  it("matches the reference on a chain with very different sizes (any order is correct, the greedy one is cheap)", async () => {
    const A = variable("A", { i: 2, j: 30 });
    const B = variable("B", { j: 30, k: 40 });
    const C = variable("C", { k: 40, l: 3 });
    const e = einsum([A, B, C], ["i", "l"]);
    await compiledMatchesReference({ e }, randomInputs(e));
  });

  it("handles batch edges shared by both operands and kept (batched matMul)", async () => {
    const q = variable("q", { b: 2, h: 3, t: 4, d: 5 });
    const k = variable("k", { b: 2, h: 3, s: 4, d: 5 });
    const scores = dot(q, k, "d");
    expect(scores.edges.map((e) => e.name)).toEqual(["b", "h", "t", "s"]);
    await compiledMatchesReference({ scores }, randomInputs(scores));
  });

  it("handles outer products, pure reductions, transposes and ones-broadcast factors", async () => {
    const a = variable("a", { i: 3 });
    const b = variable("b", { j: 4 });
    const M = variable("M", { i: 3, j: 4, k: 2 });
    await compiledMatchesReference(
      {
        outer: mul(a, b),
        reduce: sum(M, ["i", "k"]),
        transposed: transpose(M, ["k", "i", "j"]),
        broadcast: einsum([a, ones({ z: 5 })], ["z", "i"]),
        summedOnes: einsum([a, ones({ z: 5 })], ["i"]),
        scalarTimes: mul(constant(2.5), M),
      },
      randomInputs([a, b, M]),
    );
  });

  it("lowers products with constant tensor factors: one that adds an edge, one summed away, constants alone", async () => {
    const x = variable("x", { a: 2, b: 3 });
    const threes = constant(3, { c: 4 });
    const outputs = {
      widened: mul(x, threes),
      summedAway: sum(mul(x, threes), "c"),
      constantsOnly: mul(constant(2, { c: 2 }), constant(3, { d: 2 })),
      constantsSummed: einsum([constant(2, { c: 2 }), constant(3, { d: 2 })], []),
    };
    // The builders keep these constants as factors (they carry an edge no other factor has).
    expect(Object.values(outputs).map((e) => e.kind)).toEqual(["product", "product", "product", "product"]);
    await compiledMatchesReference(outputs, randomInputs([x]));
    expect(Array.from(evaluate(outputs.constantsSummed, {}).data)).toEqual([24]);
  });

  it("lowers delta (identity) and one-hot factors", async () => {
    const M = variable("M", { i: 4, j: 4 });
    const ids = variable("ids", { t: 3 });
    const trace = einsum([M, delta({ i: 4, j: 4 })], []);
    const picked = dot(oneHot(ids, { i: 4 }), M, "i");
    const inputs = { M: seededValues(16, 3), ids: Float64Array.from([3, 0, 2]) };
    await compiledMatchesReference({ trace, picked }, inputs);
  });

  it("keeps rank ≥ 5 contractions correct (merged transposes)", async () => {
    const x = variable("x", { a: 2, b: 3, c: 2, d: 3, e: 2 });
    const y = variable("y", { e: 2, c: 2, f: 3 });
    const z = dot(x, y); // contracts c, e
    await compiledMatchesReference({ z, t: transpose(x, ["e", "c", "a", "d", "b"]) }, randomInputs([x, y]));
  });

  it("random einsums match the reference (property, 60 cases)", async () => {
    const names = ["a", "b", "c", "d", "e"];
    const sizes: Record<string, number> = { a: 2, b: 3, c: 1, d: 4, e: 2 };
    const subset = fc.subarray(names, { minLength: 1, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(fc.array(subset, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 1 << 20 }), async (factorEdges, pick) => {
        const factors = factorEdges.map((edges, i) => variable(`f${i}`, Object.fromEntries(edges.map((n) => [n, sizes[n]]))));
        const all = [...new Set(factorEdges.flat())];
        const out = all.filter((_, k) => (pick >> k) & 1);
        const e = einsum(factors, out);
        await compiledMatchesReference({ e }, randomInputs(e, pick));
      }),
      { seed: 7, numRuns: 60 },
    );
  });
});

describe("compiled functions", () => {
  const W = variable("W", { in: 4, out: 3 });
  const x = variable("x", { batch: 8, in: 4 });
  const loss = mean(logsumexp(dot(x, W), "out"));
  // Built lazily, inside the tests: a gradient taken at collection time would make every
  // autodiff mutant "static" for Stryker (npm run mutation), which then reruns everything.
  let dWCache: Expr | undefined;
  const gradW = (): Expr => (dWCache ??= grad(loss, W));

  it("returns outputs in the expression's edge order and frees every intermediate", async () => {
    const run = compile({ loss, dW: gradW() });
    const inputs = randomInputs([loss]);
    await run(inputs); // warm-up allocates nothing that stays
    const before = tf.memory().numTensors;
    const out = await run(inputs);
    expect(tf.memory().numTensors - before).toBe(2);
    expect(out.dW.shape).toEqual([4, 3]);
    out.loss.dispose();
    out.dW.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("is cached: compiling the same outputs again returns the same function", () => {
    const dW = gradW();
    expect(compile({ loss, dW })).toBe(compile({ loss, dW }));
    expect(compile({ loss, dW })).not.toBe(compile({ dW, loss }));
  });

  it("accepts tf.Tensors, nested arrays and typed arrays, and leaves the caller's tensors alone", async () => {
    const w = tf.tensor(Float32Array.from(seededValues(12, 1)), [4, 3]);
    const xs = Array.from({ length: 8 }, (_, b) => Array.from({ length: 4 }, (_, i) => Math.sin(b + i)));
    const out = await compile({ loss })({ W: w, x: xs });
    expect(w.isDisposed).toBe(false);
    const ref = evaluate(loss, { W: w.dataSync() as Float32Array, x: xs });
    expect(Math.abs(out.loss.dataSync()[0] - ref.data[0])).toBeLessThan(1e-5);
  });

  it("returns an input unchanged as a fresh tensor the caller may dispose", async () => {
    const w = tf.tensor(Float32Array.from(seededValues(12, 1)), [4, 3]);
    const out = await compile({ same: W, renamed: rename(W, { in: "k" }) })({ W: w });
    out.same.dispose();
    out.renamed.dispose();
    expect(w.isDisposed).toBe(false);
    expect(Array.from(w.dataSync()).length).toBe(12);
  });

  it("rejects missing and wrongly shaped inputs with the variable's name and edges", async () => {
    const run = compile({ loss });
    await expect(run({ W: seededValues(12, 1) })).rejects.toThrow(RicciError);
    await expect(run({ W: seededValues(12, 1) })).rejects.toThrow(/missing value for variable "x" with edges \{batch: 8, in: 4\}/);
    await expect(run({ W: tf.zeros([3, 4]), x: seededValues(32, 1) })).rejects.toThrow(/"W" with edges \{in: 4, out: 3\} expects shape \[4, 3\], got a tensor of shape \[3, 4\]/);
    await expect(run({ W: seededValues(11, 1), x: seededValues(32, 1) })).rejects.toThrow(/expects 12 entries/);
  });

  it("rejects NaN inputs when numeric checks are on", async () => {
    const run = compile({ loss }, { checkNumerics: true });
    const bad = seededValues(32, 1);
    bad[5] = Number.NaN;
    await expect(run({ W: seededValues(12, 1), x: bad })).rejects.toThrow(/variable "x" holds NaN at \{batch=1, in=1\}/);
  });

  it("compiles a tiny GPT's loss and every parameter gradient to the reference's values", async () => {
    const c = { vocab: 7, context: 4, dModel: 8, heads: 2, layers: 1, ff: 8 };
    const p = gptParams(c);
    const data = gptData(c, 2);
    const logits = gptForward(c, p, data);
    const lossGpt = mean(logsumexp(logits, "vocab"));
    const params = Object.values(p);
    const grads = grad(lossGpt, params);
    const outputs: Record<string, Expr> = { loss: lossGpt };
    params.forEach((v, i) => (outputs[v.name] = grads[i]));
    const inputs: Record<string, Float64Array> = { tokens: Float64Array.from([1, 2, 3, 4, 5, 6, 0, 1]) };
    for (const [k, v] of Object.entries(gptConstants(c))) inputs[k] = Float64Array.from(v);
    params.forEach((v, i) => (inputs[v.name] = seededValues(v.edges.reduce((n, d) => n * d.size, 1), 10 + i, -0.5, 0.5)));
    await compiledMatchesReference(outputs, inputs, 1e-4);
  });
});

describe("edge functions and broadcasting", () => {
  it("softmax along a middle edge, and sums/elementwise of lazily broadcast constants", async () => {
    const x = variable("x", { a: 3, b: 4, c: 2 });
    const y = variable("y", { b: 4 });
    await compiledMatchesReference(
      {
        s: softmax(x, "b"),
        shifted: add(x, constant(1, { z: 2 })),
        e: exp(add(y, constant(0.5, { a: 3 }))),
      },
      randomInputs([x, y]),
    );
  });
});
