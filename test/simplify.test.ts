/**
 * simplify and equal: each rewrite keeps the value (float64 evaluation on seeded inputs before
 * and after), reaches the expected structure, and is idempotent; equal holds exactly up to
 * renaming of inner edges, factor/term order and edge order.
 */
import { describe, expect, it } from "vitest";
import { type Expr, RicciError, add, constant, delta, dot, edgesOf, einsum, equal, evaluate, exp, grad, hvp, log, logSoftmax, logsumexp, max, mean, mul, neg, ones, pow, relu, rename, scale, sigmoid, simplify, softmax, softplus, stopGradient, sub, sum, tanh, topologicalOrder, transpose, variable, variablesOf, zeros } from "../src/index.js";
import { forgetNormalForms } from "../src/simplify/simplify.js";
import { relativeError, seededValues } from "./helpers/oracle.js";

const x = variable("x", { b: 2, in: 3 });
const W = variable("W", { in: 3, out: 4 });
const A = variable("A", { i: 3, j: 3 });
const B = variable("B", { i: 3, j: 3 });
const v = variable("v", { i: 3 });
const u = variable("u", { i: 3 });

function inputsFor(roots: readonly Expr[], seed = 11): Record<string, Float64Array> {
  const inputs: Record<string, Float64Array> = {};
  variablesOf(roots).forEach((w, k) => {
    inputs[w.name] ??= seededValues(w.edges.reduce((n, d) => n * d.size, 1), seed + 101 * k);
  });
  return inputs;
}

/** simplify(e) has e's edges in e's order and e's value (to rounding), and is a fixed point. */
function simplifiedChecked(e: Expr): Expr {
  const s = simplify(e);
  expect(edgesOf(s)).toEqual(edgesOf(e));
  expect(s.edges.map((d) => d.size)).toEqual(e.edges.map((d) => d.size));
  const inputs = inputsFor([e]);
  expect(relativeError(evaluate(s, inputs).data, evaluate(e, inputs).data)).toBeLessThanOrEqual(1e-12);
  forgetNormalForms(); // recompute from scratch rather than look the result up
  expect(simplify(s)).toBe(s);
  return s;
}

const kindsIn = (e: Expr): string[] => topologicalOrder([e]).map((n) => n.kind);
const count = (e: Expr, kind: string): number => kindsIn(e).filter((k) => k === kind).length;

describe("simplify: products", () => {
  it("flattens nested products into one einsum", () => {
    const C = variable("C", { j: 3, k: 2 });
    const e = dot(dot(A, B, "j"), rename(C, { j: "i" }), "i"); // nested: (A·B)·C
    const s = simplifiedChecked(e);
    expect(s.kind).toBe("product");
    if (s.kind === "product") expect(s.factors.every((f) => f.kind !== "product")).toBe(true);
    expect(count(s, "product")).toBe(1);
  });

  it("flattens a sum over a product into the product", () => {
    const s = simplifiedChecked(sum(dot(x, W), "b"));
    expect(count(s, "product")).toBe(1);
  });

  it("absorbs a delta (copy tensor) by renaming", () => {
    const I = delta({ in: 3, k: 3 });
    const e = einsum([x, I, rename(W, { in: "k" })], ["b", "out"]);
    const s = simplifiedChecked(e);
    expect(kindsIn(s)).not.toContain("delta");
    expect(equal(e, dot(x, W))).toBe(true);
    // δ(i, j) · v(i), keeping j, is v renamed to j.
    expect(simplifiedChecked(dot(delta({ i: 3, j: 3 }), v))).toBe(rename(v, { i: "j" }));
  });

  it("keeps a delta over output edges, and sums a lone delta to its size", () => {
    const diag = simplifiedChecked(mul(delta({ i: 3, j: 3 }), v));
    expect(kindsIn(diag)).toContain("delta");
    const trace = simplifiedChecked(sum(delta({ i: 3, j: 3 })));
    expect(trace).toBe(constant(3));
  });

  it("drops ones that only broadcast, and sums ones over a lone inner edge to its size", () => {
    expect(simplifiedChecked(transpose(mul(x, ones({ in: 3 })), ["b", "in"]))).toBe(x);
    const e = sum(mul(v, ones({ k: 4 })), "k");
    const s = simplifiedChecked(e);
    expect(s).toBe(simplify(scale(v, 4)));
    expect(s.kind === "sum" && s.weights[0] === 4 && s.terms[0] === v).toBe(true);
  });

  it("folds scalar factors out of products into sum weights", () => {
    const e = mul(scale(v, 2), scale(u, 3), constant(0.5));
    const s = simplifiedChecked(e);
    expect(s.kind).toBe("sum");
    if (s.kind === "sum") {
      expect(s.weights).toEqual([3]);
      expect(s.terms[0].kind).toBe("product");
    }
    expect(equal(e, scale(mul(u, v), 3))).toBe(true);
    const c = simplifiedChecked(mul(v, constant(2, { i: 3 })));
    expect(equal(c, scale(v, 2))).toBe(true);
  });

  it("a zero factor zeroes the product", () => {
    expect(simplifiedChecked(dot(x, sub(W, W)))).toBe(zeros({ b: 2, out: 4 }));
  });

  it("names inner edges canonically (after the variable axis they reach), whatever they were called", () => {
    const a = simplify(dot(rename(x, { in: "k" }), rename(W, { in: "k" })));
    const b = simplify(dot(x, W));
    expect(a).toBe(b);
    expect(a.kind === "product" && new Set(a.factors)).toEqual(new Set([x, W])); // inner edge "in", no renames left
    // Renamed free edges stay one wrapper over the same core.
    const c = simplify(dot(rename(x, { in: "k", b: "in" }), rename(W, { in: "k" })));
    expect(c).toBe(rename(b, { b: "in" }));
    // When the axis name is taken by an output edge, the inner edge gets a reserved name.
    const z = variable("z", { in: 3 });
    const d = simplifiedChecked(mul(dot(rename(x, { in: "k" }), rename(W, { in: "k" })), z));
    expect(d.kind === "product" && d.factors.flatMap((f) => edgesOf(f)).filter((n) => n.startsWith("#"))).toEqual(["#0", "#0"]);
    expect(equal(d, mul(z, dot(x, W)))).toBe(true);
  });

  it("keeps the top-level edge order of the input", () => {
    const t = transpose(dot(x, W), ["out", "b"]);
    const s = simplifiedChecked(t);
    expect(edgesOf(s)).toEqual(["out", "b"]);
    expect(equal(s, dot(x, W))).toBe(true);
  });
});

describe("simplify: renames", () => {
  it("removes identity renames and composes renames", () => {
    expect(simplifiedChecked(rename(rename(x, { in: "k" }), { k: "in" }))).toBe(x);
  });

  it("keeps a rename as one wrapper above the canonical core, never copying the subgraph", () => {
    const body = add(exp(dot(x, W)), softmax(dot(x, W), "out"));
    const s = simplifiedChecked(rename(body, { b: "batch", out: "o" }));
    expect(s.kind).toBe("rename");
    if (s.kind === "rename") expect(s.arg).toBe(simplify(body));
    // exp(rename(v)) and rename(exp(v)) are one canonical form: the rename floats up.
    expect(simplify(exp(rename(v, { i: "k" })))).toBe(simplify(rename(exp(v), { i: "k" })));
  });

  it("keeps sharing: renamed copies of a deep shared subgraph are not duplicated", () => {
    // An attention-like chain: each layer reads its input twice, once renamed s → t.
    let h: Expr = variable("h0", { s: 3, d: 2 });
    for (let layer = 0; layer < 12; layer++) {
      const keys = rename(h, { s: "t" });
      const weights = softmax(dot(h, keys, "d"), "t");
      h = add(h, tanh(dot(weights, keys, "t")));
    }
    const e = sum(h);
    const started = performance.now();
    const s = simplifiedChecked(e);
    expect(performance.now() - started).toBeLessThan(2000);
    // Linear in depth: at most a rename wrapper per layer more than the input.
    expect(topologicalOrder([s]).length).toBeLessThanOrEqual(topologicalOrder([e]).length + 12);
    simplifiedChecked(grad(e, variable("h0", { s: 3, d: 2 })));
  });

  it("avoids capturing an inner edge when renaming onto its name", () => {
    const p = dot(rename(x, { in: "k" }), rename(W, { in: "k" })); // inner edge "k"
    const e = rename(p, { b: "k" });
    const s = simplifiedChecked(e);
    expect(edgesOf(s)).toEqual(["k", "out"]);
    const inputs = inputsFor([p]);
    expect(evaluate(s, inputs).data).toEqual(evaluate(p, inputs).data);
  });

  it("avoids capturing the edge that logsumexp removes", () => {
    const y = variable("y", { k: 3, c: 2 });
    const e = rename(logsumexp(y, "k"), { c: "k" });
    const s = simplifiedChecked(e);
    expect(edgesOf(s)).toEqual(["k"]);
  });

  it("names the edge logsumexp removes canonically", () => {
    expect(equal(logsumexp(rename(x, { in: "k" }), "k"), logsumexp(x, "in"))).toBe(true);
    expect(equal(max(rename(x, { b: "k" }), "k"), max(x, "b"))).toBe(true);
    expect(equal(logsumexp(x, "b"), logsumexp(x, "in"))).toBe(false);
  });
});

describe("simplify: sums", () => {
  it("flattens nested sums and combines like terms", () => {
    const s = simplifiedChecked(add(add(u, v), sub(v, scale(u, 3))));
    expect(s.kind).toBe("sum");
    if (s.kind === "sum") {
      expect(s.terms.length).toBe(2);
      expect(new Map(s.terms.map((t, k) => [t, s.weights[k]]))).toEqual(new Map([[u, -2], [v, 2]]));
    }
  });

  it("combines terms that are equal up to inner names", () => {
    const e = add(dot(x, W), dot(rename(x, { in: "k" }), rename(W, { in: "k" })));
    const s = simplifiedChecked(e);
    expect(s.kind === "sum" && s.terms.length === 1 && s.weights[0] === 2).toBe(true);
  });

  it("removes zero terms and zero weights", () => {
    expect(simplifiedChecked(add(v, sub(u, u)))).toBe(v);
    expect(simplifiedChecked(add(v, mul(u, zeros({ i: 3 }))))).toBe(v);
    expect(simplifiedChecked(sub(mul(u, v), mul(v, u)))).toBe(zeros({ i: 3 }));
  });

  it("keeps the edges a sum broadcasts to", () => {
    const w = variable("w", { j: 2 });
    const e = add(v, sub(w, w)); // edges {i, j}; only v is left
    const s = simplifiedChecked(e);
    expect(equal(s, mul(v, ones({ j: 2 })))).toBe(true);
  });

  it("merges constant terms", () => {
    const s = simplifiedChecked(add(v, constant(2, { i: 3 }), constant(3)));
    expect(s.kind === "sum" && s.terms.length === 2).toBe(true);
    expect(equal(s, add(v, 5))).toBe(true);
  });
});

describe("simplify: functions", () => {
  it("folds elementwise and edge functions of constants", () => {
    expect(simplifiedChecked(exp(sub(v, v)))).toBe(ones({ i: 3 }));
    const s = simplifiedChecked(logsumexp(constant(2, { k: 4 }), "k"));
    expect(s.kind === "constant" && Math.abs(s.value - (2 + Math.log(4))) < 1e-15).toBe(true);
    expect(simplifiedChecked(softmax(constant(7, { k: 4 }), "k"))).toBe(constant(0.25, { k: 4 }));
  });

  it("log(exp(x)) is x", () => {
    expect(simplifiedChecked(log(exp(x)))).toBe(x);
  });

  it("-log σ(x) becomes softplus(-x), which stays finite", () => {
    expect(simplifiedChecked(neg(log(sigmoid(v))))).toBe(softplus(neg(v)));
    expect(simplifiedChecked(log(sigmoid(v)))).toBe(neg(softplus(neg(v))));
    const far = simplify(neg(log(sigmoid(scale(v, 1000)))));
    const value = evaluate(far, { v: [-1, -0.5, 2] }).data;
    expect(Array.from(value)).toEqual([1000, 500, expect.closeTo(Math.log1p(Math.exp(-2000)), 12)]);
  });

  it("log(softmax) becomes logSoftmax, and exp(logSoftmax) softmax", () => {
    expect(simplifiedChecked(log(softmax(x, "in")))).toBe(logSoftmax(x, "in"));
    expect(simplifiedChecked(exp(logSoftmax(x, "in")))).toBe(softmax(x, "in"));
  });

  it("merges powers only where that keeps the value", () => {
    expect(simplifiedChecked(pow(pow(v, 2), 3))).toBe(pow(v, 6));
    expect(simplifiedChecked(pow(pow(v, 0.5), 3))).toBe(pow(v, 1.5));
    expect(simplifiedChecked(pow(pow(v, -1), -1))).toBe(v);
    // (x²)^½ = |x| and (√x)² is NaN for x < 0: both stay as they are.
    expect(simplifiedChecked(pow(pow(v, 2), 0.5))).toBe(pow(pow(v, 2), 0.5));
    expect(simplifiedChecked(pow(pow(v, 0.5), 2))).toBe(pow(pow(v, 0.5), 2));
  });

  it("stopGradient(stopGradient(x)) is stopGradient(x)", () => {
    expect(simplifiedChecked(stopGradient(stopGradient(add(u, v))))).toBe(simplify(stopGradient(add(u, v))));
  });
});

describe("simplify: idempotence on derived expressions", () => {
  // Built inside each test (not at collection time, which would make autodiff mutants "static" for Stryker).
  const f = (): Expr => mean(logsumexp(dot(x, W), "out"));
  const g = (): Expr => sum(mul(relu(dot(x, W)), tanh(softmax(dot(x, W), "b"))));
  const cases: [string, () => Expr][] = [
    ["loss", f],
    ["gradient", () => grad(f(), W)],
    ["hvp", () => hvp(f(), W, variable("U", { in: 3, out: 4 }))],
    ["gradient of a mixed expression", () => grad(g(), x)],
    ["second derivative", () => grad(sum(mul(grad(g(), W), W)), W)],
  ];
  for (const [name, e] of cases) {
    it(`${name}: same value, fixed point`, () => {
      simplifiedChecked(e());
    });
  }
});

describe("equal", () => {
  it("holds under renaming of contracted edges", () => {
    expect(equal(dot(rename(x, { in: "k" }), rename(W, { in: "k" })), dot(x, W))).toBe(true);
    expect(equal(sum(rename(v, { i: "q" })), sum(v))).toBe(true);
  });

  it("holds under term and factor order", () => {
    expect(equal(add(u, v), add(v, u))).toBe(true);
    expect(equal(mul(u, v), mul(v, u))).toBe(true);
    expect(equal(dot(A, B, "j"), dot(B, A, "j"))).toBe(true);
    expect(equal(add(mul(u, v), exp(u)), add(exp(u), mul(v, u)))).toBe(true);
  });

  it("ignores top-level edge order", () => {
    expect(equal(dot(x, W), transpose(dot(x, W), ["out", "b"]))).toBe(true);
  });

  it("does not hold for different expressions", () => {
    expect(equal(dot(A, B), dot(A, rename(B, { i: "j", j: "i" })))).toBe(false);
    expect(equal(add(u, v), add(u, u))).toBe(false);
    expect(equal(scale(u, 2), u)).toBe(false);
    expect(equal(u, rename(u, { i: "j" }))).toBe(false);
    expect(equal(exp(u), exp(v))).toBe(false);
    expect(equal(dot(A, B, "j"), dot(A, B, "i"))).toBe(false);
  });

  it("holds for symmetric copies of one tensor in any order", () => {
    // Σ A(p,q)² A(r,s)²: four factors no name-independent key tells apart.
    const A1 = rename(A, { i: "p", j: "q" });
    const A2 = rename(A, { i: "r", j: "s" });
    const orders = [[A1, A2, A2, A1], [A1, A1, A2, A2], [A2, A1, A2, A1], [A2, A2, A1, A1]];
    const [first, ...rest] = orders.map((fs) => simplify(einsum(fs, [])));
    for (const other of rest) expect(other).toBe(first);
    expect(equal(einsum([A1, A2, A1, A2], []), mul(sum(mul(A, A)), sum(mul(A, A))))).toBe(true);
  });

  it("distinguishes wirings that agree factor by factor", () => {
    // Σ A(i,k) A(k,j) (a matrix square) vs Σ A(i,k) A(j,k) (A·Aᵀ).
    const square = dot(rename(A, { j: "k" }), rename(A, { i: "k" }), "k");
    const gram = dot(rename(A, { j: "k" }), rename(A, { i: "j", j: "k" }), "k");
    expect(equal(square, gram)).toBe(false);
    const inputs = inputsFor([square]);
    expect(relativeError(evaluate(square, inputs).data, evaluate(gram, inputs).data)).toBeGreaterThan(1e-3);
  });

  it("rejects what is not an expression", () => {
    expect(() => simplify(3 as unknown as Expr)).toThrow(RicciError);
  });
});
