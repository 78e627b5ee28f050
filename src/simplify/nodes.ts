/** Small node helpers shared by the rewrite rules. */
import * as b from "../dsl/build.js";
import type { Edge } from "../dsl/edges.js";
import { EDGE_FUNCTIONS } from "../dsl/edgeFunctions.js";
import { type EdgeFunctionName, type Expr, type Kind, type Product, intern } from "../dsl/expr.js";
import type { FreshNames } from "./names.js";

/** A node of one kind. */
export type OfKind<K extends Kind> = Extract<Expr, { kind: K }>;

/** What rules may ask of the simplifier while they rewrite. */
export interface RewriteContext {
  /** Fresh temporary names for inner edges (they never survive into a canonical form). */
  readonly names: FreshNames;
}

/**
 * A rewrite rule for one node kind: returns the replacement, or null when it does not apply.
 * The node's children are already in canonical form.
 */
export type Rule<K extends Kind> = (node: OfKind<K>, ctx: RewriteContext) => Expr | null;

/** One list of rules per node kind, tried in order; a missing kind is a compile error. */
export type RuleTable = { readonly [K in Kind]: readonly Rule<K>[] };

export const edgeFunctionBuilders: Readonly<Record<EdgeFunctionName, (x: Expr, edge: string) => Expr>> = {
  softmax: b.softmax,
  logSoftmax: b.logSoftmax,
  logsumexp: b.logsumexp,
  max: b.max,
};

/** Whether an edge function removes its edge (its name is then bound inside the node). */
export const reducesEdge = (fn: EdgeFunctionName): boolean => !EDGE_FUNCTIONS[fn].keepsEdge;

/** A weighted sum with explicit edges (which may exceed the union of the terms' edges). */
export function makeSum(terms: readonly Expr[], weights: readonly number[], edges: readonly Edge[]): Expr {
  if (terms.length === 0) return b.zeros(edges);
  return intern({ kind: "sum", terms, weights, edges });
}

/** coefficient · einsum(factors → out). */
export function scaledProduct(factors: readonly Expr[], out: readonly Edge[], coefficient = 1): Expr {
  const body = b.einsum(factors, out.map((d) => d.name));
  return coefficient === 1 ? body : b.scale(body, coefficient);
}

export function outNames(p: Product): Set<string> {
  return new Set(p.edges.map((d) => d.name));
}

/** The contracted (inner) edge names of a product. */
export function innerNames(p: Product): Set<string> {
  const out = outNames(p);
  return new Set(p.factors.flatMap((f) => f.edges.map((d) => d.name)).filter((n) => !out.has(n)));
}

/** Every edge name visible in a product's scope: its output edges and the free edges of its factors. */
export function scopeNames(p: Product): Set<string> {
  return new Set([...p.edges.map((d) => d.name), ...p.factors.flatMap((f) => f.edges.map((d) => d.name))]);
}

export function renamedEdges(edges: readonly Edge[], mapping: ReadonlyMap<string, string>): Edge[] {
  return edges.map((d) => ({ name: mapping.get(d.name) ?? d.name, size: d.size }));
}

export const isConstantOf = (e: Expr, value: number): boolean => e.kind === "constant" && e.value === value;

/** A node seen through its rename wrapper (if any): the core, and the same wrapper for a replacement with the core's edges. */
export interface Peeled {
  readonly core: Expr;
  readonly wrap: (replacement: Expr) => Expr;
}

export function peel(e: Expr): Peeled {
  if (e.kind !== "rename") return { core: e, wrap: (x) => x };
  const mapping = new Map(e.mapping);
  return { core: e.arg, wrap: (x) => b.renameUnchecked(x, mapping) };
}
