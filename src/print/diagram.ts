/**
 * Geometry for tensor diagrams: a few SVG parts, blocks with ports, and the three shapes every
 * drawing is made of — a box with ports on its walls, a frame that wires pass through, and
 * labelled dangling stubs. `svg.ts` decides which shape each expression kind gets.
 *
 * A Block is a drawing in local coordinates (0..width, 0..height) whose free edges leave it at
 * ports on its boundary, each facing outward on one side.
 */

export type Side = "left" | "right" | "top" | "bottom";

export const SIDES: readonly Side[] = ["left", "right", "bottom", "top"];

/** Unit step outward from a side. */
export const OUTWARD: Readonly<Record<Side, { readonly dx: number; readonly dy: number }>> = {
  left: { dx: -1, dy: 0 },
  right: { dx: 1, dy: 0 },
  top: { dx: 0, dy: -1 },
  bottom: { dx: 0, dy: 1 },
};

export interface Port {
  readonly name: string;
  readonly size: number;
  readonly x: number;
  readonly y: number;
  readonly side: Side;
}

export type Attrs = Readonly<Record<string, string | number>>;

export type Part =
  | { readonly tag: "rect" | "circle" | "path"; readonly attrs: Attrs }
  | { readonly tag: "text"; readonly attrs: Attrs; readonly text: string }
  | { readonly tag: "g"; readonly attrs: Attrs; readonly children: readonly Part[] };

export interface Block {
  readonly width: number;
  readonly height: number;
  readonly parts: readonly Part[];
  readonly ports: readonly Port[];
}

/** Where a parent would like an edge to leave a child: a side, an order along it, room for a label. */
export interface PortWish {
  readonly side: Side;
  readonly rank: number;
  /** Width of a label drawn next to this port, so neighbouring ports keep their labels apart. */
  readonly labelWidth: number;
}

export type Wishes = ReadonlyMap<string, PortWish>;

// --- style -----------------------------------------------------------------------------------

export const FONT_FAMILY = "DejaVu Sans Mono, Menlo, Consolas, monospace";
export const LABEL_SIZE = 13;
export const EDGE_SIZE = 11;
export const DIM_SIZE = 9;
export const TITLE_SIZE = 11;
/** Distance between neighbouring ports on a wall: one edge label high plus air. */
export const PORT_GAP = 22;
export const STUB = 20;

export const COLORS = {
  wire: "#333333",
  edgeLabel: "#1f6f43",
  dim: "#8a8a8a",
  text: "#1d2433",
  operator: "#1d2433",
} as const;

export interface BoxStyle {
  readonly kind: string;
  readonly fill: string;
  readonly stroke: string;
  readonly dash: string | null;
  readonly radius: number;
  readonly padX: number;
  readonly padY: number;
  readonly minWidth: number;
  readonly minHeight: number;
  readonly titleColor: string;
}

/** Monospace advance width: every character is 0.6 em, which keeps layout estimates exact enough. */
export function textWidth(s: string, size: number): number {
  return [...s].length * size * 0.6;
}

const round = (v: number): number => Math.round(v * 100) / 100;

// --- parts -----------------------------------------------------------------------------------

type Bounds = [x0: number, y0: number, x1: number, y1: number];

export interface TextOptions {
  readonly size: number;
  readonly anchor?: "start" | "middle" | "end";
  readonly fill?: string;
  readonly italic?: boolean;
}

/** A text part and its bounds; (x, y) is the anchor point on the baseline. */
export function text(x: number, y: number, content: string, o: TextOptions): { part: Part; bounds: Bounds } {
  const w = textWidth(content, o.size);
  const anchor = o.anchor ?? "start";
  const x0 = anchor === "start" ? x : anchor === "middle" ? x - w / 2 : x - w;
  const attrs: Record<string, string | number> = { x: round(x), y: round(y), "font-size": o.size, fill: o.fill ?? COLORS.text };
  if (anchor !== "start") attrs["text-anchor"] = anchor;
  if (o.italic === true) attrs["font-style"] = "italic";
  return { part: { tag: "text", attrs, text: content }, bounds: [x0, y - o.size * 0.8, x0 + w, y + o.size * 0.25] };
}

export interface Point {
  readonly x: number;
  readonly y: number;
}

/** A cubic Bézier wire and its bounds (sampled, so arcs are not padded by their control points). */
export function cubic(p0: Point, c1: Point, c2: Point, p1: Point, stroke = COLORS.wire): { part: Part; bounds: Bounds } {
  const d = `M${round(p0.x)},${round(p0.y)} C${round(c1.x)},${round(c1.y)} ${round(c2.x)},${round(c2.y)} ${round(p1.x)},${round(p1.y)}`;
  const bounds: Bounds = [Infinity, Infinity, -Infinity, -Infinity];
  for (let i = 0; i <= 20; i++) {
    const t = i / 20;
    const u = 1 - t;
    const x = u * u * u * p0.x + 3 * u * u * t * c1.x + 3 * u * t * t * c2.x + t * t * t * p1.x;
    const y = u * u * u * p0.y + 3 * u * u * t * c1.y + 3 * u * t * t * c2.y + t * t * t * p1.y;
    bounds[0] = Math.min(bounds[0], x);
    bounds[1] = Math.min(bounds[1], y);
    bounds[2] = Math.max(bounds[2], x);
    bounds[3] = Math.max(bounds[3], y);
  }
  return { part: { tag: "path", attrs: { d, fill: "none", stroke, "stroke-width": 1.4 } }, bounds };
}

/** A straight wire segment. */
export function segment(a: Point, b: Point): { part: Part; bounds: Bounds } {
  return {
    part: { tag: "path", attrs: { d: `M${round(a.x)},${round(a.y)} L${round(b.x)},${round(b.y)}`, fill: "none", stroke: COLORS.wire, "stroke-width": 1.4 } },
    bounds: [Math.min(a.x, b.x), Math.min(a.y, b.y), Math.max(a.x, b.x), Math.max(a.y, b.y)],
  };
}

export function dot(c: Point, r: number): { part: Part; bounds: Bounds } {
  return {
    part: { tag: "circle", attrs: { cx: round(c.x), cy: round(c.y), r, fill: COLORS.wire } },
    bounds: [c.x - r, c.y - r, c.x + r, c.y + r],
  };
}

export function rect(x: number, y: number, w: number, h: number, style: BoxStyle): { part: Part; bounds: Bounds } {
  const attrs: Record<string, string | number> = {
    x: round(x), y: round(y), width: round(w), height: round(h), rx: style.radius, fill: style.fill, stroke: style.stroke, "stroke-width": 1.5,
  };
  if (style.dash !== null) attrs["stroke-dasharray"] = style.dash;
  return { part: { tag: "rect", attrs }, bounds: [x, y, x + w, y + h] };
}

/** A block moved to (dx, dy), as one part (for grouping it with others) and its moved ports. */
export function placed(b: Block, dx: number, dy: number): { part: Part; bounds: Bounds; ports: Port[] } {
  return {
    part: { tag: "g", attrs: { transform: `translate(${round(dx)},${round(dy)})` }, children: b.parts },
    bounds: [dx, dy, dx + b.width, dy + b.height],
    ports: b.ports.map((p) => ({ ...p, x: p.x + dx, y: p.y + dy })),
  };
}

/** Collects parts and their bounds; `toBlock` moves the drawing so its bounds start at the origin. */
export class Canvas {
  readonly parts: Part[] = [];
  x0 = Infinity;
  y0 = Infinity;
  x1 = -Infinity;
  y1 = -Infinity;

  include([x0, y0, x1, y1]: Bounds): void {
    this.x0 = Math.min(this.x0, x0);
    this.y0 = Math.min(this.y0, y0);
    this.x1 = Math.max(this.x1, x1);
    this.y1 = Math.max(this.y1, y1);
  }

  add(item: { part: Part; bounds: Bounds }): void {
    this.parts.push(item.part);
    this.include(item.bounds);
  }

  /** Adds a group of parts under one `<g>` (a wire with its label, a box with its text). */
  group(attrs: Attrs, items: readonly { part: Part; bounds: Bounds }[]): void {
    this.parts.push({ tag: "g", attrs, children: items.map((i) => i.part) });
    for (const i of items) this.include(i.bounds);
  }

  /** Places a block with its top-left corner at (dx, dy); returns its ports moved along. */
  place(b: Block, dx: number, dy: number): Port[] {
    const item = placed(b, dx, dy);
    if (b.parts.length > 0) this.parts.push(item.part);
    this.include(item.bounds);
    return item.ports;
  }

  get empty(): boolean {
    return this.x0 > this.x1;
  }

  toBlock(ports: readonly Port[]): Block {
    if (this.empty) return { width: 0, height: 0, parts: [], ports };
    const dx = -this.x0;
    const dy = -this.y0;
    const moved = dx === 0 && dy === 0 ? this.parts : [{ tag: "g" as const, attrs: { transform: `translate(${round(dx)},${round(dy)})` }, children: this.parts }];
    return {
      width: this.x1 - this.x0,
      height: this.y1 - this.y0,
      parts: moved,
      ports: ports.map((p) => ({ ...p, x: p.x + dx, y: p.y + dy })),
    };
  }
}

// --- shapes ------------------------------------------------------------------------------------

interface Edge {
  readonly name: string;
  readonly size: number;
}

interface Slot {
  readonly edge: Edge;
  readonly rank: number;
  readonly labelWidth: number;
}

/** Which wall each edge leaves by: wishes first; the rest go round the box left, right, bottom, top. */
export function assignSides(edges: readonly Edge[], wishes: Wishes): Record<Side, Slot[]> {
  const sides: Record<Side, Slot[]> = { left: [], right: [], top: [], bottom: [] };
  let unwished = 0;
  for (const edge of edges) {
    const wish = wishes.get(edge.name);
    if (wish !== undefined) sides[wish.side].push({ edge, rank: wish.rank, labelWidth: wish.labelWidth });
    else {
      sides[SIDES[unwished % SIDES.length]].push({ edge, rank: 1000 + unwished, labelWidth: 0 });
      unwished++;
    }
  }
  for (const side of SIDES) sides[side].sort((a, b) => a.rank - b.rank || (a.edge.name < b.edge.name ? -1 : 1));
  return sides;
}

/** Spacing of ports along a horizontal wall: wide enough for the labels hung under them. */
function horizontalGap(slots: readonly Slot[]): number {
  return Math.max(PORT_GAP, ...slots.map((s) => s.labelWidth + 8));
}

/**
 * A box (rounded rectangle) around `content`, with one port per edge on the walls the
 * wishes ask for. Variables, constants and frames around whole sub-drawings use it.
 */
export function portBox(content: Block, title: string | null, edges: readonly Edge[], wishes: Wishes, style: BoxStyle, kind: string): Block {
  const sides = assignSides(edges, wishes);
  const topGap = horizontalGap(sides.top);
  const bottomGap = horizontalGap(sides.bottom);
  const titleHeight = title === null ? 0 : TITLE_SIZE + 6;
  const titleWidth = title === null ? 0 : textWidth(title, TITLE_SIZE) + 2 * style.padX;
  // One port on a wall needs no room for neighbours' labels.
  const wallWidth = (n: number, gap: number): number => (n <= 1 ? 0 : n * gap);
  const width = Math.max(content.width + 2 * style.padX, titleWidth, wallWidth(sides.top.length, topGap), wallWidth(sides.bottom.length, bottomGap), style.minWidth);
  const height = Math.max(content.height + 2 * style.padY + titleHeight, Math.max(sides.left.length, sides.right.length) * PORT_GAP + 8, style.minHeight);
  const canvas = new Canvas();
  const items = [rect(0, 0, width, height, style)];
  if (title !== null) items.push(text(style.padX, style.padY + TITLE_SIZE * 0.8, title, { size: TITLE_SIZE, fill: style.titleColor }));
  const bodyTop = titleHeight + (height - titleHeight - content.height) / 2;
  items.push(placed(content, (width - content.width) / 2, bodyTop));
  canvas.group({ class: "box", "data-kind": kind }, items);
  const along = (n: number, k: number, gap: number, middle: number): number => middle + (k - (n - 1) / 2) * gap;
  const ports: Port[] = [];
  const bodyMiddle = titleHeight > 0 && sides.left.length + sides.right.length <= 1 ? bodyTop + content.height / 2 : height / 2;
  sides.left.forEach((s, k) => ports.push({ ...s.edge, side: "left", x: 0, y: along(sides.left.length, k, PORT_GAP, bodyMiddle) }));
  sides.right.forEach((s, k) => ports.push({ ...s.edge, side: "right", x: width, y: along(sides.right.length, k, PORT_GAP, bodyMiddle) }));
  sides.top.forEach((s, k) => ports.push({ ...s.edge, side: "top", y: 0, x: along(sides.top.length, k, topGap, width / 2) }));
  sides.bottom.forEach((s, k) => ports.push({ ...s.edge, side: "bottom", y: height, x: along(sides.bottom.length, k, bottomGap, width / 2) }));
  return canvas.toBlock(ports);
}

/** Centred lines of text as a block (the label inside a box). */
export function textBlock(lines: readonly { text: string; size: number; fill?: string; italic?: boolean }[]): Block {
  const canvas = new Canvas();
  let y = 0;
  const width = Math.max(...lines.map((l) => textWidth(l.text, l.size)));
  for (const line of lines) {
    y += line.size;
    canvas.add(text(width / 2, y - line.size * 0.2, line.text, { size: line.size, anchor: "middle", fill: line.fill, italic: line.italic }));
    y += 2;
  }
  canvas.include([0, 0, width, y - 2]);
  return canvas.toBlock([]);
}

/** The copy tensor (delta) as a dot: all its wires meet at one point. */
export function copyDot(edges: readonly Edge[], wishes: Wishes): Block {
  const sides = assignSides(edges, wishes);
  const r = 4.5;
  const canvas = new Canvas();
  canvas.group({ class: "copy", "data-kind": "delta" }, [dot({ x: 6, y: 6 }, r)]);
  canvas.include([0, 0, 12, 12]);
  const at: Record<Side, Point> = { left: { x: 6 - r, y: 6 }, right: { x: 6 + r, y: 6 }, top: { x: 6, y: 6 - r }, bottom: { x: 6, y: 6 + r } };
  const ports = SIDES.flatMap((side) => sides[side].map((s) => ({ ...s.edge, side, ...at[side] })));
  return canvas.toBlock(ports);
}

/** The label at the end of a dangling wire: the edge name, then its size in small grey. */
function edgeLabel(name: string, size: number | null, x: number, y: number, anchor: "start" | "middle" | "end"): { part: Part; bounds: Bounds }[] {
  const nameWidth = textWidth(name, EDGE_SIZE);
  const sizeText = size === null ? "" : String(size);
  const total = nameWidth + (size === null ? 0 : 2 + textWidth(sizeText, DIM_SIZE));
  const x0 = anchor === "start" ? x : anchor === "middle" ? x - total / 2 : x - total;
  const items = [text(x0, y, name, { size: EDGE_SIZE, fill: COLORS.edgeLabel })];
  if (size !== null) items.push(text(x0 + nameWidth + 2, y + 3, sizeText, { size: DIM_SIZE, fill: COLORS.dim }));
  return items;
}

export function labelWidth(name: string, size: number | null): number {
  return textWidth(name, EDGE_SIZE) + (size === null ? 0 : 2 + textWidth(String(size), DIM_SIZE));
}

/**
 * Hangs a labelled dangling wire on each selected port (free edges of a whole drawing, or the
 * edge a reduction removes inside its frame); the other ports are extended to the new boundary.
 * Labels under (or over) a drawing are staggered into rows so neighbours never overlap.
 */
export function attachStubs(b: Block, selected: (p: Port) => boolean, showSizes: boolean): Block {
  const canvas = new Canvas();
  const ports = canvas.place(b, 0, 0);
  const stubbed = ports.filter(selected);
  const rest = ports.filter((p) => !selected(p));
  const rowOf = new Map<Port, number>();
  for (const side of ["top", "bottom"] as const) {
    const rows: number[] = [];
    const onSide = stubbed.filter((p) => p.side === side).sort((a, c) => a.x - c.x);
    for (const p of onSide) {
      const half = labelWidth(p.name, showSizes ? p.size : null) / 2;
      let row = rows.findIndex((right) => right + 6 <= p.x - half);
      if (row < 0) row = rows.length;
      rows[row] = p.x + half;
      rowOf.set(p, row);
    }
  }
  for (const p of stubbed) {
    const { dx, dy } = OUTWARD[p.side];
    const length = STUB + (rowOf.get(p) ?? 0) * 15;
    const end = { x: p.x + dx * length, y: p.y + dy * length };
    const size = showSizes ? p.size : null;
    const label =
      p.side === "left"
        ? edgeLabel(p.name, size, end.x - 4, end.y + 4, "end")
        : p.side === "right"
          ? edgeLabel(p.name, size, end.x + 4, end.y + 4, "start")
          : p.side === "bottom"
            ? edgeLabel(p.name, size, end.x, end.y + EDGE_SIZE, "middle")
            : edgeLabel(p.name, size, end.x, end.y - 5, "middle");
    canvas.group({ class: "free-edge", "data-edge": p.name }, [segment(p, end), ...label]);
  }
  return extendToBoundary(canvas, rest);
}

/** Extends each port straight out to the canvas boundary on its side, and makes the block. */
export function extendToBoundary(canvas: Canvas, ports: readonly Port[]): Block {
  const out: Port[] = [];
  const bounds = { x0: canvas.x0, y0: canvas.y0, x1: canvas.x1, y1: canvas.y1 };
  for (const p of ports) {
    const end =
      p.side === "left" ? { x: bounds.x0, y: p.y } : p.side === "right" ? { x: bounds.x1, y: p.y } : p.side === "top" ? { x: p.x, y: bounds.y0 } : { x: p.x, y: bounds.y1 };
    if (end.x !== p.x || end.y !== p.y) canvas.group({ class: "through", "data-edge": p.name }, [segment(p, end)]);
    out.push({ ...p, ...end });
  }
  return canvas.toBlock(out);
}

/**
 * A frame around a drawing whose wires pass through its walls (a function applied to its
 * argument). `outerName` renames a passing edge, or returns null for an edge the function
 * removes: that one ends inside the frame with its label.
 */
export function passThroughFrame(inner: Block, title: string, style: BoxStyle, kind: string, outerName: (inner: string) => string | null, showSizes: boolean): Block {
  const body = attachStubs(inner, (p) => outerName(p.name) === null, showSizes);
  const header = TITLE_SIZE + 10;
  const titleRight = style.padX + textWidth(title, TITLE_SIZE) + 8;
  // Wires leaving through the top wall must clear the title.
  const topPorts = body.ports.filter((p) => p.side === "top").map((p) => p.x);
  const shift = topPorts.length === 0 ? 0 : Math.max(0, titleRight - style.padX - Math.min(...topPorts));
  const width = Math.max(style.padX * 2 + shift + body.width, titleRight + style.padX);
  const height = header + body.height + style.padY;
  const left = style.padX + shift + (width - 2 * style.padX - shift - body.width) / 2;
  const canvas = new Canvas();
  const inside = placed(body, left, header);
  canvas.group({ class: "frame", "data-kind": kind }, [
    rect(0, 0, width, height, style),
    text(style.padX, 4 + TITLE_SIZE * 0.8, title, { size: TITLE_SIZE, fill: style.titleColor }),
    inside,
  ]);
  const ports = inside.ports;
  const renamed = ports.map((p) => ({ ...p, name: outerName(p.name) ?? p.name }));
  return extendToBoundary(canvas, renamed);
}

// --- serialisation -------------------------------------------------------------------------------

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!);
}

function attrsText(attrs: Attrs): string {
  return Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`)
    .join("");
}

export function serialize(part: Part, indent = ""): string {
  switch (part.tag) {
    case "text":
      return `${indent}<text${attrsText(part.attrs)}>${escapeXml(part.text)}</text>`;
    case "g":
      if (part.children.length === 0) return `${indent}<g${attrsText(part.attrs)}/>`;
      return `${indent}<g${attrsText(part.attrs)}>\n${part.children.map((c) => serialize(c, `${indent}  `)).join("\n")}\n${indent}</g>`;
    default:
      return `${indent}<${part.tag}${attrsText(part.attrs)}/>`;
  }
}
