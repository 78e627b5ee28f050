/**
 * Readable names for the edges ricci names itself. Simplification gives contracted edges and
 * edges renamed out of the way reserved names `#0, #1, …` (simplify/names.ts), which can never
 * clash with a user's edge but print as noise: `\mathrm{onehot}_{\#0}`, `|_{\#0\to\mathrm{vocab}}`.
 * The printers first rename each reserved name after the user edge it stands in for, with
 * primes: `#0` renamed to or from `sample` prints as `sample'`, a second copy as `sample''`.
 * The new names are used by no edge anywhere in the expression, so this is a change of
 * bound-variable names: the printed maths means exactly what the expression computes.
 */
import type { Edge } from "../dsl/edges.js";
import { isInnerName } from "../dsl/edges.js";
import { type Expr, intern, topologicalOrder } from "../dsl/expr.js";

/** Letters for a reserved edge that is never renamed to or from a user edge (index-notation style). */
const SPARE_INDICES = ["i", "j", "k", "l", "m", "n"];

/** Every edge name an expression mentions: free edges of all nodes, renames, edge functions. */
function allEdgeNames(nodes: readonly Expr[]): Set<string> {
  const names = new Set<string>();
  for (const n of nodes) {
    for (const d of n.edges) names.add(d.name);
    if (n.kind === "rename") for (const [from, to] of n.mapping) names.add(from).add(to);
    if (n.kind === "edgeFunction") names.add(n.edge);
  }
  return names;
}

/** `#0 → 0`, `#t3 → 3`: reserved names in the order simplification numbers them. */
const reservedNumber = (name: string): number => Number(/\d+$/.exec(name)?.[0] ?? Number.MAX_SAFE_INTEGER);

/**
 * The user edge a reserved edge stands in for: the nearest user name reached through renames
 * (`sample → #0`, `#0 → #1`, …), breadth first; undefined when renames never reach one.
 */
function userNameBehind(reserved: string, renamedWith: ReadonlyMap<string, readonly string[]>): string | undefined {
  const seen = new Set([reserved]);
  let frontier = [reserved];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const name of frontier) {
      for (const other of [...(renamedWith.get(name) ?? [])].sort()) {
        if (!isInnerName(other)) return other;
        if (!seen.has(other)) {
          seen.add(other);
          next.push(other);
        }
      }
    }
    frontier = next;
  }
  return undefined;
}

/**
 * A readable name for every reserved edge name of `e`, e.g. `#0 → sample'`; empty when `e` has
 * none. `readableEdgeNames(simplify(grad(loss, logp))).get("#0")` → `"sample'"`.
 */
export function readableEdgeNames(e: Expr): Map<string, string> {
  const nodes = topologicalOrder([e]);
  const used = allEdgeNames(nodes);
  const reserved = [...used].filter(isInnerName).sort((a, b) => reservedNumber(a) - reservedNumber(b) || (a < b ? -1 : 1));
  const readable = new Map<string, string>();
  if (reserved.length === 0) return readable;
  const renamedWith = new Map<string, string[]>();
  const link = (a: string, b: string): void => void renamedWith.set(a, [...(renamedWith.get(a) ?? []), b]);
  for (const n of nodes) {
    if (n.kind === "rename") for (const [from, to] of n.mapping) link(from, to), link(to, from);
  }
  for (const name of reserved) {
    const base = userNameBehind(name, renamedWith) ?? SPARE_INDICES.find((i) => !used.has(i)) ?? "k";
    let candidate = base;
    while (used.has(candidate)) candidate += "'";
    used.add(candidate);
    readable.set(name, candidate);
  }
  return readable;
}

/**
 * `e` with its reserved edge names replaced by readable ones (readableEdgeNames); `e` itself
 * when it has none. Printers call this first, so no `#` reaches the maths.
 */
export function withReadableEdgeNames(e: Expr): Expr {
  const names = readableEdgeNames(e);
  if (names.size === 0) return e;
  const name = (n: string): string => names.get(n) ?? n;
  const edge = (d: Edge): Edge => (names.has(d.name) ? { name: name(d.name), size: d.size } : d);
  const done = new Map<number, Expr>();
  const kid = (c: Expr): Expr => done.get(c.id)!;
  for (const n of topologicalOrder([e])) {
    const edges = n.edges.map(edge);
    done.set(n.id, renamedNode(n, edges, kid, edge, name));
  }
  return done.get(e.id)!;
}

/** One node rebuilt with renamed edges around its already renamed children. */
function renamedNode(n: Expr, edges: Edge[], kid: (c: Expr) => Expr, edge: (d: Edge) => Edge, name: (n: string) => string): Expr {
  switch (n.kind) {
    case "variable":
      return intern({ kind: "variable", name: n.name, edges });
    case "constant":
      return intern({ kind: "constant", value: n.value, edges });
    case "delta":
      return intern({ kind: "delta", edges });
    case "oneHot":
      return intern({ kind: "oneHot", index: kid(n.index), edge: edge(n.edge), edges });
    case "product":
      return intern({ kind: "product", factors: n.factors.map(kid), edges });
    case "sum":
      return intern({ kind: "sum", terms: n.terms.map(kid), weights: n.weights, edges });
    case "elementwise":
      return intern({ kind: "elementwise", fn: n.fn, param: n.param, args: n.args.map(kid), edges });
    case "edgeFunction":
      return intern({ kind: "edgeFunction", fn: n.fn, edge: name(n.edge), arg: kid(n.arg), edges });
    case "rename": {
      // A rename's mapping is kept sorted by source name.
      const mapping = n.mapping.map(([from, to]) => [name(from), name(to)] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return intern({ kind: "rename", arg: kid(n.arg), mapping, edges });
    }
    case "stopGradient":
      return intern({ kind: "stopGradient", arg: kid(n.arg), edges });
  }
}
