/**
 * Every primitive and public builder, in float64: the value from `evaluate` against an
 * independent plain-JS oracle, and the symbolic derivatives (grad, jvp, hvp, grad∘grad)
 * against central differences. The case table lives in test/helpers/primitive-cases.ts.
 */
import { describe, expect, it } from "vitest";
import { type Expr, type Value64, dot, edgesOf, evaluate, grad, greater, greaterEqual, hvp, jvp, logsumexp, mean, mul, square, stopGradient, add, sum, transpose, variable } from "../src/index.js";
import { numericGrad, relativeError, seededValues } from "./helpers/oracle.js";
import {
  type Plain,
  at,
  cases,
  cubic,
  instantiate,
  permuteTo,
  sizesOfExpr,
  sumOver,
  tabulate,
} from "./helpers/primitive-cases.js";

/** Gradient checks against central differences (the brief's bound). */
const GRAD_TOL = 1e-6;
/** Two float64 computations of the same value, summed in different orders. */
const VALUE_TOL = 1e-12;

const entries = (edges: readonly { name: string; size: number }[]): number => edges.reduce((p, d) => p * d.size, 1);

/** A result as a plain tensor (so it can be permuted to another axis order). */
function plainOf(v: Value64): Plain {
  return { names: v.edges, sizes: v.shape, data: v.data };
}

/** Σ expr·R for a random weight R with expr's edges: a scalar whose gradient sees every entry. */
function weightedSum(expr: Expr, values: Record<string, Float64Array>, seed: number): Expr {
  const R = variable("R", sizesOfExpr(expr));
  values.R = seededValues(entries(expr.edges), seed);
  return sum(mul(expr, R));
}

/** Values with every variable in `direction` moved by eps times its direction. */
function shifted(values: Record<string, Float64Array>, direction: Record<string, Float64Array>, eps: number): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = { ...values };
  for (const [name, d] of Object.entries(direction)) out[name] = values[name].map((x, i) => x + eps * d[i]);
  return out;
}

/** Central difference of `e` along `direction`, laid out in the axis order `names`. */
function directional(e: Expr, values: Record<string, Float64Array>, direction: Record<string, Float64Array>, eps: number, names: readonly string[]): Float64Array {
  const plus = permuteTo(plainOf(evaluate(e, shifted(values, direction, eps))), names);
  const minus = permuteTo(plainOf(evaluate(e, shifted(values, direction, -eps))), names);
  return plus.map((p, i) => (p - minus[i]) / (2 * eps));
}

// ---------------------------------------------------------------------------------------------

describe.each(cases)("$name", (c) => {
  const probe = instantiate(c);
  const derivable = probe.differentiable.length > 0;
  const byDifferences = derivable && c.handGradient === undefined;

  it("evaluate matches the plain-JS oracle", () => {
    const { vars, values, plain } = instantiate(c);
    const expr = c.build(vars);
    const got = evaluate(expr, values);
    const want = c.oracle(plain);
    expect(got.edges).toEqual(edgesOf(expr));
    expect([...got.edges].sort()).toEqual([...want.names].sort());
    expect(got.shape).toEqual(got.edges.map((n) => want.sizes[want.names.indexOf(n)]));
    if (c.edgeOrder !== undefined) expect(edgesOf(expr)).toEqual(c.edgeOrder);
    expect(got.data.length).toBe(want.data.length);
    expect(relativeError(got.data, permuteTo(want, got.edges))).toBeLessThanOrEqual(VALUE_TOL);
  });

  if (derivable) {
    it("grad of Σ expr·R matches central differences for every variable, in declared edge order", () => {
      const { vars, values, plain, differentiable } = instantiate(c);
      const expr = c.build(vars);
      const f = weightedSum(expr, values, 7);
      const grads = grad(f, differentiable);
      expect(grads).toHaveLength(differentiable.length);
      const hand = c.handGradient?.(plain, { names: edgesOf(expr), sizes: expr.edges.map((d) => d.size), data: values.R });
      differentiable.forEach((v, k) => {
        const g = grads[k];
        expect(edgesOf(g)).toEqual(edgesOf(v));
        const got = evaluate(g, values).data;
        expect(got.length).toBe(values[v.name].length);
        const want = hand !== undefined ? permuteTo(hand[v.name], edgesOf(v)) : numericGrad(f, values, v);
        expect(relativeError(got, want), `d/d${v.name}`).toBeLessThanOrEqual(GRAD_TOL);
        if (c.zeroGradient?.includes(v.name)) expect([...got].every((x) => x === 0), `d/d${v.name} is exactly zero`).toBe(true);
      });
    });
  }

  if (byDifferences) {
    it("jvp along random tangents matches a central difference of the value", () => {
      const { vars, values, differentiable } = instantiate(c);
      const expr = c.build(vars);
      const tangents = differentiable.map((v) => variable(`T_${v.name}`, sizesOfExpr(v)));
      const direction: Record<string, Float64Array> = {};
      differentiable.forEach((v, k) => {
        direction[v.name] = seededValues(values[v.name].length, 100 + k);
        values[tangents[k].name] = direction[v.name];
      });
      const J = jvp(expr, differentiable, tangents);
      expect(edgesOf(J)).toEqual(edgesOf(expr));
      const got = evaluate(J, values).data;
      const want = directional(expr, values, direction, 1e-6, edgesOf(J));
      expect(relativeError(got, want)).toBeLessThanOrEqual(GRAD_TOL);
    });

    it("hvp matches a central difference of grad, and equals grad(Σ grad·U)", () => {
      const { vars, values, differentiable } = instantiate(c);
      const expr = c.build(vars);
      const f = weightedSum(expr, values, 7);
      differentiable.forEach((v, k) => {
        const U = variable(`U_${v.name}`, sizesOfExpr(v));
        values[U.name] = seededValues(values[v.name].length, 200 + k);
        const H = hvp(f, v, U);
        expect(edgesOf(H)).toEqual(edgesOf(v));
        const got = evaluate(H, values).data;
        const g = grad(f, v);
        const want = directional(g, values, { [v.name]: values[U.name] }, 1e-5, edgesOf(v));
        expect(relativeError(got, want), `H·U for ${v.name}`).toBeLessThanOrEqual(GRAD_TOL);

        const composed = grad(sum(mul(grad(f, v), U)), v);
        expect(edgesOf(composed)).toEqual(edgesOf(v));
        expect(relativeError(evaluate(composed, values).data, got), `grad∘grad for ${v.name}`).toBeLessThanOrEqual(1e-12);
      });
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe("transforms: forms, edge order, composition", () => {
  const W = variable("W", { in: 4, out: 3 });
  const x = variable("x", { batch: 2, in: 4 });
  const values = (): Record<string, Float64Array> => ({ W: seededValues(12, 1), x: seededValues(8, 2, -2, 2) });

  it("grad of the README loss has W's edges in W's order and matches central differences", () => {
    const loss = mean(logsumexp(dot(x, W), "out"));
    const dW = grad(loss, W);
    expect(edgesOf(dW)).toEqual(["in", "out"]);
    const v = values();
    expect(relativeError(evaluate(dW, v).data, numericGrad(loss, v, W))).toBeLessThanOrEqual(GRAD_TOL);
  });

  it("grad keeps the declared order when the expression uses the variable transposed", () => {
    const Q = variable("Q", { out: 3, in: 4 });
    const f = sum(mul(transpose(W, ["out", "in"]), Q));
    const dW = grad(f, W);
    expect(edgesOf(dW)).toEqual(["in", "out"]);
    const v = { ...values(), Q: seededValues(12, 3) };
    // ∂/∂W[in, out] of Σ W[in,out]·Q[out,in] is Q[out, in], laid out as [in, out].
    const want = tabulate({ in: 4, out: 3 }, (ix) => at({ names: ["out", "in"], sizes: [3, 4], data: v.Q }, ix)).data;
    expect(relativeError(evaluate(dW, v).data, want)).toBeLessThanOrEqual(VALUE_TOL);
  });

  it("grad with one variable, a list and a record gives the same expressions", () => {
    const loss = mean(logsumexp(dot(x, W), "out"));
    const single = grad(loss, W);
    const [fromList, xFromList] = grad(loss, [W, x]);
    const fromRecord = grad(loss, { weights: W, inputs: x });
    expect(fromList).toBe(single);
    expect(fromRecord.weights).toBe(single);
    expect(fromRecord.inputs).toBe(xFromList);
    expect(edgesOf(xFromList)).toEqual(["batch", "in"]);
  });

  it("hvp of the README loss matches a central difference of its gradient", () => {
    const loss = mean(logsumexp(dot(x, W), "out"));
    const U = variable("U", { in: 4, out: 3 });
    const v = { ...values(), U: seededValues(12, 4) };
    const HU = hvp(loss, W, U);
    expect(edgesOf(HU)).toEqual(["in", "out"]);
    const want = directional(grad(loss, W), v, { W: v.U }, 1e-5, ["in", "out"]);
    expect(relativeError(evaluate(HU, v).data, want)).toBeLessThanOrEqual(GRAD_TOL);
  });

  it("second derivative of a user fn by grad∘grad: d²/dx² (x³ − 2x + 1) = 6x", () => {
    const t = variable("t", { k: 5 });
    const tv = seededValues(5, 5, -2, 2);
    const second = grad(sum(grad(sum(cubic(t)), t)), t);
    const got = evaluate(second, { t: tv }).data;
    expect(relativeError(got, tv.map((v) => 6 * v))).toBeLessThanOrEqual(VALUE_TOL);
  });

  it("jvp of a stopGradient expression ignores the stopped part", () => {
    const a = variable("a", { i: 3 });
    const b = variable("b", { i: 3 });
    const ta = variable("ta", { i: 3 });
    const tb = variable("tb", { i: 3 });
    const e = add(mul(stopGradient(square(a)), b), a);
    const v = { a: seededValues(3, 6), b: seededValues(3, 7), ta: seededValues(3, 8), tb: seededValues(3, 9) };
    // d[sg(a²)·b + a] = a²·db + da
    const want = v.a.map((av, i) => av * av * v.tb[i] + v.ta[i]);
    const J = jvp(e, [a, b], [ta, tb]);
    expect(relativeError(evaluate(J, v).data, want)).toBeLessThanOrEqual(VALUE_TOL);
    const [ga, gb] = grad(sum(e), [a, b]);
    expect([...evaluate(ga, v).data]).toEqual([1, 1, 1]);
    expect(relativeError(evaluate(gb, v).data, v.a.map((av) => av * av))).toBeLessThanOrEqual(VALUE_TOL);
  });

  it("greater and greaterEqual differ exactly at ties", () => {
    const t = variable("t", { k: 4 });
    const tv = Float64Array.from([0.25, -0.5, 0.75, 0.25]);
    const want = (strict: boolean): number[] => [...tv].map((v) => (strict ? (v > 0.25 ? 1 : 0) : v >= 0.25 ? 1 : 0));
    expect([...evaluate(greater(t, 0.25), { t: tv }).data]).toEqual(want(true));
    expect([...evaluate(greaterEqual(t, 0.25), { t: tv }).data]).toEqual(want(false));
    // Zero gradient even at a tie.
    expect([...evaluate(grad(sum(greaterEqual(t, 0.25)), t), { t: tv }).data]).toEqual([0, 0, 0, 0]);
  });

  it("mean over named edges divides by the product of their sizes only", () => {
    const y = variable("y", { a: 2, b: 3, c: 4 });
    const yv = seededValues(24, 10);
    const plainY: Plain = { names: ["a", "b", "c"], sizes: [2, 3, 4], data: yv };
    const got = evaluate(mean(y, ["a", "c"]), { y: yv });
    const want = tabulate({ b: 3 }, ({ b }) => sumOver(2, (a) => sumOver(4, (c) => at(plainY, { a, b, c }))) / 8);
    expect(relativeError(got.data, want.data)).toBeLessThanOrEqual(VALUE_TOL);
  });
});
