/**
 * Renames stay wrappers: a rename sits directly above a variable or above a canonical core and
 * is never pushed into the core, so renaming never copies a shared subgraph (in a GPT, keys are
 * the residual stream renamed seq → kseq in every layer: pushing that rename down would copy the
 * whole stream per layer). To give a node new free names, `renameOneLevel` rebuilds just that
 * node with renamed children (wrappers compose), avoiding capture of names bound inside it.
 */
import * as b from "../dsl/build.js";
import { type EdgeFunction, type Expr, type Product, type Rename, intern } from "../dsl/expr.js";
import { namesOf } from "./names.js";
import { type RewriteContext, edgeFunctionBuilders, innerNames, makeSum, reducesEdge, renamedEdges, scopeNames } from "./nodes.js";

type Mapping = ReadonlyMap<string, string>;

const rename = (e: Expr, mapping: Mapping): Expr => b.renameUnchecked(e, mapping);

/** A product with output edges renamed; inner names that would be captured move aside first. */
function renameProductOutputs(p: Product, mapping: Mapping, ctx: RewriteContext): Expr {
  const targets = new Set(mapping.values());
  const taken = new Set([...scopeNames(p), ...targets]);
  const full = new Map(mapping);
  for (const name of innerNames(p)) {
    if (!targets.has(name)) continue;
    const fresh = ctx.names.fresh(taken);
    taken.add(fresh);
    full.set(name, fresh);
  }
  return b.einsum(p.factors.map((f) => rename(f, full)), namesOf(p.edges).map((n) => mapping.get(n) ?? n));
}

/** An edge function with free edges renamed; a removed edge is bound inside, so it moves aside if it would be captured. */
function renameEdgeFunctionEdges(g: EdgeFunction, mapping: Mapping, ctx: RewriteContext): Expr {
  const build = edgeFunctionBuilders[g.fn];
  if (!reducesEdge(g.fn)) return build(rename(g.arg, mapping), mapping.get(g.edge) ?? g.edge);
  const targets = new Set(mapping.values());
  const full = new Map(mapping);
  let bound = g.edge;
  if (targets.has(bound)) {
    bound = ctx.names.fresh(new Set([...targets, ...namesOf(g.arg.edges)]));
    full.set(g.edge, bound);
  }
  return build(rename(g.arg, full), bound);
}

/** `node` with its free edges renamed by `mapping`, rebuilding only this node (its children get rename wrappers). */
export function renameOneLevel(node: Expr, mapping: Mapping, ctx: RewriteContext): Expr {
  switch (node.kind) {
    case "variable":
    case "constant":
    case "delta":
    case "rename":
      return rename(node, mapping);
    case "oneHot": {
      // Interned directly: the new edge may get a reserved `#` name, which the public builder refuses.
      const index = rename(node.index, mapping);
      const edge = { name: mapping.get(node.edge.name) ?? node.edge.name, size: node.edge.size };
      return intern({ kind: "oneHot", index, edge, edges: [...index.edges, edge] });
    }
    case "product":
      return renameProductOutputs(node, mapping, ctx);
    case "sum":
      return makeSum(node.terms.map((t) => rename(t, mapping)), node.weights, renamedEdges(node.edges, mapping));
    case "elementwise":
      return b.apply(node.fn, node.args.map((a) => rename(a, mapping)), node.param);
    case "edgeFunction":
      return renameEdgeFunctionEdges(node, mapping, ctx);
    case "stopGradient":
      return b.stopGradient(rename(node.arg, mapping));
  }
}

/** A rename that maps every edge to itself is its argument. Terminates: removes a node. */
export function removeIdentityRename(r: Rename): Expr | null {
  return r.mapping.every(([from, to]) => from === to) ? r.arg : null;
}

/** A renamed delta is a delta on the new names (a leaf, nothing to share). Terminates: removes a node. */
export function renameDelta(r: Rename): Expr | null {
  return r.arg.kind === "delta" ? b.delta(renamedEdges(r.arg.edges, new Map(r.mapping))) : null;
}
