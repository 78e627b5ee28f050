/**
 * The elementwise and edge-function records at the edges of float64 and float32: sigmoid,
 * softplus, logsumexp, softmax at extreme inputs (both branches of each stable formula),
 * step/relu/sign at 0, and the folded value of each edge function on a constant — evaluated in
 * float64 and compiled (float32, and float64 on ONNX Runtime), against closed forms.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  type Expr, activeBackend, add, apply, compile, constant, evaluate, grad, greater, greaterEqual, initBackend, jvp, logSoftmax, logsumexp, max, maximum,
  minimum, relu, sigmoid, sign, simplify, softmax, softplus, step, sum, variable,
} from "../src/index.js";

beforeAll(async () => {
  await initBackend();
});

const xs = [-800, -720, -40, -1, 0, 1, 40, 720, 800];
const x = variable("x", { i: xs.length });
const inputs = { x: Float64Array.from(xs) };

/** Relative difference, exact where want is 0 or infinite. */
const close = (got: number, want: number, tol: number): boolean =>
  want === 0 || !Number.isFinite(want) ? got === want : Math.abs(got - want) <= tol * Math.abs(want);

function expectClose(got: ArrayLike<number>, want: readonly number[], tol: number, what: string): void {
  const bad = want.flatMap((w, i) => (close(got[i], w, tol) ? [] : [`x=${xs[i] ?? i}: ${got[i]} vs ${w}`]));
  expect(bad, what).toEqual([]);
}

/** The same outputs compiled (float32 on the active backend; float64 too on onnx), read back. */
function compiled(outputs: Record<string, Expr>, dtype: "float32" | "float64" = "float32"): Record<string, ArrayLike<number>> {
  const run = compile(outputs, { dtype });
  const out = run.runArrays(inputs);
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data]));
}

// Closed forms, computed so that they do not overflow: σ(x) = e^x / (1 + e^x) for x < 0.
const sigmoidOf = (v: number): number => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));
const softplusOf = (v: number): number => (v > 30 ? v + Math.exp(-v) : Math.log1p(Math.exp(v)));

describe("sigmoid and softplus at extreme inputs", () => {
  it("evaluate: sigmoid is exact on both sides, including beyond exp's overflow at |x| ≈ 710", () => {
    const got = evaluate(sigmoid(x), inputs).data;
    expectClose(got, xs.map(sigmoidOf), 1e-15, "sigmoid");
    expect(got[0]).toBe(0); // e^-800 underflows
    expect(got[1]).toBeGreaterThan(0); // e^-720 ≈ 2e-313 is subnormal, not 0: 1/(1 + e^720) would give 0
    expect(got[8]).toBe(1); // e^800/(1 + e^800) would be NaN
  });

  it("evaluate: softplus is exact on both sides (x for large x, e^x for very negative x)", () => {
    const got = evaluate(softplus(x), inputs).data;
    expectClose(got, xs.map(softplusOf), 1e-15, "softplus");
    expect(got[2]).toBeCloseTo(Math.exp(-40) / 1, 30); // log(1 + e^-40) would round to 0
    expect(got[8]).toBe(800);
  });

  it("their gradients stay finite: σ' = σ(x)σ(−x), softplus' = σ", () => {
    const dSigmoid = evaluate(grad(sum(sigmoid(x)), x), inputs).data;
    expectClose(dSigmoid, xs.map((v) => sigmoidOf(v) * sigmoidOf(-v)), 1e-14, "sigmoid'");
    const dSoftplus = evaluate(grad(sum(softplus(x)), x), inputs).data;
    expectClose(dSoftplus, xs.map(sigmoidOf), 1e-15, "softplus'");
  });

  it("compiled in float32: no NaN or Inf, the saturated values exact", () => {
    const out = compiled({ s: sigmoid(x), p: softplus(x), ds: grad(sum(sigmoid(x)), x) });
    const s = Array.from(out.s);
    expect(s.every((v, i) => Math.abs(v - sigmoidOf(xs[i])) <= 1e-6), `sigmoid f32: ${s.join(", ")}`).toBe(true);
    expect([s[0], s[4], s[8]]).toEqual([0, 0.5, 1]);
    expect(Array.from(out.p).every(Number.isFinite)).toBe(true);
    expect(out.p[8]).toBe(800);
    expect(out.p[0]).toBe(0);
    expect(Array.from(out.ds).every((v) => Number.isFinite(v) && v >= 0 && v <= 0.25)).toBe(true);
  });

  it("compiled in float64 on ONNX Runtime: the same values as evaluate", () => {
    if (activeBackend() !== "onnx") return;
    const out = compiled({ s: sigmoid(x), p: softplus(x) }, "float64");
    // log(1 + e^−|x|) without log1p (ONNX has none): exact to 1e-15 absolute, not relative, near 0.
    const p = Array.from(out.p);
    expect(p.every((v, i) => Math.abs(v - softplusOf(xs[i])) <= 1e-15 * Math.max(1, Math.abs(xs[i]))), `softplus f64: ${p.join(", ")}`).toBe(true);
    expect(p[8]).toBe(800);
    expect(out.s[8]).toBe(1);
    expect(out.s[0]).toBe(0);
    const s = Array.from(out.s);
    expect(s.every((v, i) => Math.abs(v - sigmoidOf(xs[i])) <= 1e-15), `sigmoid f64: ${s.join(", ")}`).toBe(true);
  });
});

describe("step, relu and sign at 0", () => {
  it("step(0) is 0 (the convention that makes relu'(0) = 0), evaluated, folded and compiled", () => {
    expect(Array.from(evaluate(step(x), inputs).data)).toEqual(xs.map((v) => (v > 0 ? 1 : 0)));
    expect(evaluate(step(0), {}).data[0]).toBe(0);
    expect(evaluate(step(constant(1e-300)), {}).data[0]).toBe(1);
    expect(Array.from(compiled({ s: step(x) }).s)).toEqual(xs.map((v) => (v > 0 ? 1 : 0)));
    expect(Array.from(evaluate(grad(sum(relu(x)), x), inputs).data)).toEqual(xs.map((v) => (v > 0 ? 1 : 0)));
  });

  it("sign(0) is 0 and sign has no gradient", () => {
    expect(Array.from(evaluate(sign(x), inputs).data)).toEqual(xs.map((v) => (v > 0 ? 1 : v < 0 ? -1 : 0)));
    expect(Array.from(evaluate(grad(sum(sign(x)), x), inputs).data).every((v) => v === 0)).toBe(true);
  });
});

describe("ties", () => {
  const a = variable("a", { i: 3 });
  const b = variable("b", { i: 3 });
  const tie = { a: Float64Array.from([1, 2, 3]), b: Float64Array.from([1, 5, 0]) }; // equal at i = 0

  it("minimum and maximum send the sub-gradient to their first argument on a tie, in reverse and forward mode", () => {
    const [dMinA, dMinB] = grad(sum(minimum(a, b)), [a, b]).map((g) => Array.from(evaluate(g, tie).data));
    expect(dMinA).toEqual([1, 1, 0]);
    expect(dMinB).toEqual([0, 0, 1]);
    const [dMaxA, dMaxB] = grad(sum(maximum(a, b)), [a, b]).map((g) => Array.from(evaluate(g, tie).data));
    expect(dMaxA).toEqual([1, 0, 1]);
    expect(dMaxB).toEqual([0, 1, 0]);
    const ones3 = variable("ones3", { i: 3 });
    const withOnes = { ...tie, ones3: Float64Array.from([1, 1, 1]) };
    expect(Array.from(evaluate(jvp(minimum(a, b), b, ones3), withOnes).data)).toEqual([0, 0, 1]);
    expect(Array.from(evaluate(jvp(maximum(a, b), b, ones3), withOnes).data)).toEqual([0, 1, 0]);
  });

  it("greater is strict and greaterEqual is not, evaluated and compiled; neither has a gradient", () => {
    expect(Array.from(evaluate(greater(a, b), tie).data)).toEqual([0, 0, 1]);
    expect(Array.from(evaluate(greaterEqual(a, b), tie).data)).toEqual([1, 0, 1]);
    const out = compile({ g: greater(a, b), ge: greaterEqual(a, b) }).runArrays(tie);
    expect(Array.from(out.g.data)).toEqual([0, 0, 1]);
    expect(Array.from(out.ge.data)).toEqual([1, 0, 1]);
    expect(Array.from(evaluate(grad(sum(add(greater(a, b), greaterEqual(a, b))), a), tie).data)).toEqual([0, 0, 0]);
  });

  it("max along an edge sends the sub-gradient to every maximiser", () => {
    const row = variable("row", { k: 4 });
    const values = { row: Float64Array.from([1, 3, 3, -2]) };
    expect(Array.from(evaluate(grad(max(row, "k"), row), values).data)).toEqual([0, 1, 1, 0]);
    const dir = variable("dir", { k: 4 });
    expect(evaluate(jvp(max(row, "k"), row, dir), { ...values, dir: Float64Array.from([5, 1, 2, 7]) }).data[0]).toBe(3);
  });

  it("an unknown elementwise function is named in the error", () => {
    expect(() => apply("nope", [a])).toThrow(/^unknown elementwise function "nope"$/);
  });
});

describe("edge functions at extreme inputs", () => {
  const big = [1000, 999, -1000, 1000];
  const rows = variable("rows", { r: 2, k: 2 }); // rows [1000, 999] and [-1000, 1000]
  const rowInputs = { rows: Float64Array.from(big) };

  it("logsumexp subtracts the row maximum: finite where exp overflows", () => {
    const got = evaluate(logsumexp(rows, "k"), rowInputs).data;
    expect(got[0]).toBeCloseTo(1000 + Math.log1p(Math.exp(-1)), 10);
    expect(got[1]).toBe(1000);
    const lowRow = evaluate(logsumexp(variable("low", { k: 2 }), "k"), { low: Float64Array.from([-1000, -1001]) }).data[0];
    expect(lowRow).toBeCloseTo(-1000 + Math.log1p(Math.exp(-1)), 10);
    const f32 = compile({ l: logsumexp(rows, "k") }).runArrays(rowInputs).l.data;
    expect(f32[0]).toBeCloseTo(1000.3133, 3);
    expect(f32[1]).toBe(1000);
  });

  it("softmax and logSoftmax of a huge row are a proper distribution, max picks the largest", () => {
    const s = evaluate(softmax(rows, "k"), rowInputs).data;
    const e = Math.exp(-1);
    expect(Array.from(s)).toEqual([1 / (1 + e), e / (1 + e), 0, 1].map((v, i) => (i < 2 ? expect.closeTo(v, 14) : v)));
    const ls = evaluate(logSoftmax(rows, "k"), rowInputs).data;
    expect(ls[0]).toBeCloseTo(-Math.log1p(e), 12);
    expect(ls[2]).toBe(-2000);
    expect(Array.from(evaluate(max(rows, "k"), rowInputs).data)).toEqual([1000, 1000]);
    const negative = evaluate(max(variable("neg", { k: 3 }), "k"), { neg: Float64Array.from([-5, -3, -4]) }).data[0];
    expect(negative).toBe(-3);
  });

  it("each edge function of a constant folds to its closed form", () => {
    const c = constant(2, { i: 4, j: 3 });
    const cases: [Expr, number][] = [
      [logsumexp(c, "i"), 2 + Math.log(4)],
      [softmax(c, "i"), 1 / 4],
      [logSoftmax(c, "j"), -Math.log(3)],
      [max(c, "i"), 2],
    ];
    for (const [e, want] of cases) {
      const folded = simplify(e);
      expect(folded.kind).toBe("constant");
      expect(folded.edges).toEqual(e.edges);
      expect(evaluate(folded, {}).data[0]).toBeCloseTo(want, 14);
      expect(evaluate(e, {}).data[0]).toBeCloseTo(want, 14);
    }
  });
});
