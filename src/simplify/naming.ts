/**
 * Canonical free-edge names of a core: each free edge is named after its provenance (the
 * variable axis it reaches) when that name is still free, otherwise `#0, #1, …`. Edges are
 * taken in an order that ignores their current names (provenance, then role), so two nodes
 * that differ only by the names of their free edges get the same core.
 */
import type { Expr } from "../dsl/expr.js";
import { compareText } from "./hash.js";
import { canonicalInnerNames, compareEdgeNames } from "./names.js";
import { provenanceOf } from "./provenance.js";
import { shapeOf } from "./shape.js";

const compareOptional = (a: string | undefined, b: string | undefined): number =>
  a === undefined ? (b === undefined ? 0 : 1) : b === undefined ? -1 : compareEdgeNames(a, b);

/** The renaming (only the edges that change) that gives `node`'s free edges their canonical names. */
export function canonicalFreeNames(node: Expr): Map<string, string> {
  const provenance = provenanceOf(node);
  const { slots } = shapeOf(node);
  const edges = node.edges.map((d) => ({ name: d.name, preferred: provenance.get(d.name), slot: slots.get(d.name)! }));
  edges.sort((x, y) => compareOptional(x.preferred, y.preferred) || compareText(x.slot, y.slot) || compareEdgeNames(x.name, y.name));
  const used = new Set<string>();
  const assigned = new Map<string, string>();
  const pending: string[] = [];
  for (const { name, preferred } of edges) {
    if (preferred !== undefined && !used.has(preferred)) {
      used.add(preferred);
      assigned.set(name, preferred);
    } else pending.push(name);
  }
  const fallback = canonicalInnerNames(used);
  for (const name of pending) assigned.set(name, fallback.next().value);
  return new Map([...assigned].filter(([from, to]) => from !== to));
}
