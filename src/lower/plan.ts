/**
 * One lowering rule per node kind, for any lowering target: the step that computes a node's
 * value from its children's. Constants and values that lack some of a node's edges stay
 * unbroadcast (lazy) until an operation needs them whole.
 */
import type { Edge } from "../dsl/edges.js";
import type { Expr, Product, Sum } from "../dsl/expr.js";
import { contractAll } from "./contract.js";
import { EDGE_FUNCTIONS } from "../dsl/edgeFunctions.js";
import { ruleOf } from "../dsl/functions.js";
import { type Named, alignTo, arrange, names } from "./layout.js";
import type { TensorOps } from "./ops.js";

type Get<T> = (e: Expr) => Named<T>;
type Rules = { [K in Exclude<Expr["kind"], "variable">]: <T>(ops: TensorOps<T>, node: Extract<Expr, { kind: K }>, get: Get<T>) => Named<T> };

/** The value of a non-variable `node` from its children's values. */
export function lowerNode<T>(ops: TensorOps<T>, node: Exclude<Expr, { kind: "variable" }>, get: Get<T>): Named<T> {
  return (rules[node.kind] as <U>(ops: TensorOps<U>, node: Expr, get: Get<U>) => Named<U>)(ops, node, get);
}

/** A value with every edge of `edges` present (constants are kept as scalars until needed). */
export function materialize<T>(ops: TensorOps<T>, v: Named<T>, edges: readonly Edge[]): Named<T> {
  if (v.edges.length === edges.length) return v;
  return { tensor: ops.broadcastTo(alignTo(ops, v, edges), edges.map((e) => e.size)), edges };
}

/** `v` laid out as the expression `root` promises its callers: every edge, in root's order. */
export function asOutput<T>(ops: TensorOps<T>, v: Named<T>, root: Expr): T {
  return arrange(ops, materialize(ops, { tensor: v.tensor, edges: v.edges }, root.edges), names(root.edges));
}

/** Edges of `node` that the present values carry, in the order of the largest of them. */
function presentEdges<T>(node: Expr, values: readonly Named<T>[]): Edge[] {
  const base = [...values].sort((a, b) => b.edges.length - a.edges.length)[0]?.edges ?? [];
  const present = node.edges.filter((e) => values.some((v) => v.edges.some((d) => d.name === e.name)));
  return [...base, ...present.filter((e) => !base.some((d) => d.name === e.name))];
}

function deltaValues(edges: readonly Edge[]): Float32Array {
  const n = edges[0].size;
  const data = new Float32Array(edges.reduce((k, e) => k * e.size, 1));
  let stride = 0;
  for (let k = 0, s = 1; k < edges.length; k++, s *= n) stride += s;
  for (let i = 0; i < n; i++) data[i * stride] = 1;
  return data;
}

const rules: Rules = {
  constant: (ops, node) => ({ tensor: ops.scalar(node.value), edges: [] }),
  delta: (ops, node) => ({ tensor: ops.constant(deltaValues(node.edges), node.edges.map((e) => e.size)), edges: node.edges }),
  oneHot: (ops, node, get) => {
    const index = materialize(ops, get(node.index), node.index.edges);
    return { tensor: ops.oneHot(index.tensor, node.edge.size), edges: [...index.edges, node.edge] };
  },
  product: <T>(ops: TensorOps<T>, node: Product, get: Get<T>): Named<T> => {
    // Constants and values broadcast lazily (missing some of their edges) act like ones along
    // the missing edges: where no operand carries such an edge, summing it away multiplies by
    // its size and keeping it leaves the result broadcast (lazily) along it.
    let coefficient = 1;
    const operands: Named<T>[] = [];
    for (const f of node.factors) {
      if (f.kind === "constant") coefficient *= f.value;
      else operands.push(get(f));
    }
    const carried = (name: string): boolean => operands.some((o) => o.edges.some((e) => e.name === name));
    const declared = new Map(node.factors.flatMap((f) => f.edges.map((e) => [e.name, e.size] as const)));
    for (const [name, size] of declared) if (!carried(name) && !node.edges.some((d) => d.name === name)) coefficient *= size;
    if (operands.length === 0) return { tensor: ops.scalar(coefficient), edges: [] };
    const out = names(node.edges).filter(carried);
    const result = contractAll(ops, operands, out);
    return coefficient === 1 ? result : { tensor: ops.binary("mul", result.tensor, ops.scalar(coefficient)), edges: result.edges };
  },
  sum: <T>(ops: TensorOps<T>, node: Sum, get: Get<T>): Named<T> => {
    const terms = node.terms.map(get);
    const target = presentEdges(node, terms);
    const scaled = terms.map((t, k) => {
      const aligned = alignTo(ops, t, target);
      const w = node.weights[k];
      return w === 1 ? aligned : ops.binary("mul", aligned, ops.scalar(w));
    });
    return { tensor: scaled.reduce((acc, t) => ops.binary("add", acc, t)), edges: target };
  },
  elementwise: (ops, node, get) => {
    const args = node.args.map(get);
    const target = presentEdges(node, args);
    return { tensor: ruleOf(node.fn).kernel(ops, args.map((a) => alignTo(ops, a, target)), node.param), edges: target };
  },
  edgeFunction: (ops, node, get) => {
    const x = materialize(ops, get(node.arg), node.arg.edges);
    const axis = names(x.edges).indexOf(node.edge);
    const without = x.edges.filter((e) => e.name !== node.edge);
    const rule = EDGE_FUNCTIONS[node.fn];
    if (!rule.keepsEdge) return { tensor: rule.kernel(ops, x.tensor, axis), edges: without };
    // A function that keeps the edge normalises along the last axis (tfjs's only choice): move the edge there.
    const edges = [...without, x.edges[axis]];
    return { tensor: rule.kernel(ops, arrange(ops, x, names(edges)), edges.length - 1), edges };
  },
  rename: (_ops, node, get) => {
    const v = get(node.arg);
    const map = new Map(node.mapping);
    return { tensor: v.tensor, edges: v.edges.map((e) => ({ name: map.get(e.name) ?? e.name, size: e.size })) };
  },
  stopGradient: (_ops, node, get) => get(node.arg),
};
