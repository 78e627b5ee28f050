/**
 * The transforms (grad, valueAndGrad, vjp, jvp, hvp) as a user calls them: results against
 * central differences in float64, the shape of what comes back for each form of `wrt`, the
 * error on every kind of bad input, and bounds on how much of the graph a derivative builds
 * (a transform that visits nodes it need not gives right values and quietly costs more).
 */
import { describe, expect, it } from "vitest";
import {
  type Expr, type Variable, RicciError, add, dot, evaluate, exp, gather, grad, greater, hvp, jvp, logsumexp, maximum, mean, mul, rename, sigmoid, softmax,
  stopGradient, sum, tanh, topologicalOrder, transpose, valueAndGrad, variable, vjp,
} from "../src/index.js";
import { internedCount } from "../src/dsl/expr.js";
import { gptData, gptForward, gptParams } from "../src/nn/gpt.js";
import { numericGrad, relativeError, seededValues } from "./helpers/oracle.js";

/** Central differences agree with float64 derivatives to about this (eps = 1e-6). */
const TOL = 1e-6;

type Inputs = Record<string, Float64Array>;

const entries = (v: Expr): number => v.edges.reduce((n, e) => n * e.size, 1);

/** Seeded values for every variable of `roots`. */
function inputsFor(roots: readonly Expr[], seed = 1): Inputs {
  const inputs: Inputs = {};
  let s = seed;
  for (const n of topologicalOrder(roots)) if (n.kind === "variable" && inputs[n.name] === undefined) inputs[n.name] = seededValues(entries(n), s++);
  return inputs;
}

/** evaluate(e) as plain numbers in e's own edge order. */
const valueOf = (e: Expr, inputs: Inputs): Float64Array => evaluate(e, inputs).data;

/** (f(x + eps·d) − f(x − eps·d)) / 2eps, entry by entry, for the variables moved along `direction`. */
function directional(f: Expr, inputs: Inputs, direction: Inputs, eps = 1e-6): Float64Array {
  const moved = (sign: number): Inputs => {
    const out = { ...inputs };
    for (const [name, d] of Object.entries(direction)) out[name] = inputs[name].map((x, i) => x + sign * eps * d[i]);
    return out;
  };
  const plus = valueOf(f, moved(1));
  const minus = valueOf(f, moved(-1));
  return plus.map((p, i) => (p - minus[i]) / (2 * eps));
}

/** How many new nodes `build` interns (the work a transform does, whatever it returns). */
function nodesBuiltBy(build: () => unknown): number {
  const before = internedCount();
  build();
  return internedCount() - before;
}

const thrownBy = (run: () => unknown): Error => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RicciError);
    return error as Error;
  }
  throw new Error("expected a RicciError, but nothing was thrown");
};

// A small two-variable model used throughout.
const x = variable("x", { batch: 3, in: 4 });
const W = variable("W", { in: 4, out: 2 });
const bias = variable("bias", { out: 2 });
const logits = add(dot(x, W), bias);
const loss = (): Expr => mean(logsumexp(logits, "out"));

describe("grad and valueAndGrad", () => {
  it("grad matches central differences for one variable, a list and a record", () => {
    const f = loss();
    const inputs = inputsFor([f]);
    const dW = numericGrad(f, inputs, W);
    const db = numericGrad(f, inputs, bias);
    expect(relativeError(valueOf(grad(f, W), inputs), dW)).toBeLessThan(TOL);
    const [gW, gb] = grad(f, [W, bias]);
    expect(relativeError(valueOf(gW, inputs), dW)).toBeLessThan(TOL);
    expect(relativeError(valueOf(gb, inputs), db)).toBeLessThan(TOL);
    const byName = grad(f, { weights: W, offset: bias });
    expect(Object.keys(byName)).toEqual(["weights", "offset"]);
    expect(relativeError(valueOf(byName.weights, inputs), dW)).toBeLessThan(TOL);
    expect(relativeError(valueOf(byName.offset, inputs), db)).toBeLessThan(TOL);
  });

  it("valueAndGrad returns the function itself and the same gradient, shaped like wrt", () => {
    const f = loss();
    const inputs = inputsFor([f]);
    const single = valueAndGrad(f, W);
    expect(single.value).toBe(f);
    expect(relativeError(valueOf(single.grad, inputs), numericGrad(f, inputs, W))).toBeLessThan(TOL);
    const listed = valueAndGrad(f, [bias, W]);
    expect(listed.grad).toHaveLength(2);
    expect(relativeError(valueOf(listed.grad[0], inputs), numericGrad(f, inputs, bias))).toBeLessThan(TOL);
    const named = valueAndGrad(f, { W });
    expect(Object.keys(named.grad)).toEqual(["W"]);
    expect(named.grad.W.edges).toEqual(W.edges);
  });

  it("lays each gradient out in its variable's declared edge order, whatever order f uses", () => {
    const f = sum(mul(transpose(W, ["out", "in"]), transpose(W, ["out", "in"])));
    const g = grad(f, W);
    expect(g.edges.map((e) => e.name)).toEqual(["in", "out"]);
    const inputs = inputsFor([f]);
    expect(relativeError(valueOf(g, inputs), numericGrad(f, inputs, W))).toBeLessThan(TOL);
  });

  it("gives zeros with the variable's edges when f does not depend on it", () => {
    const f = sum(exp(x));
    const g = grad(f, W);
    expect(g.edges).toEqual(W.edges);
    expect(Array.from(valueOf(g, inputsFor([f, W])))).toEqual(new Array(8).fill(0));
  });

  it("sends no gradient through stopGradient or a one-hot index", () => {
    const ids = variable("ids", { t: 2 });
    const E = variable("E", { vocab: 5, d: 3 });
    const f = add(sum(stopGradient(mul(x, x))), sum(gather(E, ids, "vocab")));
    const inputs = { ...inputsFor([f]), ids: Float64Array.from([1, 4]) };
    expect(Array.from(valueOf(grad(f, x), inputs)).every((v) => v === 0)).toBe(true);
    expect(Array.from(valueOf(grad(f, ids), inputs))).toEqual([0, 0]);
    // Row 1 and row 4 of E are picked once each.
    const dE = valueOf(grad(f, E), inputs);
    expect(Array.from(dE)).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
  });
});

describe("vjp", () => {
  it("is the gradient of Σ cotangent·f, for a list and a record of variables", () => {
    const f = softmax(logits, "out"); // {batch, out}
    const ct = variable("ct", { out: 2, batch: 3 }); // same edges, another order
    const inputs = inputsFor([f, ct]);
    const weighted = sum(mul(f, ct));
    const [vW, vb] = vjp(f, [W, bias], ct);
    expect(vW.edges).toEqual(W.edges);
    expect(relativeError(valueOf(vW, inputs), numericGrad(weighted, inputs, W))).toBeLessThan(TOL);
    expect(relativeError(valueOf(vb, inputs), numericGrad(weighted, inputs, bias))).toBeLessThan(TOL);
    const named = vjp(f, { x }, ct);
    expect(relativeError(valueOf(named.x, inputs), numericGrad(weighted, inputs, x))).toBeLessThan(TOL);
    expect(relativeError(valueOf(vjp(f, x, ct), inputs), numericGrad(weighted, inputs, x))).toBeLessThan(TOL);
  });
});

describe("jvp", () => {
  it("is the directional derivative along the tangents, for one and for several variables", () => {
    const f = tanh(logits); // {batch, out}
    const U = variable("U", { in: 4, out: 2 });
    const u = variable("u", { out: 2 });
    const inputs = inputsFor([f, U, u]);
    const one = jvp(f, W, U);
    expect(one.edges).toEqual(f.edges);
    expect(relativeError(valueOf(one, inputs), directional(f, inputs, { W: inputs.U }))).toBeLessThan(TOL);
    const both = jvp(f, [W, bias], [U, u]);
    expect(relativeError(valueOf(both, inputs), directional(f, inputs, { W: inputs.U, bias: inputs.u }))).toBeLessThan(TOL);
  });

  it("gives zeros with f's edges when f does not depend on the variable", () => {
    const f = sigmoid(x);
    const t = jvp(f, W, variable("U", { in: 4, out: 2 }));
    expect(t.edges).toEqual(f.edges);
    expect(Array.from(valueOf(t, inputsFor([f]))).every((v) => v === 0)).toBe(true);
  });

  it("follows renames, weighted sums and edge functions", () => {
    const r = rename(W, { in: "k" });
    const f = add(mul(2, logsumexp(r, "k")), mul(-3, sum(r, "k")));
    const U = variable("U", { in: 4, out: 2 });
    const inputs = inputsFor([f, U]);
    expect(relativeError(valueOf(jvp(f, W, U), inputs), directional(f, inputs, { W: inputs.U }))).toBeLessThan(TOL);
  });
});

describe("hvp", () => {
  it("is the derivative of the gradient along v, laid out in the variable's edge order", () => {
    const f = mean(mul(logsumexp(logits, "out"), logsumexp(logits, "out")));
    const v = variable("v", { out: 2, in: 4 }); // W's edges in the other order
    const inputs = inputsFor([f, v]);
    const Hv = hvp(f, W, v);
    expect(Hv.edges.map((e) => e.name)).toEqual(["in", "out"]);
    // v's values are laid out {out, in}; the direction for W is the same tensor in {in, out} order.
    const vInOut = Float64Array.from({ length: 8 }, (_, k) => inputs.v[(k % 2) * 4 + Math.floor(k / 2)]);
    const expected = directional(grad(f, W), inputs, { W: vInOut }, 1e-5);
    expect(relativeError(valueOf(Hv, inputs), expected)).toBeLessThan(1e-6);
  });
});

describe("every transform names itself and what it got when the input is wrong", () => {
  const f = sum(x);
  const wrongExpressions: readonly [unknown, string][] = [
    [3, "a number (3)"],
    ["loss", "a string (loss)"],
    [undefined, "undefined"],
    [null, "null"],
    [{ edges: [] }, "a object"],
  ];
  // [the call, the name its message gives (valueAndGrad reports as grad), the call itself]
  const transforms: readonly [string, string, (f: unknown) => unknown][] = [
    ["grad", "grad", (g) => grad(g as Expr, x)],
    ["vjp", "vjp", (g) => vjp(g as Expr, x, x)],
    ["jvp", "jvp", (g) => jvp(g as Expr, x, x)],
    ["hvp", "hvp", (g) => hvp(g as Expr, x, x)],
    ["valueAndGrad", "grad", (g) => valueAndGrad(g as Expr, x)],
  ];
  for (const [call, op, run] of transforms) {
    for (const [bad, described] of wrongExpressions) {
      it(`${call} of ${described}`, () => {
        const message = thrownBy(() => run(bad)).message;
        expect(message).toContain(`${op}: the function to differentiate must be a ricci expression, got ${described}`);
      });
    }
  }

  it("rejects a wrt that is not a variable, in each form, naming the transform", () => {
    expect(thrownBy(() => grad(f, [x, null as unknown as Variable])).message).toBe("grad: can only differentiate with respect to a variable, got null");
    expect(thrownBy(() => vjp(f, { a: sum(x) as unknown as Variable }, f)).message).toBe(
      "vjp: can only differentiate with respect to a variable, got a product with edges {}",
    );
    expect(thrownBy(() => jvp(f, [] as Variable[], [])).message).toBe("jvp: nothing to differentiate with respect to");
    expect(thrownBy(() => hvp(f, undefined as unknown as Variable, x)).message).toBe("hvp: can only differentiate with respect to a variable, got undefined");
    expect(thrownBy(() => grad(f, null as unknown as Variable)).message).toBe("grad: can only differentiate with respect to a variable, got null");
  });

  it("rejects a non-scalar function in grad, valueAndGrad and hvp (vjp and jvp take any f)", () => {
    expect(thrownBy(() => valueAndGrad(x, x)).message).toBe("grad: the function must be a scalar, but it has edges {batch: 3, in: 4}; reduce it first, e.g. with sum() or mean()");
    expect(thrownBy(() => hvp(x, x, x)).message).toMatch(/^hvp: the function must be a scalar, but it has edges \{batch: 3, in: 4\}/);
    expect(vjp(x, x, x).edges).toEqual(x.edges);
    expect(jvp(x, x, x).edges).toEqual(x.edges);
  });

  it("names the cotangent, tangent and vector whose edges are wrong, with both edge lists", () => {
    expect(thrownBy(() => vjp(x, x, W)).message).toBe("vjp: the cotangent must have edges {batch: 3, in: 4}, got {in: 4, out: 2}");
    expect(thrownBy(() => jvp(f, [x, W], [x, x])).message).toBe('jvp: the tangent for "W" must have edges {in: 4, out: 2}, got {batch: 3, in: 4}');
    expect(thrownBy(() => jvp(f, x, [x, x])).message).toBe("jvp: 1 variable(s) but 2 tangent(s)");
    expect(thrownBy(() => hvp(f, x, W)).message).toBe("hvp: the vector must have edges {batch: 3, in: 4}, got {in: 4, out: 2}");
  });

  it("rejects a tangent, cotangent or vector that reuses a variable name of f with other edges", () => {
    // A variable named "x" with W's edges: its edges fit the tangent, but "x" already means x.
    const clash = variable("x", { in: 4, out: 2 });
    const g = sum(dot(x, W));
    expect(thrownBy(() => jvp(g, W, clash)).message).toBe('variable "x" is used with different edges: {batch: 3, in: 4} and {in: 4, out: 2}');
    expect(thrownBy(() => vjp(dot(x, W), x, variable("W", { batch: 3, out: 2 }))).message).toBe('variable "W" is used with different edges: {in: 4, out: 2} and {batch: 3, out: 2}');
    expect(thrownBy(() => hvp(g, W, clash)).message).toBe('variable "x" is used with different edges: {batch: 3, in: 4} and {in: 4, out: 2}');
  });
});

describe("the size of what a transform builds", () => {
  /** x passed through `depth` more functions: a branch of the graph that W does not reach. */
  const deadBranch = (depth: number): Expr => {
    // Each level renames an edge, so each level's values have their own edges (and zeros).
    // Products and sums too (each kind has its own liveness rule).
    const z = variable("z", { i0: 3, j: 2 });
    let e: Expr = z;
    for (let k = 0; k < depth; k++) {
      const renamed = rename(e, { [`i${k}`]: `i${k + 1}` });
      e = tanh(exp(k % 2 === 0 ? mul(renamed, renamed) : add(renamed, exp(renamed))));
    }
    return sum(e);
  };

  it("grad and jvp build nothing for a branch that does not depend on wrt", () => {
    const V = variable("V", { i: 3, j: 2 });
    const U = variable("U", { i: 3, j: 2 });
    // Warm the interning table with everything except the derivative itself.
    const f = add(sum(mul(V, V)), deadBranch(12));
    const g = grad(sum(mul(V, V)), V);
    const t = jvp(sum(mul(V, V)), V, U);
    // The same derivatives of f must add at most the few nodes that join the dead branch's zero.
    expect(nodesBuiltBy(() => expect(grad(f, V)).toBe(g))).toBeLessThanOrEqual(2);
    expect(nodesBuiltBy(() => expect(jvp(f, V, U)).toBe(t))).toBeLessThanOrEqual(2);
  });

  it("jvp builds no partial derivative for an argument that does not depend on wrt", () => {
    // Names used nowhere else: the interning table is shared by every test in the process.
    const V = variable("V_jvpDeadArg", { i: 3 });
    const Z = variable("Z_jvpDeadArg", { i: 3 });
    jvp(sum(maximum(V, Z)), V, variable("U_jvpDeadArg", { i: 3 }));
    // maximum's partial for its second argument (Z, dead here) would be greater(Z, V): it must not exist yet.
    expect(nodesBuiltBy(() => greater(Z, V))).toBe(1);
  });

  it("a small GPT's loss gradient stays within 2.5× the loss graph and builds at most 1.5× its nodes", () => {
    const c = { vocab: 7, context: 4, dModel: 8, heads: 2, layers: 2, ff: 8 };
    const p = gptParams(c);
    const data = gptData(c, 2);
    const f = mean(logsumexp(gptForward(c, p, data), "vocab"));
    const lossNodes = topologicalOrder([f]).length;
    let grads: Expr[] = [];
    const built = nodesBuiltBy(() => (grads = grad(f, Object.values(p))));
    expect(grads).toHaveLength(Object.keys(p).length);
    // Measured: 126 loss nodes, a 275-node gradient graph, 178 nodes built (the "cheap gradient" principle: a small multiple).
    expect(topologicalOrder(grads).length).toBeLessThanOrEqual(2.5 * lossNodes);
    expect(built).toBeLessThanOrEqual(1.5 * lossNodes);
  });
});
