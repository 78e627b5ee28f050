/**
 * Small helpers shared by the printers: how numbers read, and how printers walk a DAG
 * without recursion (gradients of deep models nest thousands of nodes).
 */
import { type Expr, topologicalOrder } from "../dsl/expr.js";

/**
 * A short, exact-enough form of a number: `0.125`, `1/3`, `1e-8`, `-2`.
 * Reciprocals of integers (the weights of `mean`) read as fractions when their decimals are long.
 */
export function formatNumber(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "Inf" : "-Inf";
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x);
  const sign = x < 0 ? "-" : "";
  const a = Math.abs(x);
  const reciprocal = 1 / a;
  const plain = String(a);
  if (plain.length > 6 && a < 1 && Math.abs(reciprocal - Math.round(reciprocal)) < 1e-9 * reciprocal) {
    return `${sign}1/${Math.round(reciprocal)}`;
  }
  if (a < 1e-4 || a >= 1e6) return `${sign}${Number(a.toPrecision(4)).toExponential()}`;
  return `${sign}${Number(a.toPrecision(4))}`;
}

/**
 * Maps every node reachable from `root` to a printed value, children first, each node once
 * (so shared subexpressions cost one visit): the iterative skeleton of every printer.
 */
export function foldDag<T>(root: Expr, visit: (node: Expr, child: (c: Expr) => T) => T): T {
  const done = new Map<number, T>();
  const child = (c: Expr): T => {
    const value = done.get(c.id);
    if (value === undefined) throw new Error(`printer: child ${c.id} visited before its parent`);
    return value;
  };
  for (const node of topologicalOrder([root])) done.set(node.id, visit(node, child));
  return done.get(root.id)!;
}

/** The edges a product sums over: factor edges that are not among the product's own edges. */
export function contractedEdges(factors: readonly Expr[], kept: readonly { name: string }[]): string[] {
  const names: string[] = [];
  for (const f of factors) {
    for (const e of f.edges) if (!kept.some((k) => k.name === e.name) && !names.includes(e.name)) names.push(e.name);
  }
  return names;
}
