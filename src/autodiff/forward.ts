/**
 * Forward mode: tangent expressions pushed from variables to a root, one rule per node kind.
 * Used for `jvp` and, over a reverse-mode gradient, for Hessian–vector products.
 */
import * as b from "../dsl/build.js";
import { type Expr, type Variable, topologicalOrder } from "../dsl/expr.js";
import { EDGE_FUNCTIONS } from "../dsl/edgeFunctions.js";
import { ruleOf } from "../dsl/functions.js";
import { broadcastTo, dependents } from "./shared.js";

/** The directional derivative of `root` along `tangents` (one per variable, with its edges). */
export function forward(root: Expr, tangents: ReadonlyMap<Variable, Expr>): Expr {
  const live = dependents([root], new Set(tangents.keys()));
  const tangent = new Map<number, Expr>();
  const t = (x: Expr): Expr | null => (live.has(x.id) ? tangent.get(x.id)! : null);
  for (const node of topologicalOrder([root])) {
    if (!live.has(node.id)) continue;
    tangent.set(node.id, broadcastTo(pushforward(node, t, tangents), node.edges));
  }
  return live.has(root.id) ? tangent.get(root.id)! : b.zeros(root.edges);
}

function pushforward(node: Expr, t: (x: Expr) => Expr | null, tangents: ReadonlyMap<Variable, Expr>): Expr {
  const zero = b.zeros(node.edges);
  const sumOf = (parts: (Expr | null)[]): Expr => {
    const kept = parts.filter((p): p is Expr => p !== null);
    return kept.length === 0 ? zero : b.add(...kept);
  };
  switch (node.kind) {
    case "variable":
      return tangents.get(node) ?? zero;
    case "constant":
    case "delta":
    case "oneHot":
    case "stopGradient":
      return zero;
    case "rename":
      return b.renameUnchecked(t(node.arg) ?? b.zeros(node.arg.edges), new Map(node.mapping));
    case "sum":
      return sumOf(node.terms.map((term, k) => {
        const dt = t(term);
        return dt === null ? null : b.scale(dt, node.weights[k]);
      }));
    case "product": {
      const names = node.edges.map((d) => d.name);
      return sumOf(node.factors.map((f, k) => {
        const df = t(f);
        return df === null ? null : b.einsum(node.factors.map((g, j) => (j === k ? df : g)), names);
      }));
    }
    case "elementwise": {
      const rule = ruleOf(node.fn);
      return sumOf(node.args.map((arg, k) => {
        const da = t(arg);
        const partial = da === null ? null : rule.partial(node, k, b);
        return da === null || partial === null ? null : b.mul(partial, da);
      }));
    }
    case "edgeFunction":
      return EDGE_FUNCTIONS[node.fn].jvp(node, t(node.arg)!, b);
  }
}
