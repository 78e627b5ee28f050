/** Small helpers shared by the forward and reverse rules. */
import * as b from "../dsl/build.js";
import { type Edge, hasEdge } from "../dsl/edges.js";
import { type Expr, type Variable, topologicalOrder } from "../dsl/expr.js";

/** Sums `e` over its edges that `target` lacks (undoes broadcasting). */
export function reduceTo(e: Expr, target: readonly Edge[]): Expr {
  const extra = e.edges.filter((d) => !hasEdge(target, d.name)).map((d) => d.name);
  return extra.length === 0 ? e : b.sum(e, extra);
}

/** `e` laid out in the order of `edges` (same edge set). */
export function inOrderOf(e: Expr, edges: readonly Edge[]): Expr {
  return b.einsum([e], edges.map((d) => d.name));
}

/**
 * Ids of the nodes (reachable from `roots`) whose value depends on one of `wrt`; derivatives
 * flow only through these. stopGradient and oneHot's index block the flow.
 */
export function dependents(roots: readonly Expr[], wrt: ReadonlySet<Variable>): Set<number> {
  const live = new Set<number>();
  for (const node of topologicalOrder(roots)) {
    switch (node.kind) {
      case "variable":
        if (wrt.has(node)) live.add(node.id);
        break;
      case "constant":
      case "delta":
      case "oneHot":
      case "stopGradient":
        break;
      case "product":
        if (node.factors.some((f) => live.has(f.id))) live.add(node.id);
        break;
      case "sum":
        if (node.terms.some((t) => live.has(t.id))) live.add(node.id);
        break;
      case "elementwise":
        if (node.args.some((a) => live.has(a.id))) live.add(node.id);
        break;
      case "edgeFunction":
      case "rename":
        if (live.has(node.arg.id)) live.add(node.id);
        break;
    }
  }
  return live;
}

/** The inverse of a rename's mapping. */
export function inverseMapping(mapping: readonly (readonly [string, string])[]): Map<string, string> {
  return new Map(mapping.map(([from, to]) => [to, from]));
}

/** `e` broadcast (by multiplying with ones) to carry every edge of `target`. */
export function broadcastTo(e: Expr, target: readonly Edge[]): Expr {
  const missing = target.filter((d) => !hasEdge(e.edges, d.name));
  return missing.length === 0 ? e : b.mul(e, b.ones(missing));
}
