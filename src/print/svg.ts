/**
 * Tensor diagrams (Penrose notation) as SVG. A product is a network: one box per factor on a
 * row, a wire for each contracted edge (straight between neighbours, an arc over the row
 * otherwise), a dot where three or more wire ends meet (a copy tensor), a capped stub for an
 * edge summed on one factor, and dangling wires for the free edges. Nested products are
 * flattened into one network. Functions are frames around their argument's drawing that the
 * wires pass through; sums are terms side by side with their signs and weights.
 */
import type { Edge } from "../dsl/edges.js";
import { EDGE_FUNCTIONS } from "../dsl/edgeFunctions.js";
import type { Expr, Product, Sum } from "../dsl/expr.js";
import { displayName } from "../dsl/userfn.js";
import {
  type Block,
  type BoxStyle,
  COLORS,
  Canvas,
  EDGE_SIZE,
  FONT_FAMILY,
  LABEL_SIZE,
  OUTWARD,
  type Point,
  type Port,
  type PortWish,
  type Side,
  type Wishes,
  attachStubs,
  copyDot,
  cubic,
  dot,
  extendToBoundary,
  labelWidth,
  passThroughFrame,
  portBox,
  segment,
  serialize,
  text,
  textBlock,
  textWidth,
} from "./diagram.js";
import { formatNumber } from "./format.js";
import { withReadableEdgeNames } from "./readable.js";

export interface SvgOptions {
  /** Print each free edge's size next to its name (default true). */
  readonly showSizes?: boolean;
  /** Sums wider than this (in px) wrap onto more rows (default 960). */
  readonly maxWidth?: number;
}

interface Context {
  readonly showSizes: boolean;
  readonly maxWidth: number;
}

const NO_WISHES: Wishes = new Map();

const style = (kind: string, fill: string, stroke: string, extra: Partial<BoxStyle> = {}): BoxStyle => ({
  kind, fill, stroke, dash: null, radius: 6, padX: 9, padY: 6, minWidth: 34, minHeight: 30, titleColor: stroke, ...extra,
});

const STYLES = {
  variable: style("variable", "#e8f0fe", "#3b5b92"),
  constant: style("constant", "#f3f3f3", "#7a7a7a"),
  oneHot: style("oneHot", "#fdf1e6", "#a15c1c"),
  function: style("function", "#fffaf2", "#b06a00", { radius: 10, padX: 10, padY: 10 }),
  edgeFunction: style("edgeFunction", "#fbf5ff", "#7b3fa0", { radius: 10, padX: 10, padY: 10 }),
  rename: style("rename", "#f5fbf5", "#3f7f3f", { radius: 10, padX: 10, padY: 10 }),
  stopGradient: style("stopGradient", "none", "#8a8a8a", { radius: 10, padX: 10, padY: 10, dash: "5,3" }),
  group: style("sum", "none", "#9a9a9a", { radius: 12, padX: 10, padY: 8, dash: "3,3" }),
} as const;

/** Display form of a weight: a true minus sign, fractions for 1/n. */
const weightText = (w: number): string => formatNumber(w).replace(/^-/, "−");

// --- one block per expression kind ---------------------------------------------------------------

function block(e: Expr, wishes: Wishes, ctx: Context): Block {
  switch (e.kind) {
    case "variable":
      return leaf(e.name, null, e.edges, wishes, STYLES.variable, "variable");
    case "constant":
      return leaf(formatNumber(e.value), null, e.edges, wishes, STYLES.constant, "constant");
    case "delta":
      return copyDot(e.edges, wishes);
    case "oneHot":
      if (e.index.kind === "variable") return leaf(`onehot(${e.index.name})`, null, e.edges, wishes, STYLES.oneHot, "oneHot");
      return portBox(standalone(e.index, ctx), `onehot_${e.edge.name}`, e.edges, wishes, STYLES.oneHot, "oneHot");
    case "product":
      return network(e, wishes, ctx);
    case "sum":
      // A scaled expression is a network with a coefficient; a real sum gets a bracket box.
      if (e.terms.length === 1) return network(e, wishes, ctx);
      return portBox(sumRow(e, ctx), null, e.edges, wishes, STYLES.group, "sum");
    case "elementwise": {
      const title = e.param === null ? displayName(e.fn) : `${displayName(e.fn)} ${formatNumber(e.param)}`;
      if (e.args.length === 1 && !isRealSum(e.args[0])) {
        return passThroughFrame(block(e.args[0], wishes, ctx), title, STYLES.function, "elementwise", (n) => n, ctx.showSizes);
      }
      return portBox(argumentList(e.args, ctx), title, e.edges, wishes, STYLES.function, "elementwise");
    }
    case "edgeFunction": {
      const title = `${e.fn}_${e.edge}`;
      if (isRealSum(e.arg)) return portBox(sumRow(e.arg, ctx), title, e.edges, wishes, STYLES.edgeFunction, "edgeFunction");
      const removes = !EDGE_FUNCTIONS[e.fn].keepsEdge;
      const inner = block(e.arg, wishes, ctx);
      return passThroughFrame(inner, title, STYLES.edgeFunction, "edgeFunction", (n) => (removes && n === e.edge ? null : n), ctx.showSizes);
    }
    case "rename": {
      const mapping = new Map(e.mapping);
      const title = e.mapping.map(([from, to]) => `${from}→${to}`).join(", ");
      if (e.arg.kind === "variable") return leaf(e.arg.name, title, e.edges, wishes, STYLES.variable, "rename");
      const back = new Map(e.mapping.map(([from, to]) => [to, from]));
      const innerWishes = new Map([...wishes].map(([name, wish]) => [back.get(name) ?? name, wish]));
      const inner = block(e.arg, innerWishes, ctx);
      return passThroughFrame(inner, title, STYLES.rename, "rename", (n) => mapping.get(n) ?? n, ctx.showSizes);
    }
    case "stopGradient":
      return passThroughFrame(block(e.arg, wishes, ctx), "stop-gradient", STYLES.stopGradient, "stopGradient", (n) => n, ctx.showSizes);
  }
}

const isRealSum = (e: Expr): e is Sum => e.kind === "sum" && e.terms.length > 1;

function leaf(label: string, note: string | null, edges: readonly Edge[], wishes: Wishes, s: BoxStyle, kind: string): Block {
  const lines: { text: string; size: number; fill?: string; italic?: boolean }[] = [{ text: label, size: LABEL_SIZE }];
  if (note !== null) lines.push({ text: note, size: EDGE_SIZE, fill: s.stroke, italic: true });
  return portBox(textBlock(lines), null, edges, wishes, s, kind);
}

/** Arguments of a binary function, each drawn whole, separated by commas. */
function argumentList(args: readonly Expr[], ctx: Context): Block {
  const canvas = new Canvas();
  const drawings = args.map((a) => standalone(a, ctx));
  const height = Math.max(...drawings.map((d) => d.height));
  let x = 0;
  drawings.forEach((d, i) => {
    if (i > 0) {
      canvas.add(text(x + 4, height / 2 + 5, ",", { size: LABEL_SIZE + 2 }));
      x += 18;
    }
    canvas.place(d, x, (height - d.height) / 2);
    x += d.width;
  });
  return canvas.toBlock([]);
}

/** An expression drawn on its own: its free edges dangle with their labels; a sum is a row of terms. */
function standalone(e: Expr, ctx: Context): Block {
  if (isRealSum(e)) return sumRow(e, ctx);
  return attachStubs(block(e, NO_WISHES, ctx), () => true, ctx.showSizes);
}

// --- sums ------------------------------------------------------------------------------------------

/** Terms side by side with `+`/`−` and their weights; long sums wrap onto more rows. */
function sumRow(e: Sum, ctx: Context): Block {
  interface Item {
    readonly sign: string;
    readonly weight: string;
    readonly drawing: Block | null;
  }
  const items: Item[] = e.terms.map((term, i) => {
    let w = e.weights[i];
    let drawing: Block | null = null;
    if (term.kind === "constant" && term.edges.length === 0) w *= term.value;
    else drawing = standalone(term, ctx);
    const negative = w < 0;
    const sign = i === 0 ? (negative ? "−" : "") : negative ? "−" : "+";
    const magnitude = Math.abs(w);
    const weight = drawing === null ? formatNumber(magnitude) : magnitude === 1 ? "" : `${weightText(magnitude)} ·`;
    return { sign, weight, drawing };
  });
  const rows: Item[][] = [[]];
  let rowWidth = 0;
  const itemWidth = (it: Item): number =>
    (it.sign === "" ? 0 : 24) + (it.weight === "" ? 0 : textWidth(it.weight, LABEL_SIZE) + 6) + (it.drawing?.width ?? 0);
  for (const it of items) {
    const w = itemWidth(it);
    if (rows[rows.length - 1].length > 0 && rowWidth + w > ctx.maxWidth) {
      rows.push([]);
      rowWidth = 0;
    }
    rows[rows.length - 1].push(it);
    rowWidth += w;
  }
  const canvas = new Canvas();
  let top = 0;
  for (const row of rows) {
    const height = Math.max(LABEL_SIZE + 4, ...row.map((it) => it.drawing?.height ?? 0));
    const middle = top + height / 2;
    let x = 0;
    for (const it of row) {
      if (it.sign !== "") {
        canvas.group({ class: "operator" }, [text(x + 12, middle + 5, it.sign, { size: LABEL_SIZE + 3, anchor: "middle", fill: COLORS.operator })]);
        x += 24;
      }
      if (it.weight !== "") {
        canvas.group({ class: "weight" }, [text(x, middle + 5, it.weight, { size: LABEL_SIZE, fill: COLORS.operator })]);
        x += textWidth(it.weight, LABEL_SIZE) + 6;
      }
      if (it.drawing !== null) {
        canvas.place(it.drawing, x, middle - it.drawing.height / 2);
        x += it.drawing.width;
      }
    }
    top += height + 16;
  }
  return canvas.toBlock([]);
}

// --- products: networks --------------------------------------------------------------------------

/** An edge of the flattened network: the factors (atoms) it touches, and whether it is free. */
interface Hyperedge {
  readonly id: number;
  readonly name: string;
  readonly size: number;
  readonly external: boolean;
  readonly members: number[];
}

/** A factor that is not itself a product; its edge names map to network edges. */
interface Atom {
  readonly expr: Expr;
  readonly edgeOf: ReadonlyMap<string, number>;
}

/**
 * Flattens nested products into one network. Inner edge names are scoped to their product, so
 * every contracted edge becomes its own hyperedge even when names repeat. Scaled factors
 * (single-term sums) give their weight to the network's coefficient.
 */
function flatten(p: Product | Sum): { atoms: Atom[]; edges: Hyperedge[]; coefficient: number } {
  const atoms: Atom[] = [];
  const edges: Hyperedge[] = [];
  let coefficient = 1;
  const newEdge = (d: Edge, external: boolean): number => {
    edges.push({ id: edges.length, name: d.name, size: d.size, external, members: [] });
    return edges.length - 1;
  };
  const visit = (e: Expr, scope: ReadonlyMap<string, number>): void => {
    if (e.kind === "product") {
      const local = new Map<string, number>();
      for (const d of e.edges) local.set(d.name, scope.get(d.name)!);
      for (const f of e.factors) for (const d of f.edges) if (!local.has(d.name)) local.set(d.name, newEdge(d, false));
      for (const f of e.factors) visit(f, local);
      return;
    }
    if (e.kind === "sum" && e.terms.length === 1) {
      coefficient *= e.weights[0];
      visit(e.terms[0], scope);
      return;
    }
    const edgeOf = new Map<string, number>();
    for (const d of e.edges) {
      const id = scope.get(d.name)!;
      edgeOf.set(d.name, id);
      edges[id].members.push(atoms.length);
    }
    atoms.push({ expr: e, edgeOf });
  };
  visit(p, new Map(p.edges.map((d) => [d.name, newEdge(d, true)])));
  return { atoms, edges, coefficient };
}

/**
 * Orders atoms on the row: a greedy chain that puts each atom next to the one it shares most
 * wires with, starting from an atom whose free edge is wished on the left; reversed if that
 * honours more left/right wishes.
 */
function orderAtoms(atoms: readonly Atom[], edges: readonly Hyperedge[], wishes: Wishes): number[] {
  const n = atoms.length;
  // Edges joining exactly two atoms draw best between neighbours, so they weigh more.
  const shared = (a: number, b: number): number =>
    edges.reduce((s, h) => s + (h.members.includes(a) && h.members.includes(b) ? (h.members.length === 2 ? 2 : 1) : 0), 0);
  const freeWish = (side: Side): number[] =>
    edges.filter((h) => h.external && h.members.length === 1 && wishes.get(h.name)?.side === side).map((h) => h.members[0]);
  const leftAtoms = freeWish("left");
  const rightAtoms = freeWish("right");
  const order = [leftAtoms.length > 0 ? leftAtoms[0] : 0];
  const remaining = new Set(Array.from({ length: n }, (_, i) => i).filter((i) => i !== order[0]));
  while (remaining.size > 0) {
    const last = order[order.length - 1];
    let best = -1;
    let bestScore = [-1, -1];
    for (const r of remaining) {
      const score = [shared(last, r), order.reduce((s, o) => s + shared(o, r), 0)];
      if (score[0] > bestScore[0] || (score[0] === bestScore[0] && score[1] > bestScore[1])) {
        best = r;
        bestScore = score;
      }
    }
    order.push(best);
    remaining.delete(best);
  }
  const cost = (o: readonly number[]): number =>
    leftAtoms.filter((a) => a !== o[0]).length + rightAtoms.filter((a) => a !== o[o.length - 1]).length;
  const reversed = [...order].reverse();
  return cost(reversed) < cost(order) ? reversed : order;
}

/**
 * How an edge is drawn: free (dangling), capped (summed on one factor), straight (between
 * neighbours), arc (over the row), bridge (a free edge shared by neighbours: a dot on the
 * wire between them, dangling from there), hub (a dot under the row).
 */
type Role = "free" | "capped" | "straight" | "arc" | "bridge" | "hub";

function roleOf(h: Hyperedge, position: readonly number[]): Role {
  const m = h.members.length;
  if (h.external && m === 1) return "free";
  if (!h.external && m === 1) return "capped";
  const adjacent = m === 2 && Math.abs(position[h.members[0]] - position[h.members[1]]) === 1;
  if (!h.external && m === 2) return adjacent ? "straight" : "arc";
  return adjacent ? "bridge" : "hub";
}

const CAP = 22;
const ARC_RISE = 22;
const LEVEL = 18;
const HUB_DROP = 28;

/** A product drawn as a tensor network (see the module comment). */
function network(p: Product | Sum, wishes: Wishes, ctx: Context): Block {
  const { atoms, edges, coefficient } = flatten(p);
  const order = orderAtoms(atoms, edges, wishes);
  const n = order.length;
  const position: number[] = [];
  order.forEach((a, k) => (position[a] = k));
  const roles = edges.map((h) => roleOf(h, position));
  const hasArcs = roles.includes("arc");

  // Which wall of which atom each wire end uses, in an order that avoids crossings.
  const requests = atoms.map(() => new Map<string, { side: Side; key: number; labelWidth: number }>());
  const nameIn = (atom: number, h: Hyperedge): string => [...atoms[atom].edgeOf].find(([, id]) => id === h.id)![0];
  const request = (atom: number, h: Hyperedge, side: Side, key: number, width = 0): void => {
    requests[atom].set(nameIn(atom, h), { side, key, labelWidth: width });
  };
  edges.forEach((h, id) => {
    const [a, b] = h.members;
    switch (roles[id]) {
      case "straight":
      case "bridge": {
        const [l, r] = position[a] < position[b] ? [a, b] : [b, a];
        request(l, h, "right", id);
        request(r, h, "left", id);
        return;
      }
      case "arc":
        for (const m of h.members) {
          const other = m === a ? b : a;
          // Nested arcs: at each atom, ports toward the left come first, nearest first; then right ones, farthest first.
          const key = position[other] < position[m] ? -1000 + (n - position[other]) : n - position[other];
          request(m, h, "top", key);
        }
        return;
      case "hub": {
        const target = h.members.reduce((s, m) => s + position[m], 0) / h.members.length;
        for (const m of h.members) request(m, h, "bottom", target * 100 + id * 0.01);
        return;
      }
      case "capped":
        request(a, h, "bottom", position[a] * 100 + id * 0.01, textWidth(h.name, EDGE_SIZE) + 6);
        return;
      case "free": {
        const wish = wishes.get(h.name);
        const k = position[a];
        const feasible = (side: Side): boolean =>
          side === "bottom" || (side === "left" && k === 0) || (side === "right" && k === n - 1) || (side === "top" && !hasArcs);
        if (n === 1 && (wish === undefined || feasible(wish.side))) {
          // A lone atom places its own free edges (or follows the parent's wish).
          if (wish !== undefined) request(a, h, wish.side, wish.rank, wish.labelWidth);
          return;
        }
        const side: Side = wish !== undefined && feasible(wish.side) ? wish.side : k === 0 ? "left" : k === n - 1 ? "right" : "bottom";
        const width = side === "bottom" ? labelWidth(h.name, ctx.showSizes ? h.size : null) : 0;
        request(a, h, side, side === "bottom" ? k * 100 + id * 0.01 : (wish?.rank ?? 500 + id), width);
        return;
      }
    }
  });
  const blocks = atoms.map((atom, i) => {
    const sorted = [...requests[i]].sort(([, x], [, y]) => x.key - y.key);
    const atomWishes = new Map<string, PortWish>(sorted.map(([name, r], rank) => [name, { side: r.side, rank, labelWidth: r.labelWidth }]));
    return block(atom.expr, atomWishes, ctx);
  });

  // Place the atoms on a row; neighbours joined by straight wires are aligned on their first wire.
  const canvas = new Canvas();
  const placed: { x: number; y: number }[] = [];
  const portAt = (atom: number, h: Hyperedge): Port => {
    const name = nameIn(atom, h);
    const port = blocks[atom].ports.find((q) => q.name === name)!;
    return { ...port, x: port.x + placed[atom].x, y: port.y + placed[atom].y };
  };
  let x = 0;
  order.forEach((a, k) => {
    const b = blocks[a];
    if (k === 0) {
      placed[a] = { x: 0, y: -b.height / 2 };
      x = b.width;
      return;
    }
    const prev = order[k - 1];
    const between = edges.filter((h, id) => (roles[id] === "straight" || roles[id] === "bridge") && h.members.includes(prev) && h.members.includes(a));
    const gap = Math.max(40, ...between.map((h) => textWidth(h.name, EDGE_SIZE) + 18));
    let y = placed[prev].y + blocks[prev].height / 2 - b.height / 2;
    if (between.length > 0) {
      const first = between[0];
      const left = blocks[prev].ports.find((q) => q.name === nameIn(prev, first))!;
      const right = b.ports.find((q) => q.name === nameIn(a, first))!;
      if (left.side === "right" && right.side === "left") y = placed[prev].y + left.y - right.y;
    }
    placed[a] = { x: x + gap, y };
    x += gap + b.width;
  });
  order.forEach((a) => canvas.place(blocks[a], placed[a].x, placed[a].y));
  const rowTop = Math.min(...order.map((a) => placed[a].y));
  const rowBottom = Math.max(...order.map((a) => placed[a].y + blocks[a].height));

  const pending: { port: Port; atom: number | null }[] = [];
  drawStraightWires(canvas, edges, roles, portAt, hasArcs, wishes, pending);
  drawArcs(canvas, edges, roles, portAt, rowTop);
  drawHubs(canvas, edges, roles, portAt, rowBottom, pending);
  edges.forEach((h, id) => {
    if (roles[id] === "capped") drawCap(canvas, h.name, portAt(h.members[0], h));
    if (roles[id] === "free") pending.push({ port: { ...portAt(h.members[0], h), name: h.name }, atom: h.members[0] });
  });
  if (coefficient !== 1) drawCoefficient(canvas, coefficient, pending.some((q) => q.port.side === "left"), rowTop + (rowBottom - rowTop) / 2);
  return routeFreeEdges(canvas, pending, order, hasArcs);
}

/**
 * Wires between neighbours. A bridge (free edge of both) gets a dot halfway and dangles from
 * it: the upper half of the bridges in a gap go up when no arc is in the way, the rest down,
 * so two of them never cross.
 */
function drawStraightWires(
  canvas: Canvas,
  edges: readonly Hyperedge[],
  roles: readonly Role[],
  portAt: (a: number, h: Hyperedge) => Port,
  hasArcs: boolean,
  wishes: Wishes,
  pending: { port: Port; atom: number | null }[],
): void {
  const hasHubs = roles.includes("hub");
  const bridgesByGap = new Map<string, Hyperedge[]>();
  edges.forEach((h, id) => {
    if (roles[id] !== "straight" && roles[id] !== "bridge") return;
    const [p, q] = [portAt(h.members[0], h), portAt(h.members[1], h)].sort((u, v) => u.x - v.x);
    const reach = Math.max(16, Math.abs(q.x - p.x) / 2);
    const wire = cubic(p, toward(p, reach), toward(q, reach), q);
    if (roles[id] === "straight") {
      const label = text((p.x + q.x) / 2, (p.y + q.y) / 2 - 5, h.name, { size: EDGE_SIZE, anchor: "middle", fill: COLORS.edgeLabel });
      canvas.group({ class: "wire", "data-edge": h.name }, [wire, label]);
      return;
    }
    const key = [...h.members].sort((u, v) => u - v).join(",");
    bridgesByGap.set(key, [...(bridgesByGap.get(key) ?? []), h]);
    canvas.group({ class: "wire bridge", "data-edge": h.name }, [wire]);
  });
  for (const group of bridgesByGap.values()) {
    const placed = group.map((h) => [portAt(h.members[0], h), portAt(h.members[1], h)].sort((u, v) => u.x - v.x)).map(([p, q], k) => ({ h: group[k], p, q }));
    placed.sort((u, v) => u.p.y - v.p.y);
    // Up is free when no arc uses it; prefer it when copy dots already crowd the space below.
    const up = hasArcs ? 0 : hasHubs ? Math.ceil(placed.length / 2) : Math.floor(placed.length / 2);
    placed.forEach(({ h, p, q }, k) => {
      const center = { x: (p.x + q.x) / 2, y: (p.y + q.y) / 2 };
      canvas.group({ class: "wire bridge", "data-edge": h.name }, [dot(center, 4)]);
      // Inside a frame the parent's wish decides; a wish for a side wall cannot be met from a gap, so go down.
      const wish = wishes.get(h.name)?.side;
      const side: Side = wish === undefined ? (k < up ? "top" : "bottom") : wish === "top" && !hasArcs ? "top" : "bottom";
      pending.push({ port: { name: h.name, size: h.size, ...center, side }, atom: null });
    });
  }
}

/** A point `distance` outward from a port. */
function toward(p: Port, distance: number): Point {
  return { x: p.x + OUTWARD[p.side].dx * distance, y: p.y + OUTWARD[p.side].dy * distance };
}

/** Arcs over the row; an arc nested inside another (or overlapping it) sits on a lower level. */
function drawArcs(canvas: Canvas, edges: readonly Hyperedge[], roles: readonly Role[], portAt: (a: number, h: Hyperedge) => Port, rowTop: number): void {
  const arcs = edges
    .filter((_, id) => roles[id] === "arc")
    .map((h) => {
      const [p, q] = [portAt(h.members[0], h), portAt(h.members[1], h)].sort((u, v) => u.x - v.x);
      return { h, p, q, lo: p.x, hi: q.x };
    })
    .sort((a, b) => a.hi - a.lo - (b.hi - b.lo) || a.h.id - b.h.id);
  const levels: { lo: number; hi: number; level: number }[] = [];
  for (const arc of arcs) {
    let level = 0;
    while (levels.some((l) => l.level === level && arc.lo <= l.hi + 4 && l.lo <= arc.hi + 4)) level++;
    levels.push({ lo: arc.lo, hi: arc.hi, level });
    const peak = rowTop - ARC_RISE - level * LEVEL;
    const control = (peak - 0.125 * (arc.p.y + arc.q.y)) / 0.75;
    const c1 = arc.p.side === "top" ? { x: arc.p.x, y: control } : toward(arc.p, 30);
    const c2 = arc.q.side === "top" ? { x: arc.q.x, y: control } : toward(arc.q, 30);
    const wire = cubic(arc.p, c1, c2, arc.q);
    const label = text((arc.p.x + arc.q.x) / 2, peak - 4, arc.h.name, { size: EDGE_SIZE, anchor: "middle", fill: COLORS.edgeLabel });
    canvas.group({ class: "wire", "data-edge": arc.h.name }, [wire, label]);
  }
}

/** Copy tensors: a dot under the row joined to every factor sharing the edge; a free one continues down. */
function drawHubs(
  canvas: Canvas,
  edges: readonly Hyperedge[],
  roles: readonly Role[],
  portAt: (a: number, h: Hyperedge) => Port,
  rowBottom: number,
  pending: { port: Port; atom: number | null }[],
): void {
  const hubs = edges
    .filter((_, id) => roles[id] === "hub")
    .map((h) => {
      const ports = h.members.map((m) => portAt(m, h));
      const xs = ports.map((q) => q.x);
      return { h, ports, lo: Math.min(...xs), hi: Math.max(...xs), x: xs.reduce((s, v) => s + v, 0) / xs.length };
    })
    .sort((a, b) => a.hi - a.lo - (b.hi - b.lo) || a.h.id - b.h.id);
  const levels: { lo: number; hi: number; level: number }[] = [];
  for (const hub of hubs) {
    let level = 0;
    while (levels.some((l) => l.level === level && hub.lo <= l.hi + 30 && l.lo <= hub.hi + 30)) level++;
    levels.push({ lo: hub.lo, hi: hub.hi, level });
    const center = { x: hub.x, y: rowBottom + HUB_DROP + level * LEVEL };
    const items = hub.ports.map((q) => {
      const drop = Math.max(12, (center.y - q.y) * 0.55);
      return cubic(q, toward(q, drop), { x: center.x, y: center.y - drop }, center);
    });
    items.push(dot(center, 4));
    if (!hub.h.external) items.push(text(center.x + 8, center.y + 4, hub.h.name, { size: EDGE_SIZE, fill: COLORS.edgeLabel }));
    canvas.group({ class: hub.h.external ? "wire hub free" : "wire hub", "data-edge": hub.h.name }, items);
    if (hub.h.external) pending.push({ port: { name: hub.h.name, size: hub.h.size, x: center.x, y: center.y, side: "bottom" }, atom: null });
  }
}

/** An edge summed on one factor: a short wire capped by a dot (the all-ones vector). */
function drawCap(canvas: Canvas, name: string, p: Port): void {
  const end = toward(p, CAP);
  const vertical = p.side === "top" || p.side === "bottom";
  const mid = { x: (p.x + end.x) / 2, y: (p.y + end.y) / 2 };
  const label = vertical
    ? text(mid.x + 5, mid.y + 4, name, { size: EDGE_SIZE, fill: COLORS.edgeLabel })
    : text(mid.x, mid.y - 5, name, { size: EDGE_SIZE, anchor: "middle", fill: COLORS.edgeLabel });
  canvas.group({ class: "wire cap", "data-edge": name }, [segment(p, end), dot(end, 3), label]);
}

function drawCoefficient(canvas: Canvas, c: number, leftTaken: boolean, middle: number): void {
  const label = `${weightText(c)} ·`;
  const item = leftTaken
    ? text(canvas.x0, canvas.y0 - 6, label, { size: LABEL_SIZE, fill: COLORS.operator })
    : text(canvas.x0 - 8, middle + 5, label, { size: LABEL_SIZE, anchor: "end", fill: COLORS.operator });
  canvas.group({ class: "weight" }, [item]);
}

/**
 * Free edges leave the network: straight out where nothing is in the way (left of the first
 * atom, right of the last, down from anywhere), otherwise bent down under the row.
 */
function routeFreeEdges(canvas: Canvas, pending: readonly { port: Port; atom: number | null }[], order: readonly number[], hasArcs: boolean): Block {
  const first = order[0];
  const last = order[order.length - 1];
  const clear = (q: { port: Port; atom: number | null }): boolean => {
    switch (q.port.side) {
      case "left":
        return q.atom === first;
      case "right":
        return q.atom === last;
      case "top":
        return !hasArcs;
      case "bottom":
        return true;
    }
  };
  const straight: Port[] = [];
  const bent: Port[] = [];
  for (const q of pending) (clear(q) ? straight : bent).push(q.port);
  const hasBottom = pending.some((q) => q.port.side === "bottom" || !clear(q));
  const bottom = hasBottom ? canvas.y1 + 10 : canvas.y1;
  for (const q of bent) {
    const out = toward(q, 12);
    const end = { x: out.x, y: bottom };
    canvas.group({ class: "through", "data-edge": q.name }, [segment(q, out), cubic(out, toward({ ...q, ...out }, 10), { x: end.x, y: out.y + 30 }, end)]);
    straight.push({ ...q, x: end.x, y: end.y, side: "bottom" });
  }
  if (hasBottom) canvas.include([canvas.x0, canvas.y0, canvas.x1, bottom]);
  return extendToBoundary(canvas, straight);
}

// --- entry point -----------------------------------------------------------------------------------

/**
 * A tensor diagram of `e` as a standalone SVG document:
 * `toSvg(dot(x, W))` draws boxes x and W joined by a wire "in", with "batch" and "out" dangling.
 */
export function toSvg(e: Expr, options: SvgOptions = {}): string {
  const ctx: Context = { showSizes: options.showSizes ?? true, maxWidth: options.maxWidth ?? 960 };
  // Edges ricci named itself (`#0`) are labelled as the printers write them (`sample'`).
  const drawing = standalone(withReadableEdgeNames(e), ctx);
  const margin = 12;
  const width = Math.ceil(drawing.width + 2 * margin);
  const height = Math.ceil(drawing.height + 2 * margin);
  const body = serialize({ tag: "g", attrs: { transform: `translate(${margin},${margin})` }, children: drawing.parts }, "  ");
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT_FAMILY}">`,
    body,
    "</svg>",
  ].join("\n");
}
