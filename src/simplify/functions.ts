/**
 * Rewrite rules for elementwise and edge functions: constant folding, inverse pairs, and the
 * rewrites that make losses numerically stable (`log σ(x)` → `−softplus(−x)`, `log softmax` →
 * `logSoftmax`).
 */
import * as b from "../dsl/build.js";
import { EDGE_FUNCTIONS } from "../dsl/edgeFunctions.js";
import { intern, type EdgeFunction, type Elementwise, type Expr } from "../dsl/expr.js";
import { firstInnerName, inCanonicalOrder, namesOf, sortEdges } from "./names.js";
import { edgeFunctionBuilders, peel, reducesEdge } from "./nodes.js";
import { provenanceOf } from "./provenance.js";

const isCall = (e: Expr, fn: string): e is Elementwise => e.kind === "elementwise" && e.fn === fn;
const isEdgeCall = (e: Expr, fn: EdgeFunction["fn"]): e is EdgeFunction => e.kind === "edgeFunction" && e.fn === fn;

/** f(constants) is a constant. Terminates: the result is a leaf. */
export function foldConstantArguments(n: Elementwise): Expr | null {
  return n.args.every((a) => a.kind === "constant") ? b.apply(n.fn, n.args, n.param) : null;
}

/** log(exp(x)) = x. Terminates: removes two nodes. */
export function logOfExp(n: Elementwise): Expr | null {
  const { core: x, wrap } = peel(n.args[0]);
  return n.fn === "log" && isCall(x, "exp") ? wrap(x.args[0]) : null;
}

/** log σ(x) = −softplus(−x), which stays finite for very negative x. Terminates: no rule makes log∘sigmoid. */
export function logOfSigmoid(n: Elementwise): Expr | null {
  const { core: x, wrap } = peel(n.args[0]);
  return n.fn === "log" && isCall(x, "sigmoid") ? wrap(b.neg(b.softplus(b.neg(x.args[0])))) : null;
}

/** log softmax(x, i) = logSoftmax(x, i), computed stably. Terminates: no rule makes log∘softmax. */
export function logOfSoftmax(n: Elementwise): Expr | null {
  const { core: x, wrap } = peel(n.args[0]);
  return n.fn === "log" && isEdgeCall(x, "softmax") ? wrap(b.logSoftmax(x.arg, x.edge)) : null;
}

/** exp(logSoftmax(x, i)) = softmax(x, i). Terminates: no rule makes exp∘logSoftmax. */
export function expOfLogSoftmax(n: Elementwise): Expr | null {
  const { core: x, wrap } = peel(n.args[0]);
  return n.fn === "exp" && isEdgeCall(x, "logSoftmax") ? wrap(b.softmax(x.arg, x.edge)) : null;
}

/**
 * (x^a)^b = x^(a·b) when b is an integer, unless a is fractional and a·b an integer (then x < 0
 * would turn NaN into a number). Terminates: removes a pow node.
 */
export function powOfPow(n: Elementwise): Expr | null {
  const { core: x, wrap } = peel(n.args[0]);
  if (n.fn !== "pow" || !isCall(x, "pow")) return null;
  const a = x.param!;
  const outer = n.param!;
  const product = a * outer;
  if (!Number.isInteger(outer) || (!Number.isInteger(a) && Number.isInteger(product))) return null;
  return wrap(b.pow(x.args[0], product));
}

/** Edges in canonical order (an elementwise result can be laid out in any order). Terminates: sorting is idempotent. */
export function sortElementwiseEdges(n: Elementwise): Expr | null {
  if (inCanonicalOrder(n.edges)) return null;
  return intern({ kind: "elementwise", fn: n.fn, param: n.param, args: n.args, edges: sortEdges(n.edges) });
}

/** An edge function of a constant is a constant. Terminates: the result is a leaf. */
export function foldEdgeFunctionOfConstant(g: EdgeFunction): Expr | null {
  const x = g.arg;
  if (x.kind !== "constant") return null;
  const n = x.edges.find((d) => d.name === g.edge)!.size;
  const rest = x.edges.filter((d) => d.name !== g.edge);
  const rule = EDGE_FUNCTIONS[g.fn];
  return b.constant(rule.ofConstant(x.value, n), rule.keepsEdge ? x.edges : rest);
}

/**
 * The edge that logsumexp/max remove is bound inside the node: name it after its provenance
 * when that name is free, else the first canonical inner name. Terminates: applies once.
 */
export function canonicalBoundEdge(g: EdgeFunction): Expr | null {
  if (!reducesEdge(g.fn)) return null;
  const free = new Set(namesOf(g.edges));
  const wish = provenanceOf(g.arg).get(g.edge);
  const name = wish !== undefined && !free.has(wish) ? wish : firstInnerName(free);
  if (g.edge === name) return null;
  return edgeFunctionBuilders[g.fn](b.renameUnchecked(g.arg, new Map([[g.edge, name]])), name);
}
