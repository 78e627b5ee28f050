/** Rewrite rules for weighted sums, and their canonical form: like terms combined, terms sorted. */
import * as b from "../dsl/build.js";
import type { Edge } from "../dsl/edges.js";
import type { Expr, Sum } from "../dsl/expr.js";
import { compareText } from "./hash.js";
import { inCanonicalOrder, namesOf, sortEdges } from "./names.js";
import { isConstantOf, makeSum, peel } from "./nodes.js";
import { fingerprintOf } from "./shape.js";

/** A term that is itself a sum (possibly under a rename) contributes its terms, weights multiplied. Terminates: sum nesting depth drops. */
export function flattenNestedSums(s: Sum): Expr | null {
  if (!s.terms.some((t) => peel(t).core.kind === "sum")) return null;
  const terms: Expr[] = [];
  const weights: number[] = [];
  s.terms.forEach((t, k) => {
    const { core, wrap } = peel(t);
    if (core.kind === "sum") {
      core.terms.forEach((u, j) => {
        terms.push(wrap(u));
        weights.push(s.weights[k] * core.weights[j]);
      });
    } else {
      terms.push(t);
      weights.push(s.weights[k]);
    }
  });
  return makeSum(terms, weights, s.edges);
}

/** Terms with weight 0 or filled with zeros go. Terminates: terms decrease. */
export function dropZeroTerms(s: Sum): Expr | null {
  const keep = s.terms.map((t, k) => s.weights[k] !== 0 && !isConstantOf(t, 0));
  if (keep.every(Boolean)) return null;
  return makeSum(s.terms.filter((_, k) => keep[k]), s.weights.filter((_, k) => keep[k]), s.edges);
}

/** The same term twice becomes one term with the weights added. Terminates: terms decrease. */
export function combineLikeTerms(s: Sum): Expr | null {
  if (new Set(s.terms).size === s.terms.length) return null;
  const terms: Expr[] = [];
  const weights: number[] = [];
  s.terms.forEach((t, k) => {
    const at = terms.indexOf(t);
    if (at >= 0) weights[at] += s.weights[k];
    else {
      terms.push(t);
      weights.push(s.weights[k]);
    }
  });
  return makeSum(terms, weights, s.edges);
}

/**
 * Constant terms fold into one constant with weight 1, carrying only the edges no other term
 * carries (the sum broadcasts the rest). Terminates: applies only when that changes the terms.
 */
export function mergeConstantTerms(s: Sum): Expr | null {
  const isConstantTerm = (t: Expr): boolean => t.kind === "constant";
  const constants = s.terms.map((t, k) => ({ t, w: s.weights[k] })).filter(({ t }) => isConstantTerm(t));
  if (constants.length === 0) return null;
  const terms = s.terms.filter((t) => !isConstantTerm(t));
  const weights = s.weights.filter((_, k) => !isConstantTerm(s.terms[k]));
  const covered = new Set(terms.flatMap((t) => namesOf(t.edges)));
  let total = 0;
  const own = new Map<string, Edge>();
  for (const { t, w } of constants) {
    if (t.kind === "constant") total += w * t.value;
    for (const d of t.edges) if (!covered.has(d.name)) own.set(d.name, d);
  }
  // A zero total leaves its edges to the sum's broadcast (see broadcastBeyondTerms).
  const merged = total === 0 ? [] : [b.constant(total, sortEdges([...own.values()]))];
  if (merged.length === constants.length && merged.every((m, k) => m === constants[k].t && constants[k].w === 1)) return null;
  return makeSum([...terms, ...merged], [...weights, ...merged.map(() => 1)], s.edges);
}

/**
 * A sum whose edges exceed its terms' edges (or that has no terms) is written as a broadcast:
 * the sum of the terms times ones. Terminates: afterwards the sum's edges are its terms' edges.
 */
export function broadcastBeyondTerms(s: Sum): Expr | null {
  if (s.terms.length === 0) return b.zeros(s.edges);
  const carried = new Set(s.terms.flatMap((t) => namesOf(t.edges)));
  const missing = s.edges.filter((d) => !carried.has(d.name));
  if (missing.length === 0) return null;
  const inner = makeSum(s.terms, s.weights, s.edges.filter((d) => carried.has(d.name)));
  return b.einsum([inner, b.ones(missing)], namesOf(s.edges));
}

/** A sum of one term with weight 1 is that term. Terminates: removes a node. */
export function unwrapSingleTerm(s: Sum): Expr | null {
  return s.terms.length === 1 && s.weights[0] === 1 && s.terms[0].edges.length === s.edges.length ? s.terms[0] : null;
}

/** Terms in canonical order (by fingerprint, then weight) and edges in canonical order. Terminates: sorting is idempotent. */
export function canonicalizeSum(s: Sum): Expr | null {
  const keyed = s.terms.map((t, k) => ({ t, w: s.weights[k], key: fingerprintOf(t) }));
  keyed.sort((x, y) => compareText(x.key, y.key) || x.w - y.w);
  const sorted = keyed.every(({ t }, k) => t === s.terms[k]);
  if (sorted && inCanonicalOrder(s.edges)) return null;
  return makeSum(keyed.map(({ t }) => t), keyed.map(({ w }) => w), sortEdges(s.edges));
}
