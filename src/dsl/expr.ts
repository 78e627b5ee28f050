/**
 * What an expression is: a small set of immutable, interned node kinds.
 *
 * Edges are named. A `product` is an einsum: every edge of a factor that is not among the
 * product's own edges is summed over (a wire between boxes of the diagram); an edge that
 * appears in several factors and in the output is shared elementwise. Operations on
 * expressions (autodiff, simplify, printing, lowering) live in their own modules, each with
 * one rule per kind below.
 */
import type { Edge } from "./edges.js";

export type EdgeFunctionName = "softmax" | "logSoftmax" | "logsumexp" | "max";

interface Node {
  /** Unique per interned node: equal ids ⇔ the same node. */
  readonly id: number;
  /** Free edges, in this expression's order (the axis order of its value). */
  readonly edges: readonly Edge[];
}

/** A named input tensor; values are given in the order of its declared edges. */
export interface Variable extends Node {
  readonly kind: "variable";
  readonly name: string;
}

/** A tensor filled with one value (`constant(0, {t: 5})` is a zero tensor). */
export interface Constant extends Node {
  readonly kind: "constant";
  readonly value: number;
}

/** The copy tensor: 1 where all its indices are equal, else 0 (the identity for two edges). */
export interface Delta extends Node {
  readonly kind: "delta";
}

/** One-hot encoding of an integer-valued tensor along a new edge; not differentiable in `index`. */
export interface OneHot extends Node {
  readonly kind: "oneHot";
  readonly index: Expr;
  readonly edge: Edge;
}

/** Einsum of factors: edges of factors that are not in `edges` are summed over. */
export interface Product extends Node {
  readonly kind: "product";
  readonly factors: readonly Expr[];
}

/** Weighted sum; a term lacking some of the sum's edges is broadcast along them. */
export interface Sum extends Node {
  readonly kind: "sum";
  readonly terms: readonly Expr[];
  readonly weights: readonly number[];
}

/** An elementwise function of one or two arguments, broadcast by edge name. */
export interface Elementwise extends Node {
  readonly kind: "elementwise";
  readonly fn: string;
  /** A numeric parameter (the exponent of `pow`), or null. */
  readonly param: number | null;
  readonly args: readonly Expr[];
}

/** A function along one named edge: softmax/logSoftmax keep it, logsumexp/max remove it. */
export interface EdgeFunction extends Node {
  readonly kind: "edgeFunction";
  readonly fn: EdgeFunctionName;
  readonly edge: string;
  readonly arg: Expr;
}

/** Relabels edges; `mapping` is sorted by source name. */
export interface Rename extends Node {
  readonly kind: "rename";
  readonly arg: Expr;
  readonly mapping: readonly (readonly [from: string, to: string])[];
}

/** The value of `arg`, with zero derivative. */
export interface StopGradient extends Node {
  readonly kind: "stopGradient";
  readonly arg: Expr;
}

export type Expr =
  | Variable
  | Constant
  | Delta
  | OneHot
  | Product
  | Sum
  | Elementwise
  | EdgeFunction
  | Rename
  | StopGradient;

export type Kind = Expr["kind"];

// ---------------------------------------------------------------------------------------------
// Interning: building the same node twice returns the same object, so structural sharing and
// common-subexpression reuse come for free, and `a === b` is structural identity.

type Fields<E extends Expr> = E extends Expr ? Omit<E, "id"> : never;
type OfKind<K extends Kind> = Extract<Expr, { kind: K }>;

const table = new Map<string, Expr>();
let nextId = 1;

function edgesKey(edges: readonly Edge[]): string {
  return edges.map((e) => `${e.name}:${e.size}`).join(",");
}

function keyOf(fields: Fields<Expr>): string {
  const e = edgesKey(fields.edges);
  switch (fields.kind) {
    case "variable":
      return `v|${fields.name}|${e}`;
    case "constant":
      return `c|${Object.is(fields.value, -0) ? 0 : fields.value}|${e}`;
    case "delta":
      return `d|${e}`;
    case "oneHot":
      return `o|${fields.index.id}|${fields.edge.name}:${fields.edge.size}|${e}`;
    case "product":
      return `p|${fields.factors.map((f) => f.id).join(",")}|${e}`;
    case "sum":
      return `s|${fields.terms.map((t, i) => `${fields.weights[i]}*${t.id}`).join(",")}|${e}`;
    case "elementwise":
      return `f|${fields.fn}|${fields.param}|${fields.args.map((a) => a.id).join(",")}|${e}`;
    case "edgeFunction":
      return `g|${fields.fn}|${fields.edge}|${fields.arg.id}|${e}`;
    case "rename":
      return `r|${fields.arg.id}|${fields.mapping.map(([a, b]) => `${a}>${b}`).join(",")}|${e}`;
    case "stopGradient":
      return `x|${fields.arg.id}|${e}`;
  }
}

/** Returns the unique node with these fields (callers validate before interning). */
export function intern<K extends Kind>(fields: Fields<OfKind<K>>): OfKind<K> {
  const key = keyOf(fields as Fields<Expr>);
  const found = table.get(key);
  if (found !== undefined) return found as OfKind<K>;
  const node = Object.freeze({ ...fields, edges: Object.freeze([...fields.edges]), id: nextId++ }) as unknown as OfKind<K>;
  table.set(key, node);
  return node;
}

/** Number of interned nodes (for diagnostics and benchmarks). */
export function internedCount(): number {
  return table.size;
}

/** Direct children of a node, in a fixed order. */
export function childrenOf(e: Expr): readonly Expr[] {
  switch (e.kind) {
    case "variable":
    case "constant":
    case "delta":
      return [];
    case "oneHot":
      return [e.index];
    case "product":
      return e.factors;
    case "sum":
      return e.terms;
    case "elementwise":
      return e.args;
    case "edgeFunction":
    case "rename":
    case "stopGradient":
      return [e.arg];
  }
}

/**
 * `e` with its children replaced by nodes that have the same edges (so `e`'s own edges stay
 * valid): how printers put a named placeholder where a subexpression was.
 */
export function replaceChildren(e: Expr, kids: readonly Expr[]): Expr {
  const old = childrenOf(e);
  if (kids.length !== old.length || kids.some((k, i) => k.edges.length !== old[i].edges.length || k.edges.some((d, j) => d.name !== old[i].edges[j].name))) {
    throw new Error("replaceChildren: a replacement must have the edges of the child it replaces");
  }
  if (kids.every((k, i) => k === old[i])) return e;
  switch (e.kind) {
    case "variable":
    case "constant":
    case "delta":
      return e;
    case "oneHot":
      return intern({ kind: "oneHot", index: kids[0], edge: e.edge, edges: e.edges });
    case "product":
      return intern({ kind: "product", factors: kids, edges: e.edges });
    case "sum":
      return intern({ kind: "sum", terms: kids, weights: e.weights, edges: e.edges });
    case "elementwise":
      return intern({ kind: "elementwise", fn: e.fn, param: e.param, args: kids, edges: e.edges });
    case "edgeFunction":
      return intern({ kind: "edgeFunction", fn: e.fn, edge: e.edge, arg: kids[0], edges: e.edges });
    case "rename":
      return intern({ kind: "rename", arg: kids[0], mapping: e.mapping, edges: e.edges });
    case "stopGradient":
      return intern({ kind: "stopGradient", arg: kids[0], edges: e.edges });
  }
}

/** Nodes reachable from `roots`, children before parents (no recursion: deep graphs are fine). */
export function topologicalOrder(roots: readonly Expr[]): Expr[] {
  const order: Expr[] = [];
  const done = new Set<number>();
  const stack: { node: Expr; expanded: boolean }[] = roots.map((node) => ({ node, expanded: false })).reverse();
  while (stack.length > 0) {
    const top = stack.pop()!;
    if (done.has(top.node.id)) continue;
    if (top.expanded) {
      done.add(top.node.id);
      order.push(top.node);
      continue;
    }
    stack.push({ node: top.node, expanded: true });
    const kids = childrenOf(top.node);
    for (let i = kids.length - 1; i >= 0; i--) if (!done.has(kids[i].id)) stack.push({ node: kids[i], expanded: false });
  }
  return order;
}

/** The variables an expression depends on, by name, in first-seen order. */
export function variablesOf(roots: Expr | readonly Expr[]): Variable[] {
  const list = Array.isArray(roots) ? (roots as readonly Expr[]) : [roots as Expr];
  return topologicalOrder(list).filter((n): n is Variable => n.kind === "variable");
}
