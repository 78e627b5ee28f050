/**
 * Rewrite rules for products (einsums), and their canonical form: factors in an order given by
 * name-independent keys, inner edges given canonical names in order of first appearance, output
 * edges in canonical order.
 */
import * as b from "../dsl/build.js";
import { type Edge, hasEdge } from "../dsl/edges.js";
import type { Expr, Product } from "../dsl/expr.js";
import { compareText, hashOf } from "./hash.js";
import { canonicalInnerNames, compareEdgeNames, namesOf, sortEdges } from "./names.js";
import { type RewriteContext, innerNames, isConstantOf, outNames, peel, scaledProduct, scopeNames } from "./nodes.js";
import { provenanceOf, smallerSource } from "./provenance.js";
import { describeProduct, fingerprintOf } from "./shape.js";

/**
 * A factor that is itself a product (possibly under a rename) joins the outer einsum.
 * Terminates: product nesting depth drops.
 */
export function flattenNestedProducts(p: Product, ctx: RewriteContext): Expr | null {
  if (!p.factors.some((f) => peel(f).core.kind === "product")) return null;
  const taken = scopeNames(p);
  const flat: Expr[] = [];
  for (const f of p.factors) {
    const q = peel(f).core;
    if (q.kind !== "product") {
      flat.push(f);
      continue;
    }
    // Free edges of the nested product take the wrapper's names; its inner names are scoped to
    // it, so any that clash with the outer scope move aside.
    const renaming = new Map(f.kind === "rename" ? f.mapping : []);
    for (const name of innerNames(q)) {
      const target = taken.has(name) ? ctx.names.fresh(taken) : name;
      if (target !== name) renaming.set(name, target);
      taken.add(target);
    }
    for (const g of q.factors) flat.push(b.renameUnchecked(g, renaming));
  }
  return b.einsum(flat, namesOf(p.edges));
}

/** A scaled factor `w·t` gives `t` and moves `w` into a sum weight. Terminates: scaled factors decrease. */
export function pullScalesOutOfFactors(p: Product): Expr | null {
  let coefficient = 1;
  let changed = false;
  const factors = p.factors.map((f) => {
    const { core, wrap } = peel(f);
    if (core.kind !== "sum" || core.terms.length !== 1 || core.terms[0].edges.length !== core.edges.length) return f;
    coefficient *= core.weights[0];
    changed = true;
    return wrap(core.terms[0]);
  });
  return changed ? scaledProduct(factors, p.edges, coefficient) : null;
}

/**
 * A zero factor zeroes the product; a constant `c` factor becomes `c` (a sum weight) times ones.
 * Terminates: constant factors other than ones decrease.
 */
export function splitConstantFactors(p: Product): Expr | null {
  if (p.factors.some((f) => isConstantOf(f, 0))) return b.zeros(p.edges);
  let coefficient = 1;
  let changed = false;
  const factors: Expr[] = [];
  for (const f of p.factors) {
    if (f.kind === "constant" && f.value !== 1) {
      coefficient *= f.value;
      changed = true;
      if (f.edges.length > 0) factors.push(b.ones(f.edges));
    } else factors.push(f);
  }
  return changed ? scaledProduct(factors, p.edges, coefficient) : null;
}

/**
 * All-ones factors merge into one that carries only output edges no other factor carries; an
 * inner edge only ones carry is summed to its size. Terminates: edges of ones factors decrease.
 */
export function dropRedundantOnes(p: Product): Expr | null {
  const isOnes = (f: Expr): boolean => isConstantOf(f, 1);
  const ones = p.factors.filter(isOnes);
  if (ones.length === 0) return null;
  const others = p.factors.filter((f) => !isOnes(f));
  const covered = new Set(others.flatMap((f) => namesOf(f.edges)));
  const out = outNames(p);
  const onlyOnes = new Map<string, Edge>();
  for (const f of ones) for (const d of f.edges) if (!covered.has(d.name)) onlyOnes.set(d.name, d);
  let coefficient = 1;
  const kept: Edge[] = [];
  for (const d of onlyOnes.values()) {
    if (out.has(d.name)) kept.push(d);
    else coefficient *= d.size;
  }
  const replacement = kept.length > 0 ? [b.ones(sortEdges(kept))] : [];
  if (coefficient === 1 && ones.length === replacement.length && (ones.length === 0 || ones[0] === replacement[0])) return null;
  return scaledProduct([...others, ...replacement], p.edges, coefficient);
}

/**
 * A copy tensor (delta) with an inner edge is absorbed by renaming its edges to one name in the
 * other factors; a delta over the remaining output edges stays. Skipped when a factor carries two
 * of its edges (that would need a diagonal). Terminates: deltas with inner edges decrease.
 */
export function mergeDeltas(p: Product): Expr | null {
  const out = outNames(p);
  for (let k = 0; k < p.factors.length; k++) {
    const d = p.factors[k];
    if (d.kind !== "delta") continue;
    const names = namesOf(d.edges);
    const inner = names.filter((n) => !out.has(n));
    if (inner.length === 0) continue;
    const others = p.factors.filter((_, j) => j !== k);
    if (others.some((f) => f.edges.filter((e) => names.includes(e.name)).length > 1)) continue;
    const outer = d.edges.filter((e) => out.has(e.name));
    const target = outer.length > 0 ? outer[0].name : inner[0];
    const renaming = new Map(inner.filter((n) => n !== target).map((n) => [n, target]));
    const factors = others.map((f) => b.renameUnchecked(f, renaming));
    if (outer.length >= 2) factors.push(b.delta(outer));
    let coefficient = 1;
    if (!factors.some((f) => hasEdge(f.edges, target))) {
      // Nothing else touches the delta: Σ over its inner edges is 1 per output index, or its size.
      if (out.has(target)) factors.push(b.ones([{ name: target, size: d.edges[0].size }]));
      else coefficient = d.edges[0].size;
    }
    return scaledProduct(factors, p.edges, coefficient);
  }
  return null;
}

/** A one-factor product that sums nothing is only a transpose; edge order is set by the parent. Terminates: removes a node. */
export function dropTranspose(p: Product): Expr | null {
  if (p.factors.length !== 1) return null;
  const [f] = p.factors;
  return f.edges.length === p.edges.length ? f : null;
}

/** The canonical arrangement of a product's factors: their order and the renaming of inner edges. */
export interface ProductPlan {
  readonly order: readonly number[];
  readonly renaming: ReadonlyMap<string, string>;
}

/** Most orderings of tied factors tried when choosing among them; beyond it, input order decides (equal may then miss). */
const TIE_ORDERINGS_LIMIT = 120;

/**
 * Orders factors by keys that ignore inner edge names (see describeProduct), then names inner
 * edges in order of first appearance: after their provenance (the variable axis they reach)
 * when that name is free in the product, else `#0, #1, …`. Factors whose keys tie (copies of
 * one tensor wired symmetrically) are ordered by trying each ordering of the tied groups and
 * keeping the one whose renamed factors have the smallest fingerprints, so input order does
 * not matter.
 */
export function planProduct(factors: readonly Expr[], out: ReadonlySet<string>): ProductPlan {
  const { shapes, refined, colour } = describeProduct(factors, out);
  const keys = factors.map((f, k) =>
    hashOf(refined[k], ...f.edges.filter((d) => out.has(d.name)).map((d) => `${shapes[k].slots.get(d.name)}=${d.name}`).sort()),
  );
  const sorted = factors.map((_, k) => k).sort((x, y) => compareText(keys[x], keys[y]) || x - y);
  const preferred = new Map<string, string | undefined>();
  factors.forEach((f) => {
    for (const [name, source] of provenanceOf(f)) if (!out.has(name)) preferred.set(name, smallerSource(preferred.get(name), source));
  });
  const innerKey = (k: number, name: string): string => hashOf(shapes[k].slots.get(name)!, colour.get(name) ?? "");
  const nameInOrder = (order: readonly number[]): Map<string, string> => {
    const used = new Set(out);
    const fallback = canonicalInnerNames(used);
    const renaming = new Map<string, string>();
    for (const k of order) {
      const inner = factors[k].edges
        .filter((d) => !out.has(d.name))
        .map((d) => ({ name: d.name, key: innerKey(k, d.name) }))
        .sort((x, y) => compareText(x.key, y.key) || compareEdgeNames(x.name, y.name));
      for (const { name } of inner) {
        if (renaming.has(name)) continue;
        const wish = preferred.get(name);
        const target = wish !== undefined && !used.has(wish) ? wish : fallback.next().value;
        used.add(target);
        renaming.set(name, target);
      }
    }
    return renaming;
  };
  const candidates = orderingsOfTies(sorted, keys);
  if (candidates.length === 1) return { order: sorted, renaming: nameInOrder(sorted) };
  let best: { order: readonly number[]; renaming: Map<string, string>; certificate: string } | null = null;
  for (const order of candidates) {
    const renaming = nameInOrder(order);
    const certificate = order.map((k) => fingerprintOf(b.renameUnchecked(factors[k], renaming))).join(",");
    if (best === null || certificate < best.certificate) best = { order, renaming, certificate };
  }
  return { order: best!.order, renaming: best!.renaming };
}

/** Every ordering of `sorted` that permutes runs of equal keys (just `sorted` when there are too many). */
function orderingsOfTies(sorted: readonly number[], keys: readonly string[]): number[][] {
  const groups: number[][] = [];
  for (const k of sorted) {
    const last = groups[groups.length - 1];
    if (last !== undefined && keys[last[0]] === keys[k]) last.push(k);
    else groups.push([k]);
  }
  const count = groups.reduce((n, g) => n * factorial(g.length), 1);
  if (count === 1 || count > TIE_ORDERINGS_LIMIT) return [[...sorted]];
  let orders: number[][] = [[]];
  for (const group of groups) orders = orders.flatMap((prefix) => permutations(group).map((p) => [...prefix, ...p]));
  return orders;
}

const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));

function permutations(xs: readonly number[]): number[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

/** Puts the product in canonical form (see planProduct). Terminates: canonical forms are fixed points. */
export function canonicalizeProduct(p: Product): Expr | null {
  const plan = planProduct(p.factors, outNames(p));
  const factors = plan.order.map((k) => b.renameUnchecked(p.factors[k], plan.renaming));
  const result = b.einsum(factors, namesOf(sortEdges(p.edges)));
  return result === p ? null : result;
}
