/**
 * The public constructors (src/dsl/build.ts) one by one: what each builds, the cheap clean-ups it
 * promises (zeros dropped, scalar constants folded into a weight, redundant all-ones factors
 * dropped, nested sums flattened, renames composed, constant arguments folded), and the message
 * of each refusal. Expressions are built inside the tests, so that mutation testing sees which
 * test runs which line (test/errors.test.ts checks messages name what is wrong, across the API).
 */
import { describe, expect, it } from "vitest";
import {
  type Expr, RicciError, add, clip, constant, delta, div, dot, einsum, evaluate, exp, gather, greater, greaterEqual, less,
  lessEqual, linear, logsumexp, max, maximum, mean, minimum, mul, neg, ones, oneHot, pow, rename, scale, softmax, sqrt,
  square, stopGradient, sub, sum, transpose, variable, where, zeros,
} from "../src/index.js";
import { apply, lift, renameUnchecked } from "../src/dsl/build.js";

const names = (e: Expr): string[] => e.edges.map((d) => `${d.name}:${d.size}`);
const xOf = () => variable("x", { a: 2, b: 3 });
const yOf = () => variable("y", { a: 2, b: 3 });

function kindOf<K extends Expr["kind"]>(e: Expr, kind: K): Extract<Expr, { kind: K }> {
  expect(e.kind).toBe(kind);
  return e as Extract<Expr, { kind: K }>;
}

/** Refusals are RicciErrors with exactly this message. */
function refuses(run: () => unknown, message: string): void {
  expect(run).toThrow(RicciError);
  expect(run).toThrow(message);
}

describe("leaves", () => {
  it("lift: a number is a scalar constant; an expression is itself", () => {
    const c = kindOf(lift(2.5), "constant");
    expect(c.value).toBe(2.5);
    expect(c.edges).toEqual([]);
    const x = xOf();
    expect(lift(x)).toBe(x);
  });

  it("lift refuses what is not an expression, describing it", () => {
    refuses(() => lift(null as never), "expected a ricci expression or a number, got null");
    refuses(() => lift([1, 2] as never), "expected a ricci expression or a number, got an array (wrap values in a variable and pass them to evaluate/compile)");
    refuses(() => lift({ p: 1, q: 2 } as never), "expected a ricci expression or a number, got an object with keys [p, q]");
    refuses(() => lift({ kind: 3 } as never), "expected a ricci expression or a number, got an object with keys [kind]");
    refuses(() => lift("w" as never), "expected a ricci expression or a number, got string w");
    refuses(() => lift(undefined as never), "expected a ricci expression or a number, got undefined undefined");
  });

  it("variable: an identifier name, edges in the order given, one node per name and edges", () => {
    const v = kindOf(variable("W.q'", { in: 4, out: 3 }), "variable");
    expect(v.name).toBe("W.q'");
    expect(names(v)).toEqual(["in:4", "out:3"]);
    expect(variable("W.q'", { in: 4, out: 3 })).toBe(v);
    expect(variable("s").edges).toEqual([]);
    refuses(() => variable("2x"), 'variable name "2x" is not an identifier');
    refuses(() => variable("a b"), 'variable name "a b" is not an identifier');
    refuses(() => variable(""), 'variable name "" is not an identifier');
    refuses(() => variable(7 as never), 'variable name "7" is not an identifier');
    // Not a string, even one that prints as an identifier.
    refuses(() => variable(["x"] as never), 'variable name "x" is not an identifier');
  });

  it("constant, zeros, ones: the value over the edges given (sizes or a list of edges)", () => {
    const c = kindOf(constant(0.5, { t: 5 }), "constant");
    expect([c.value, names(c)]).toEqual([0.5, ["t:5"]]);
    const edges = xOf().edges;
    expect(constant(2, edges).edges).toEqual(edges);
    expect(kindOf(zeros({ i: 2 }), "constant").value).toBe(0);
    expect(kindOf(ones(edges), "constant").value).toBe(1);
    expect(zeros().edges).toEqual([]);
    expect(ones().edges).toEqual([]);
    refuses(() => constant("1" as never), "constant: value must be a number, got string 1");
  });

  it("delta: the copy tensor; over one edge it is a ones vector", () => {
    const d = kindOf(delta({ i: 3, j: 3 }), "delta");
    expect(names(d)).toEqual(["i:3", "j:3"]);
    expect(Array.from(evaluate(d, {}).data)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    const one = kindOf(delta({ i: 4 }), "constant");
    expect([one.value, names(one)]).toEqual([1, ["i:4"]]);
    expect(kindOf(delta(d.edges), "delta")).toBe(d);
    refuses(() => delta({}), "delta: needs at least one edge");
    refuses(() => delta({ i: 3, j: 2 }), "delta: all edges must have the same size, got {i: 3, j: 2}");
    refuses(() => delta({ i: 0 }), 'delta: edge "i" has size 0; sizes are positive integers');
  });

  it("oneHot: the index's edges then the new one", () => {
    const ids = variable("ids", { t: 4 });
    const h = kindOf(oneHot(ids, { vocab: 5 }), "oneHot");
    expect(names(h)).toEqual(["t:4", "vocab:5"]);
    expect(h.index).toBe(ids);
    expect(h.edge).toEqual({ name: "vocab", size: 5 });
    refuses(() => oneHot(ids, {}), "oneHot: give exactly one new edge, got {}");
    refuses(() => oneHot(ids, { v: 5, w: 2 }), "oneHot: give exactly one new edge, got {v: 5, w: 2}");
    refuses(() => oneHot(ids, { t: 5 }), 'oneHot: new edge "t" already exists in the index {t: 4}');
    refuses(() => oneHot(ids, { v: 1.5 }), 'oneHot: edge "v" has size 1.5; sizes are positive integers');
  });

  it("gather: the table's rows picked by the index", () => {
    const table = variable("E", { vocab: 3, d: 2 });
    const ids = variable("ids", { t: 2 });
    const g = gather(table, ids, "vocab");
    expect(names(g)).toEqual(["t:2", "d:2"]);
    const out = evaluate(g, { E: [[1, 2], [3, 4], [5, 6]], ids: [2, 0] });
    expect(Array.from(out.data)).toEqual([5, 6, 1, 2]);
    refuses(() => gather(table, ids, "token"), 'gather: edge "token" is not an edge of the table {vocab: 3, d: 2}');
  });
});

describe("products", () => {
  it("einsum keeps the named edges in the order named and sums the others", () => {
    const x = xOf();
    const w = variable("w", { b: 3, c: 4 });
    const p = kindOf(einsum([x, w], ["c", "a"]), "product");
    expect(names(p)).toEqual(["c:4", "a:2"]);
    expect(p.factors).toEqual([x, w]);
    refuses(() => einsum([x, w], ["a", "a"]), "product: output edges [a, a] repeat a name");
    refuses(() => einsum([x, w], ["z"]), 'product: output edge "z" is not an edge of any factor {a: 2, b: 3} · {b: 3, c: 4}');
    refuses(() => einsum([x, variable("v", { b: 4 })], ["a"]), 'product: edge "b" has size 3 in operand 1 but size 4 in operand 2');
  });

  it("a zero factor makes zeros over the output edges", () => {
    const x = xOf();
    const wider = kindOf(mul(x, zeros({ c: 4 })), "constant");
    expect([wider.value, names(wider)]).toEqual([0, ["a:2", "b:3", "c:4"]]);
    const z = kindOf(mul(x, zeros({ b: 3 })), "constant");
    expect([z.value, names(z)]).toEqual([0, ["a:2", "b:3"]]);
    const s = kindOf(dot(x, 0), "constant");
    expect([s.value, names(s)]).toEqual([0, ["a:2", "b:3"]]);
  });

  it("scalar constants become one weight", () => {
    const x = xOf();
    const s = kindOf(mul(2, x, 3), "sum");
    expect(s.terms).toEqual([x]);
    expect(s.weights).toEqual([6]);
    const c = kindOf(mul(2, 3), "constant");
    expect([c.value, c.edges]).toEqual([6, []]);
    expect(mul(x, 1)).toBe(x);
  });

  it("a constant tensor whose edges other factors carry becomes a weight too; one that adds an edge stays", () => {
    const x = xOf();
    const weighted = kindOf(mul(x, constant(2, { a: 2 })), "sum");
    expect([weighted.terms, weighted.weights]).toEqual([[x], [2]]);
    expect(mul(x, ones({ a: 2, b: 3 }))).toBe(x);
    expect(mul(x, ones({ b: 3 }))).toBe(x);
    // The ones tensor drops, but the edges keep the operands' order.
    const reordered = kindOf(mul(ones({ b: 3 }), x), "product");
    expect([reordered.factors, names(reordered)]).toEqual([[x], ["b:3", "a:2"]]);
    const broadcast = kindOf(mul(x, ones({ c: 4 })), "product");
    expect(names(broadcast)).toEqual(["a:2", "b:3", "c:4"]);
    expect(broadcast.factors).toHaveLength(2);
    const twice = kindOf(mul(x, constant(3, { c: 4 })), "product");
    expect(twice.factors).toHaveLength(2);
    // Partly covered: it stays, for the edge it adds.
    const partly = kindOf(mul(x, constant(2, { a: 2, c: 4 })), "product");
    expect(partly.factors).toEqual([x, constant(2, { a: 2, c: 4 })]);
    // Two ones tensors over the same edge: one covers the other, the last one stays.
    const onlyOnes = kindOf(mul(ones({ c: 2 }), ones({ c: 2 })), "constant");
    expect([onlyOnes.value, names(onlyOnes)]).toEqual([1, ["c:2"]]);
    const product = kindOf(mul(constant(2, { c: 2 }), constant(3, { c: 2 })), "constant");
    expect([product.value, names(product)]).toEqual([6, ["c:2"]]);
  });

  it("one factor in its own edge order is itself; in another order it is a product", () => {
    const x = xOf();
    expect(mul(x)).toBe(x);
    expect(transpose(x, ["a", "b"])).toBe(x);
    const t = kindOf(transpose(x, ["b", "a"]), "product");
    expect([t.factors, names(t)]).toEqual([[x], ["b:3", "a:2"]]);
  });

  it("dot contracts every shared edge, or only those named", () => {
    const x = xOf();
    const y = yOf();
    const all = dot(x, y);
    expect(all.edges).toEqual([]);
    const onlyB = kindOf(dot(x, y, "b"), "product");
    expect(names(onlyB)).toEqual(["a:2"]);
    const w = variable("w", { b: 3, c: 4 });
    expect(names(dot(x, w))).toEqual(["a:2", "c:4"]);
    expect(Array.from(evaluate(dot(x, y, "b"), { x: [[1, 2, 3], [4, 5, 6]], y: [[1, 1, 1], [2, 0, 1]] }).data)).toEqual([6, 14]);
    refuses(() => dot(x, w, "a"), 'dot: cannot contract edge "a": it is not shared by {a: 2, b: 3} and {b: 3, c: 4}');
  });

  it("mul and transpose refuse what they cannot build", () => {
    const x = xOf();
    refuses(() => mul(), "mul: needs at least one operand");
    refuses(() => transpose(x, ["a"]), "transpose: order [a] must list each edge of {a: 2, b: 3} once");
    refuses(() => transpose(x, ["a", "c"]), "transpose: order [a, c] must list each edge of {a: 2, b: 3} once");
  });
});

describe("sums", () => {
  it("linear keeps the weights; zero weights and zero terms drop; scalars gather into one constant", () => {
    const x = xOf();
    const y = yOf();
    const s = kindOf(linear([x, y, 2, zeros({ a: 2 }), 3, y], [2, -1, 1, 5, 1, 0]), "sum");
    expect(s.terms).toEqual([x, y, constant(5)]);
    expect(s.weights).toEqual([2, -1, 1]);
    expect(names(s)).toEqual(["a:2", "b:3"]);
    refuses(() => linear([x, y], [1]), "linear: one weight per term, got 2 terms and 1 weights");
    refuses(() => sub(x, variable("q", { a: 3 })), "sub");
  });

  it("nested sums flatten and repeated terms add their weights", () => {
    const x = xOf();
    const y = yOf();
    const z = variable("z", { a: 2 });
    const s = kindOf(add(add(x, y), sub(z, x), x), "sum");
    expect(s.terms).toEqual([x, y, z]);
    expect(s.weights).toEqual([1, 1, 1]);
    const twice = kindOf(add(x, x), "sum");
    expect([twice.terms, twice.weights]).toEqual([[x], [2]]);
  });

  it("what cancels is zeros over the edges; one term of weight 1 is itself", () => {
    const x = xOf();
    const zero = kindOf(sub(x, x), "constant");
    expect([zero.value, names(zero)]).toEqual([0, ["a:2", "b:3"]]);
    expect(add(x)).toBe(x);
    expect(add(x, 0)).toBe(x);
    expect(sub(add(x, 2), 2)).toBe(x);
    const cancelled = kindOf(add(1, -1), "constant");
    expect([cancelled.value, cancelled.edges]).toEqual([0, []]);
  });

  it("a lone term in another edge order, or with a weight, stays a sum", () => {
    const v = variable("v", { b: 3 });
    const x = xOf();
    const s = kindOf(add(v, zeros({ a: 2 })), "sum");
    expect([s.terms, s.weights, names(s)]).toEqual([[v], [1], ["b:3", "a:2"]]);
    const weighted = kindOf(linear([x], [3]), "sum");
    expect(weighted.weights).toEqual([3]);
  });

  it("a lone constant over all the edges folds its weight", () => {
    const c = kindOf(linear([constant(2, { a: 2 })], [3]), "constant");
    expect([c.value, names(c)]).toEqual([6, ["a:2"]]);
    const wider = kindOf(add(constant(2, { a: 2 }), zeros({ b: 3 })), "sum");
    expect(names(wider)).toEqual(["a:2", "b:3"]);
    const scalarOnly = kindOf(add(2, 3), "constant");
    expect([scalarOnly.value, scalarOnly.edges]).toEqual([5, []]);
  });

  it("scale folds into constants and refuses a factor that is not a number; neg is scale by −1", () => {
    const x = xOf();
    const c = kindOf(scale(constant(2, { a: 2 }), 3), "constant");
    expect([c.value, names(c)]).toEqual([6, ["a:2"]]);
    expect(kindOf(scale(x, 2), "sum").weights).toEqual([2]);
    expect(kindOf(neg(x), "sum").weights).toEqual([-1]);
    expect(kindOf(scale(4, 0.5), "constant").value).toBe(2);
    refuses(() => scale(x, "2" as never), "scale: the factor must be a number, got string 2");
  });

  it("sum over named edges (a name or a list), or all of them; mean divides by their volume", () => {
    const x = xOf();
    expect(sum(x).edges).toEqual([]);
    expect(names(sum(x, "a"))).toEqual(["b:3"]);
    expect(names(sum(x, ["b"]))).toEqual(["a:2"]);
    expect(sum(x, [])).toBe(x);
    const data = { x: [[1, 2, 3], [4, 5, 6]] };
    expect(Array.from(evaluate(mean(x, "b"), data).data)).toEqual([2, 5]);
    expect(Array.from(evaluate(mean(x), data).data)).toEqual([3.5]);
    expect(kindOf(mean(x, ["a", "b"]), "sum").weights).toEqual([1 / 6]);
    refuses(() => sum(x, "c"), 'sum: edge "c" is not an edge of {a: 2, b: 3}');
    refuses(() => mean(x, ["a", "c"]), 'mean: edge "c" is not an edge of {a: 2, b: 3}');
  });
});

describe("renaming", () => {
  it("relabels edges, keeping sizes and order; an empty or identity mapping is the expression itself", () => {
    const x = xOf();
    const r = kindOf(rename(x, { a: "i" }), "rename");
    expect(names(r)).toEqual(["i:2", "b:3"]);
    expect(r.arg).toBe(x);
    expect(r.mapping).toEqual([["a", "i"]]);
    expect(rename(x, {})).toBe(x);
    expect(rename(x, { a: "a" })).toBe(x);
  });

  it("swaps edges and lists the mapping sorted", () => {
    const x = xOf();
    const r = kindOf(rename(x, { b: "a", a: "b" }), "rename");
    expect(names(r)).toEqual(["b:2", "a:3"]);
    expect(r.mapping).toEqual([["a", "b"], ["b", "a"]]);
  });

  it("composes with an inner rename, and undoing one gives back the expression", () => {
    const x = xOf();
    const twice = kindOf(rename(rename(x, { a: "c" }), { c: "d", b: "e" }), "rename");
    expect(twice.arg).toBe(x);
    expect(twice.mapping).toEqual([["a", "d"], ["b", "e"]]);
    expect(rename(rename(x, { a: "c" }), { c: "a" })).toBe(x);
    const partial = kindOf(rename(rename(x, { a: "c", b: "e" }), { c: "a" }), "rename");
    expect(partial.mapping).toEqual([["b", "e"]]);
  });

  it("a renamed constant is a constant over the new edges", () => {
    const c = kindOf(rename(constant(2, { a: 2, b: 3 }), { a: "z" }), "constant");
    expect([c.value, names(c)]).toEqual([2, ["z:2", "b:3"]]);
  });

  it("renameUnchecked ignores edges the expression lacks", () => {
    const x = xOf();
    expect(renameUnchecked(x, new Map([["q", "r"]]))).toBe(x);
    expect(names(renameUnchecked(x, new Map([["q", "r"], ["a", "s"]])))).toEqual(["s:2", "b:3"]);
  });

  it("refuses a missing edge, a bad name, two edges onto one and an existing edge", () => {
    const x = xOf();
    refuses(() => rename(x, { c: "d" }), 'rename: edge "c" is not an edge of {a: 2, b: 3}');
    refuses(() => rename(x, { a: "1x" }), "rename");
    refuses(() => rename(x, { a: "c", b: "c" }), 'rename: two edges renamed onto the same name in {"a":"c","b":"c"}');
    refuses(() => rename(x, { a: "b" }), 'rename: cannot rename onto "b": it is already an edge of {a: 2, b: 3}');
  });
});

describe("elementwise functions", () => {
  it("on constants they fold to a constant over the union of edges", () => {
    const e = kindOf(exp(0), "constant");
    expect([e.value, e.edges]).toEqual([1, []]);
    const m = kindOf(minimum(constant(2, { a: 2 }), constant(3, { b: 3 })), "constant");
    expect([m.value, names(m)]).toEqual([2, ["a:2", "b:3"]]);
    expect(kindOf(maximum(2, 3), "constant").value).toBe(3);
    expect(kindOf(pow(4, 0.5), "constant").value).toBe(2);
    expect(kindOf(sqrt(constant(9, { a: 2 })), "constant").value).toBe(3);
  });

  it("otherwise an elementwise node with its function, arguments and parameter", () => {
    const x = xOf();
    const y = yOf();
    const e = kindOf(exp(x), "elementwise");
    expect([e.fn, e.args, e.param]).toEqual(["exp", [x], null]);
    const p = kindOf(pow(x, 0.5), "elementwise");
    expect([p.fn, p.param]).toEqual(["pow", 0.5]);
    expect(sqrt(x)).toBe(p);
    expect(kindOf(square(x), "elementwise").param).toBe(2);
    const d = kindOf(div(x, y), "product");
    expect(d.factors).toEqual([x, pow(y, -1)]);
  });

  it("pow by 1 is the base, by 0 ones over its edges; a non-finite exponent is refused", () => {
    const x = xOf();
    expect(pow(x, 1)).toBe(x);
    const one = kindOf(pow(x, 0), "constant");
    expect([one.value, names(one)]).toEqual([1, ["a:2", "b:3"]]);
    expect(kindOf(pow(3, 1), "constant").value).toBe(3);
    refuses(() => pow(x, Number.NaN), "pow: the exponent must be a finite number, got number NaN");
    refuses(() => pow(x, Number.POSITIVE_INFINITY), "pow: the exponent must be a finite number, got number Infinity");
  });

  it("less and lessEqual are greater and greaterEqual with the arguments swapped", () => {
    const x = xOf();
    const y = yOf();
    expect(less(x, y)).toBe(greater(y, x));
    expect(lessEqual(x, y)).toBe(greaterEqual(y, x));
    const data = { x: [[1, 2, 3], [4, 5, 6]], y: [[2, 2, 2], [2, 2, 2]] };
    expect(Array.from(evaluate(less(x, y), data).data)).toEqual([1, 0, 0, 0, 0, 0]);
    expect(Array.from(evaluate(lessEqual(x, y), data).data)).toEqual([1, 1, 0, 0, 0, 0]);
  });

  it("clip clamps, and refuses constant bounds in the wrong order", () => {
    const x = xOf();
    expect(clip(x, 2, 5)).toBe(minimum(maximum(x, 2), 5));
    expect(Array.from(evaluate(clip(x, 2, 5), { x: [[1, 2, 3], [4, 5, 6]] }).data)).toEqual([2, 2, 3, 4, 5, 5]);
    expect(clip(x, 3, 3).edges).toEqual(x.edges);
    refuses(() => clip(x, 5, 2), "clip: lower bound 5 exceeds upper bound 2");
    // Bounds are compared only when both are constants.
    expect(() => clip(x, variable("lo"), 2)).not.toThrow();
    expect(() => clip(x, 5, variable("hi"))).not.toThrow();
  });

  it("where picks a where the mask is 1, b where it is 0; edges must agree in size", () => {
    const x = xOf();
    const y = yOf();
    const mask = variable("m", { a: 2 });
    const out = evaluate(where(mask, x, y), { m: [1, 0], x: [[1, 2, 3], [4, 5, 6]], y: [[7, 8, 9], [10, 11, 12]] });
    expect(Array.from(out.data)).toEqual([1, 2, 3, 10, 11, 12]);
    refuses(() => where(variable("m3", { a: 3 }), x, y), "where");
  });
});

describe("edge functions", () => {
  it("softmax keeps the edge; logsumexp and max remove it", () => {
    const x = xOf();
    const s = kindOf(softmax(x, "b"), "edgeFunction");
    expect([s.fn, s.edge, s.arg, names(s)]).toEqual(["softmax", "b", x, ["a:2", "b:3"]]);
    expect(names(logsumexp(x, "b"))).toEqual(["a:2"]);
    expect(names(max(x, "a"))).toEqual(["b:3"]);
  });

  it("refuse an edge that is not named or not there", () => {
    const x = xOf();
    refuses(() => softmax(x, undefined as never), 'softmax: name the edge to act along, e.g. softmax(logits, "vocab")');
    refuses(() => logsumexp(x, "c"), 'logsumexp: edge "c" is not an edge of {a: 2, b: 3}');
  });
});

describe("stopGradient", () => {
  it("wraps an expression once; constants and deltas are left as they are", () => {
    const x = xOf();
    const s = kindOf(stopGradient(x), "stopGradient");
    expect(s.arg).toBe(x);
    expect(stopGradient(s)).toBe(s);
    const c = constant(2);
    expect(stopGradient(c)).toBe(c);
    const d = delta({ i: 2, j: 2 });
    expect(stopGradient(d)).toBe(d);
    expect(kindOf(stopGradient(3), "constant").value).toBe(3);
  });
});

describe("apply", () => {
  it("refuses the wrong number of arguments", () => {
    refuses(() => apply("minimum", [xOf()]), "minimum: expects 2 argument(s), got 1");
    refuses(() => apply("exp", [xOf(), yOf()]), "exp: expects 1 argument(s), got 2");
  });
});
