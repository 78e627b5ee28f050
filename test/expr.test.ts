/**
 * Expression nodes (src/dsl/expr.ts): interning (one node per structure), and `replaceChildren`,
 * which the derivation printer uses to put named placeholders where subexpressions were.
 */
import { describe, expect, it } from "vitest";
import { add, constant, delta, exp, mul, oneHot, rename, scale, softmax, stopGradient, sum, variable } from "../src/dsl/build.js";
import { type Expr, childrenOf, replaceChildren, topologicalOrder, variablesOf } from "../src/dsl/expr.js";

const x = variable("x", { a: 2, b: 3 });
const y = variable("y", { a: 2, b: 3 });
const z = variable("z", { a: 2, b: 3 });
const ids = variable("ids", { t: 4 });
const ids2 = variable("ids2", { t: 4 });

describe("interning", () => {
  it("gives structurally equal expressions the same node, and different ones different nodes", () => {
    expect(variable("x", { a: 2, b: 3 })).toBe(x);
    expect(add(x, y)).toBe(add(x, y));
    expect(add(x, y)).not.toBe(add(x, z));
    expect(constant(0, { a: 2 })).toBe(constant(-0, { a: 2 }));
    expect(constant(1, { a: 2 })).not.toBe(constant(1, { a: 3 }));
    expect(oneHot(ids, { v: 5 })).toBe(oneHot(ids, { v: 5 }));
    expect(oneHot(ids, { v: 5 })).not.toBe(oneHot(ids, { v: 6 }));
    expect(softmax(x, "a")).not.toBe(softmax(x, "b"));
    expect(rename(x, { a: "c" })).toBe(rename(x, { a: "c" }));
    expect(rename(x, { a: "c" })).not.toBe(rename(x, { a: "d" }));
  });
});

describe("replaceChildren", () => {
  /** A node of every kind that has children, with replacements that have the same edges. */
  const withKids: readonly [string, Expr, (e: Expr) => Expr[]][] = [
    ["oneHot", oneHot(ids, { v: 5 }), () => [ids2]],
    ["product", mul(x, y), () => [x, z]],
    ["sum", add(x, scale(y, 2)), (e) => [childrenOf(e)[0], z]],
    ["elementwise", exp(x), () => [y]],
    ["edgeFunction", softmax(x, "a"), () => [y]],
    ["rename", rename(x, { a: "c" }), () => [y]],
    ["stopGradient", stopGradient(x), () => [y]],
  ];

  it.each(withKids)("%s: a new node of the same kind and edges over the new children, everything else kept", (kind, e, kidsFor) => {
    const kids = kidsFor(e);
    const replaced = replaceChildren(e, kids);
    expect(replaced.kind).toBe(kind);
    expect(replaced).not.toBe(e);
    expect(replaced.edges).toEqual(e.edges);
    expect(childrenOf(replaced)).toEqual(kids);
    const { id: _a, ...own } = e as unknown as Record<string, unknown>;
    const { id: _b, ...theirs } = replaced as unknown as Record<string, unknown>;
    for (const key of Object.keys(own)) {
      if (!["index", "factors", "terms", "args", "arg"].includes(key)) expect(theirs[key], `${kind}.${key}`).toEqual(own[key]);
    }
    // Interned like any node: the same replacement gives the same node.
    expect(replaceChildren(e, kids)).toBe(replaced);
  });

  it("the same children give back the node itself; leaves have none and stay", () => {
    const e = add(x, y);
    expect(replaceChildren(e, [...childrenOf(e)])).toBe(e);
    for (const leaf of [x, constant(2, { a: 2 }), delta({ i: 3, j: 3 })]) expect(replaceChildren(leaf, [])).toBe(leaf);
  });

  it("refuses a wrong number of children, or one with other edges", () => {
    const e = mul(x, y);
    const message = "replaceChildren: a replacement must have the edges of the child it replaces";
    expect(() => replaceChildren(e, [x])).toThrow(message);
    expect(() => replaceChildren(e, [x, y, z])).toThrow(message);
    expect(() => replaceChildren(e, [x, variable("w", { a: 2 })])).toThrow(message);
    expect(() => replaceChildren(e, [x, variable("w", { a: 2, c: 3 })])).toThrow(message);
    expect(() => replaceChildren(e, [x, variable("w", { b: 3, a: 2 })])).toThrow(message);
    expect(() => replaceChildren(exp(x), [variable("w", { a: 2, b: 3, c: 1 })])).toThrow(message);
  });
});

describe("traversal", () => {
  it("lists each node once, children before parents, and the variables in first-seen order", () => {
    const shared = exp(x);
    const root = add(mul(shared, y), sum(shared, "a") as Expr);
    const order = topologicalOrder([root]);
    expect(new Set(order.map((n) => n.id)).size).toBe(order.length);
    for (const [i, n] of order.entries()) for (const c of childrenOf(n)) expect(order.indexOf(c)).toBeLessThan(i);
    expect(order.at(-1)).toBe(root);
    expect(variablesOf(root).map((v) => v.name)).toEqual(["x", "y"]);
    expect(variablesOf([y, root]).map((v) => v.name)).toEqual(["y", "x"]);
  });
});
