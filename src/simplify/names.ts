/**
 * Edge names in canonical forms: the canonical edge order, canonical inner names `#0, #1, …`
 * and fresh names for renaming inner edges out of the way.
 */
import type { Edge } from "../dsl/edges.js";
import { compareText } from "./hash.js";

const NUMBERED = /^#([A-Za-z]*)(\d+)$/;

/**
 * The canonical order of edge names: user names by code unit, then reserved `#…` names, those
 * ending in a number ordered by prefix and then numerically (so `#2` precedes `#10`).
 */
export function compareEdgeNames(a: string, b: string): number {
  const reservedA = a.startsWith("#");
  const reservedB = b.startsWith("#");
  if (reservedA !== reservedB) return reservedA ? 1 : -1;
  const ma = NUMBERED.exec(a);
  const mb = NUMBERED.exec(b);
  if (ma && mb) return compareText(ma[1], mb[1]) || Number(ma[2]) - Number(mb[2]) || compareText(a, b);
  if (ma || mb) return ma ? -1 : 1;
  return compareText(a, b);
}

/** `edges` in canonical order. */
export function sortEdges(edges: readonly Edge[]): Edge[] {
  return [...edges].sort((x, y) => compareEdgeNames(x.name, y.name));
}

export function inCanonicalOrder(edges: readonly Edge[]): boolean {
  return edges.every((e, i) => i === 0 || compareEdgeNames(edges[i - 1].name, e.name) < 0);
}

export function namesOf(edges: readonly Edge[]): string[] {
  return edges.map((e) => e.name);
}

/** Canonical inner names `#0, #1, …` in order, skipping names in `taken` (the scope's free edges). */
export function* canonicalInnerNames(taken: ReadonlySet<string>): Generator<string, never> {
  for (let k = 0; ; k++) {
    const name = `#${k}`;
    if (!taken.has(name)) yield name;
  }
}

/** The first canonical inner name not in `taken`. */
export function firstInnerName(taken: ReadonlySet<string>): string {
  return canonicalInnerNames(taken).next().value;
}

/** Temporary names for inner edges while rules run; canonicalisation replaces them all. */
export class FreshNames {
  private next = 0;

  /** A name not in `taken`: `#t0`, `#t1`, … */
  fresh(taken: ReadonlySet<string>): string {
    for (;;) {
      const name = `#t${this.next++}`;
      if (!taken.has(name)) return name;
    }
  }
}
