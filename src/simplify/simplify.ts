/**
 * Simplification to a canonical form, and structural equality up to renaming of inner edges.
 *
 * Every node is rebuilt bottom-up from canonical children, then the rules of its kind
 * (rules.ts) are tried in order; a rule's result is simplified again. Rules only move towards
 * a normal form (each says why it terminates), and the last rule of each kind orders factors,
 * terms, edges and inner names canonically. Finally the node's free edges get canonical names
 * (naming.ts): the result is a *core* with those names, under one rename wrapper giving the
 * names the expression actually uses. Renames therefore never copy a subgraph (sharing is kept:
 * the result has at most a few rename wrappers more than the input), and two expressions that
 * differ only by edge names (inner ones, or free ones under a rename), factor order or term
 * order reach the same node.
 */
import * as b from "../dsl/build.js";
import { type Edge, sameEdgeSet } from "../dsl/edges.js";
import { RicciError } from "../errors.js";
import { type Expr, childrenOf, intern, topologicalOrder } from "../dsl/expr.js";
import { FreshNames, namesOf } from "./names.js";
import { canonicalFreeNames } from "./naming.js";
import type { RewriteContext, Rule } from "./nodes.js";
import { edgeFunctionBuilders } from "./nodes.js";
import { renameOneLevel } from "./renames.js";
import { RULES } from "./rules.js";

/** A bound on rewrites per call, far above what terminating rules need: a loop here is a bug. */
const REWRITE_LIMIT = 1_000_000;

/** `e` with its children replaced (same kind, same edges; children's edge order may differ). */
function withChildren(e: Expr, kids: readonly Expr[]): Expr {
  if (kids.every((k, i) => k === childrenOf(e)[i])) return e;
  switch (e.kind) {
    case "variable":
    case "constant":
    case "delta":
      return e;
    case "oneHot":
      return intern({ kind: "oneHot", index: kids[0], edge: e.edge, edges: [...kids[0].edges, e.edge] });
    case "product":
      return intern({ kind: "product", factors: kids, edges: e.edges });
    case "sum":
      return intern({ kind: "sum", terms: kids, weights: e.weights, edges: e.edges });
    case "elementwise":
      return intern({ kind: "elementwise", fn: e.fn, param: e.param, args: kids, edges: e.edges });
    case "edgeFunction":
      return edgeFunctionBuilders[e.fn](kids[0], e.edge);
    case "rename":
      return b.renameUnchecked(kids[0], new Map(e.mapping));
    case "stopGradient":
      return b.stopGradient(kids[0]);
  }
}

/**
 * Normal forms computed so far, by input node, shared by all runs (a pure function of the
 * node): simplifying the gradients of one loss one by one shares the work on their common
 * forward pass. Results are not recorded as their own normal forms here, so simplifying a
 * result again really re-checks it.
 */
let normalForms = new WeakMap<Expr, Expr>();

/** Forgets every normal form computed so far (for tests that check results from scratch; results do not change). */
export function forgetNormalForms(): void {
  normalForms = new WeakMap();
}

/** One simplification run: fresh names, the results of this run (normal by construction), and cycle detection. */
class Normaliser implements RewriteContext {
  readonly names = new FreshNames();
  private readonly results = new Set<Expr>();
  private readonly inProgress = new Set<Expr>();
  private rewrites = 0;

  normalise(e: Expr): Expr {
    if (this.results.has(e)) return e;
    const known = normalForms.get(e);
    if (known !== undefined) return known;
    if (this.inProgress.has(e)) throw new RicciError(`simplify: rewrite rules cycle on a ${e.kind} node (a bug in ricci's simplifier)`);
    this.inProgress.add(e);
    const node = withChildren(e, childrenOf(e).map((k) => this.normalise(k)));
    const childrenNormal = childrenOf(node).every((k) => this.results.has(k));
    const result = node !== e && !childrenNormal ? this.normalise(node) : this.rewrite(node);
    this.inProgress.delete(e);
    normalForms.set(e, result);
    this.results.add(result);
    return result;
  }

  private rewrite(node: Expr): Expr {
    for (const rule of RULES[node.kind] as readonly Rule<Expr["kind"]>[]) {
      const out = (rule as (n: Expr, ctx: RewriteContext) => Expr | null)(node, this);
      if (out === null || out === node) continue;
      if (++this.rewrites > REWRITE_LIMIT) throw new RicciError(`simplify: more than ${REWRITE_LIMIT} rewrites (rule ${rule.name}); a bug in ricci's simplifier`);
      return this.normalise(out);
    }
    return this.named(node);
  }

  /** A node no rule changes, as its core (canonical free names) under a rename to its own names. */
  private named(node: Expr): Expr {
    switch (node.kind) {
      case "variable":
      case "constant":
      case "delta":
      case "rename":
        return node;
      case "oneHot":
      case "product":
      case "sum":
      case "elementwise":
      case "edgeFunction":
      case "stopGradient": {
        const naming = canonicalFreeNames(node);
        if (naming.size === 0) return node;
        const core = this.normalise(renameOneLevel(node, naming, this));
        return b.renameUnchecked(core, new Map([...naming].map(([from, to]) => [to, from])));
      }
    }
  }
}

/** The canonical form of `e`, its top-level edge order not restored. */
function canonicalForm(e: Expr): Expr {
  if (e === null || typeof e !== "object" || typeof (e as Expr).kind !== "string") {
    throw new RicciError(`simplify/equal: expected a ricci expression, got ${e === null ? "null" : typeof e}`);
  }
  const known = normalForms.get(e);
  if (known !== undefined) return known;
  const run = new Normaliser();
  // Children first, so deep inputs do not recurse deeply.
  for (const node of topologicalOrder([e])) run.normalise(node);
  return run.normalise(e);
}

function sameOrder(a: readonly Edge[], b: readonly Edge[]): boolean {
  return a.length === b.length && a.every((d, i) => d.name === b[i].name);
}

/** Kinds whose value can be laid out in any edge order (their `edges` field says which). */
const anyOrder = (e: Expr): boolean => e.kind === "product" || e.kind === "sum" || e.kind === "elementwise" || e.kind === "constant" || e.kind === "delta";

/** `c` (a leaf, core or wrapped core) with the same edges laid out in the order `order`. */
function inEdgeOrder(c: Expr, order: readonly Edge[]): Expr {
  if (sameOrder(c.edges, order)) return c;
  if (c.kind === "rename" && anyOrder(c.arg)) {
    // Reorder the core under the wrapper: the wrapper's order follows its argument's.
    const back = new Map(c.mapping.map(([from, to]) => [to, from]));
    const coreOrder = order.map((d) => ({ name: back.get(d.name) ?? d.name, size: d.size }));
    return b.renameUnchecked(inEdgeOrder(c.arg, coreOrder), new Map(c.mapping));
  }
  switch (c.kind) {
    case "product":
      return b.einsum(c.factors, namesOf(order));
    case "sum":
      return intern({ kind: "sum", terms: c.terms, weights: c.weights, edges: order });
    case "elementwise":
      return intern({ kind: "elementwise", fn: c.fn, param: c.param, args: c.args, edges: order });
    case "constant":
      return b.constant(c.value, order);
    case "delta":
      return b.delta(order);
    case "variable":
    case "oneHot":
    case "edgeFunction":
    case "rename":
    case "stopGradient":
      return b.transpose(c, namesOf(order));
  }
}

/**
 * The canonical form of `e`: same value, same edges in the same order, simplified (flat
 * products and sums, like terms combined, constants folded, stable rewrites such as
 * `-log σ(x)` → `softplus(-x)`), keeping `e`'s sharing. Idempotent:
 * `simplify(simplify(e)) === simplify(e)`.
 */
export function simplify(e: Expr): Expr {
  return inEdgeOrder(canonicalForm(e), e.edges);
}

/**
 * Structural equality up to renaming of inner (contracted) edges, factor and term order and
 * edge order: `equal(add(a, b), add(b, a))` is true. Sound: true implies equal values.
 */
export function equal(a: Expr, b: Expr): boolean {
  const ca = canonicalForm(a);
  const cb = canonicalForm(b);
  return ca === cb && sameEdgeSet(a.edges, b.edges);
}
