/**
 * Where each free edge comes from: the smallest axis name of a variable it reaches. Canonical
 * names are taken from it, so an edge keeps the name its variables give it (`in`, `d`, `seq`)
 * whatever it was renamed to on the way, and canonical forms stay readable.
 */
import type { Expr } from "../dsl/expr.js";
import { compareEdgeNames } from "./names.js";
import { bottomUp } from "./shape.js";

/** For each free edge name, its provenance (undefined when it reaches no variable: ones, deltas, a one-hot's new edge). */
export type Provenance = ReadonlyMap<string, string | undefined>;

const provenances = new WeakMap<Expr, Provenance>();

export function provenanceOf(e: Expr): Provenance {
  return bottomUp(e, provenances, computeProvenance);
}

/** The preferred of two provenances: the smaller name; a known one beats none. */
export function smallerSource(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareEdgeNames(a, b) <= 0 ? a : b;
}

function computeProvenance(e: Expr, get: (x: Expr) => Provenance): Provenance {
  const unknown = (): Map<string, string | undefined> => new Map(e.edges.map((d) => [d.name, undefined]));
  const fromChildren = (kids: readonly Expr[]): Provenance => {
    const out = unknown();
    for (const kid of kids) {
      for (const [name, source] of get(kid)) if (out.has(name)) out.set(name, smallerSource(out.get(name), source));
    }
    return out;
  };
  switch (e.kind) {
    case "variable":
      return new Map(e.edges.map((d) => [d.name, d.name]));
    case "constant":
    case "delta":
      return unknown();
    case "oneHot":
      return fromChildren([e.index]);
    case "product":
      return fromChildren(e.factors);
    case "sum":
      return fromChildren(e.terms);
    case "elementwise":
      return fromChildren(e.args);
    case "edgeFunction":
    case "stopGradient":
      return fromChildren([e.arg]);
    case "rename": {
      const from = get(e.arg);
      const to = new Map(e.mapping);
      return new Map(e.arg.edges.map((d) => [to.get(d.name) ?? d.name, from.get(d.name)]));
    }
  }
}
