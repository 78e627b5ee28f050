/**
 * Reverse mode: one backward sweep from a root, returning cotangent *expressions* for every
 * requested variable at once. One rule per node kind pushes a node's cotangent to its children.
 */
import * as b from "../dsl/build.js";
import type { Edge } from "../dsl/edges.js";
import { type Expr, type Variable, topologicalOrder } from "../dsl/expr.js";
import { EDGE_FUNCTIONS } from "../dsl/edgeFunctions.js";
import { ruleOf } from "../dsl/functions.js";
import { dependents, inOrderOf, inverseMapping, reduceTo } from "./shared.js";

/**
 * Cotangents of `wrt` for the vector–Jacobian product seeded with `seed` (edges of `root`).
 * Each result has its variable's edges, in its order.
 */
export function backward(root: Expr, seed: Expr, wrt: readonly Variable[]): Expr[] {
  const live = dependents([root], new Set(wrt));
  const contributions = new Map<number, Expr[]>();
  const send = (to: Expr, ct: Expr): void => {
    if (!live.has(to.id)) return;
    const list = contributions.get(to.id);
    if (list === undefined) contributions.set(to.id, [ct]);
    else list.push(ct);
  };
  const total = new Map<number, Expr>();
  send(root, seed);
  const order = topologicalOrder([root]);
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i];
    const parts = contributions.get(node.id);
    if (parts === undefined) continue;
    const ct = parts.length === 1 ? parts[0] : b.add(...parts);
    total.set(node.id, ct);
    pullback(node, ct, send);
  }
  return wrt.map((v) => inOrderOf(total.get(v.id) ?? b.zeros(v.edges), v.edges));
}

/** Sends the cotangent `ct` of `node` to its children. */
function pullback(node: Expr, ct: Expr, send: (to: Expr, ct: Expr) => void): void {
  switch (node.kind) {
    case "variable":
    case "constant":
    case "delta":
    case "oneHot":
    case "stopGradient":
      return;
    case "rename":
      return send(node.arg, b.renameUnchecked(ct, inverseMapping(node.mapping)));
    case "sum":
      return node.terms.forEach((t, k) => send(t, b.scale(reduceTo(ct, t.edges), node.weights[k])));
    case "product":
      return node.factors.forEach((f, k) => {
        const others = node.factors.filter((_, j) => j !== k);
        send(f, productCotangent(ct, others, f.edges));
      });
    case "elementwise": {
      const rule = ruleOf(node.fn);
      return node.args.forEach((arg, k) => {
        const partial = rule.partial(node, k, b);
        if (partial !== null) send(arg, reduceTo(b.mul(ct, partial), arg.edges));
      });
    }
    case "edgeFunction":
      return send(node.arg, EDGE_FUNCTIONS[node.fn].vjp(node, ct, b));
  }
}

/**
 * The cotangent of one factor of a product: the product of the output cotangent with the
 * other factors, keeping the factor's edges. Edges that only that factor carried (summed
 * away inside the product) come back as a broadcast of ones.
 */
function productCotangent(ct: Expr, others: readonly Expr[], target: readonly Edge[]): Expr {
  const present = [ct, ...others];
  const missing = target.filter((d) => !present.some((f) => f.edges.some((g) => g.name === d.name)));
  const factors = missing.length > 0 ? [...present, b.ones(missing)] : present;
  return b.einsum(factors, target.map((d) => d.name));
}
