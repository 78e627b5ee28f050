import { RicciError } from "../errors.js";

/** A named edge (index) of a tensor and its size. */
export interface Edge {
  readonly name: string;
  readonly size: number;
}

/** Edge sizes by name, in declaration order: `{ batch: 8, in: 4 }`. */
export type EdgeSizes = Readonly<Record<string, number>>;

/** User edge names: identifiers. Names starting with `#` are reserved for inner (contracted) edges. */
const EDGE_NAME = /^[A-Za-z_][A-Za-z0-9_']*$/;

/** Checks a user-given edge name (inner `#` names are ricci's own). */
export function checkEdgeName(name: string, where: string): void {
  if (typeof name !== "string" || !EDGE_NAME.test(name)) {
    const hint = typeof name === "string" && isInnerName(name) ? "; names starting with # are reserved for contracted edges" : "";
    throw new RicciError(`${where}: edge name "${String(name)}" is not an identifier (letters, digits, _ and ')${hint}`);
  }
}

export function isInnerName(name: string): boolean {
  return name.startsWith("#");
}

export function checkSize(size: number, name: string, where: string): void {
  if (typeof size !== "number" || !Number.isInteger(size) || size < 1) {
    const shown = typeof size === "number" ? String(size) : `${JSON.stringify(size)} (a ${typeof size})`;
    throw new RicciError(`${where}: edge "${name}" has size ${shown}; sizes are positive integers`);
  }
}

/** Edges from a `{name: size}` record, validated. */
export function edgesFrom(sizes: EdgeSizes, where: string): Edge[] {
  return Object.entries(sizes).map(([name, size]) => {
    checkEdgeName(name, where);
    checkSize(size, name, where);
    return { name, size };
  });
}

/** `{in: 4, out: 3}` — for messages. */
export function formatEdges(edges: readonly Edge[]): string {
  return `{${edges.map((e) => `${e.name}: ${e.size}`).join(", ")}}`;
}

export function edgeNames(edges: readonly Edge[]): string[] {
  return edges.map((e) => e.name);
}

export function findEdge(edges: readonly Edge[], name: string): Edge | undefined {
  return edges.find((e) => e.name === name);
}

export function hasEdge(edges: readonly Edge[], name: string): boolean {
  return edges.some((e) => e.name === name);
}

/** Total number of entries of a tensor with these edges. */
export function volume(edges: readonly Edge[]): number {
  return edges.reduce((n, e) => n * e.size, 1);
}

/**
 * Union of edge lists by name, in first-seen order; a shared name must have the same size.
 * `where` names the operation for the error message.
 */
export function unionEdges(lists: readonly (readonly Edge[])[], where: string): Edge[] {
  const out: Edge[] = [];
  const seen = new Map<string, { size: number; operand: number }>();
  lists.forEach((edges, operand) => {
    for (const e of edges) {
      const prior = seen.get(e.name);
      if (prior === undefined) {
        seen.set(e.name, { size: e.size, operand });
        out.push(e);
      } else if (prior.size !== e.size) {
        throw new RicciError(
          `${where}: edge "${e.name}" has size ${prior.size} in operand ${prior.operand + 1} ` +
            `but size ${e.size} in operand ${operand + 1} (${formatEdges(lists[prior.operand])} vs ${formatEdges(edges)})`,
        );
      }
    }
  });
  return out;
}

export function sameEdgeSet(a: readonly Edge[], b: readonly Edge[]): boolean {
  return a.length === b.length && a.every((e) => b.some((f) => f.name === e.name && f.size === e.size));
}
