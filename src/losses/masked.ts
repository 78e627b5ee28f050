/**
 * Masked reductions shared by the losses: a 0/1 mask marks the tokens that count (response
 * tokens, not padding or prompt).
 */
import { div, maximum, mean, mul, sum } from "../dsl/build.js";
import { findEdge, formatEdges, sameEdgeSet } from "../dsl/edges.js";
import { RicciError } from "../errors.js";
import type { Expr } from "../dsl/expr.js";

/** The size of edge `name` of `e`, or a RicciError naming `where`. `edgeSize(logits, "vocab", "crossEntropy")`. */
export function edgeSize(e: Expr, name: string, where: string): number {
  const edge = findEdge(e.edges, name);
  if (edge === undefined) throw new RicciError(`${where}: expected an edge "${name}" in ${formatEdges(e.edges)}`);
  return edge.size;
}

/** Throws unless `e` has exactly the edges of `like` (any order): `requireSameEdges(mask, logp, "ppo", "the mask")`. */
export function requireSameEdges(e: Expr, like: Expr, where: string, what: string): void {
  if (!sameEdgeSet(e.edges, like.edges)) {
    throw new RicciError(`${where}: ${what} must have edges ${formatEdges(like.edges)}, got ${formatEdges(e.edges)}`);
  }
}

/** Σ mask·x over `edges` (all of x's edges by default); no mask means every entry counts. */
export function maskedSum(x: Expr, mask: Expr | undefined, edges?: string | readonly string[]): Expr {
  if (mask === undefined) return sum(x, edges);
  requireSameEdges(mask, x, "maskedSum", "the mask");
  return sum(mul(x, mask), edges);
}

/**
 * Σ mask·x / Σ mask over `edges` (all of x's edges by default): `maskedMean(nll, mask)`.
 * The count is clamped at 1 (as TRL does) so an all-zero mask gives 0, not NaN; masks are 0/1.
 */
export function maskedMean(x: Expr, mask: Expr | undefined, edges?: string | readonly string[]): Expr {
  if (mask === undefined) return mean(x, edges);
  return div(maskedSum(x, mask, edges), maximum(sum(mask, edges), 1));
}
