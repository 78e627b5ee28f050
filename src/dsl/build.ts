/**
 * Building expressions: the public constructors. Each validates its input where the
 * expression is built (so errors name the edges and sizes involved) and applies only cheap
 * local clean-ups (drop zeros, fold scalar constants); `simplify` does the rest.
 */
import {
  type Edge,
  type EdgeSizes,
  checkEdgeName,
  edgesFrom,
  findEdge,
  formatEdges,
  hasEdge,
  unionEdges,
  volume,
} from "./edges.js";
import { RicciError, check } from "../errors.js";
import {
  type Constant,
  type EdgeFunctionName,
  type Expr,
  type Variable,
  intern,
} from "./expr.js";
import { EDGE_FUNCTIONS } from "./edgeFunctions.js";
import { ruleOf } from "./functions.js";

/** An expression or a plain number (a scalar constant). */
export type Operand = Expr | number;

export function lift(x: Operand): Expr {
  if (typeof x === "number") return constant(x);
  if (x === null || typeof x !== "object" || typeof (x as Expr).kind !== "string") {
    throw new RicciError(`expected a ricci expression or a number, got ${describe(x)}`);
  }
  return x;
}

function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array (wrap values in a variable and pass them to evaluate/compile)";
  return typeof x === "object" ? `an object with keys [${Object.keys(x as object).join(", ")}]` : `${typeof x} ${String(x)}`;
}

const isConstant = (e: Expr): e is Constant => e.kind === "constant";
const isFilledWith = (e: Expr, value: number): boolean => e.kind === "constant" && e.value === value;

function sameOrder(a: readonly Edge[], b: readonly Edge[]): boolean {
  return a.length === b.length && a.every((e, i) => e.name === b[i].name);
}

// --- leaves --------------------------------------------------------------------------------

/** A named input tensor. `variable("W", { in: 4, out: 3 })` — values come in axis order in, out. */
export function variable(name: string, sizes: EdgeSizes = {}): Variable {
  check(typeof name === "string" && /^[A-Za-z_][A-Za-z0-9_.']*$/.test(name), () => `variable name "${String(name)}" is not an identifier`);
  return intern({ kind: "variable", name, edges: edgesFrom(sizes, `variable "${name}"`) });
}

/** A tensor filled with `value`: `constant(0.5)` is a scalar, `constant(1, { t: 5 })` a vector of ones. */
export function constant(value: number, sizes: EdgeSizes | readonly Edge[] = {}): Constant {
  check(typeof value === "number", () => `constant: value must be a number, got ${describe(value)}`);
  const edges = Array.isArray(sizes) ? (sizes as Edge[]) : edgesFrom(sizes as EdgeSizes, "constant");
  return intern({ kind: "constant", value, edges });
}

export const zeros = (sizes: EdgeSizes | readonly Edge[] = {}): Constant => constant(0, sizes);
export const ones = (sizes: EdgeSizes | readonly Edge[] = {}): Constant => constant(1, sizes);

/** The copy tensor over edges of one size: `delta({ i: 3, j: 3 })` is the 3×3 identity. */
export function delta(sizes: EdgeSizes | readonly Edge[]): Expr {
  const edges = Array.isArray(sizes) ? (sizes as Edge[]) : edgesFrom(sizes as EdgeSizes, "delta");
  check(edges.length >= 1, () => "delta: needs at least one edge");
  check(
    edges.every((e) => e.size === edges[0].size),
    () => `delta: all edges must have the same size, got ${formatEdges(edges)}`,
  );
  if (edges.length === 1) return constant(1, edges);
  return intern({ kind: "delta", edges });
}

/** One-hot encoding of integer ids along a new edge: `oneHot(ids, { vocab: 64 })` has ids' edges plus vocab. */
export function oneHot(index: Expr, sizes: EdgeSizes): Expr {
  const [edge, ...rest] = edgesFrom(sizes, "oneHot");
  check(edge !== undefined && rest.length === 0, () => `oneHot: give exactly one new edge, got ${formatEdges(edgesFrom(sizes, "oneHot"))}`);
  check(!hasEdge(index.edges, edge.name), () => `oneHot: new edge "${edge.name}" already exists in the index ${formatEdges(index.edges)}`);
  return intern({ kind: "oneHot", index, edge, edges: [...index.edges, edge] });
}

/** Rows of `table` picked by integer ids along `edge`: `gather(E, ids, "vocab")` embeds tokens. */
export function gather(table: Expr, index: Expr, edge: string): Expr {
  const e = findEdge(table.edges, edge);
  if (e === undefined) throw new RicciError(`gather: edge "${edge}" is not an edge of the table ${formatEdges(table.edges)}`);
  return dot(oneHot(index, { [edge]: e.size }), table, edge);
}

// --- products --------------------------------------------------------------------------------

/**
 * Einsum: the product of `factors` keeping the edges named in `out` (in that order) and
 * summing over every other edge. The primitive behind `dot`, `mul` and `sum`.
 */
export function einsum(factors: readonly Operand[], out: readonly string[]): Expr {
  const fs = factors.map(lift);
  const all = unionEdges(fs.map((f) => f.edges), "product");
  check(new Set(out).size === out.length, () => `product: output edges [${out.join(", ")}] repeat a name`);
  const outEdges = out.map((name) => {
    const e = findEdge(all, name);
    if (e === undefined) throw new RicciError(`product: output edge "${name}" is not an edge of any factor ${fs.map((f) => formatEdges(f.edges)).join(" · ")}`);
    return e;
  });
  return productOf(fs, outEdges);
}

function productOf(factors: readonly Expr[], out: readonly Edge[]): Expr {
  if (factors.some((f) => isFilledWith(f, 0))) return zeros(out);
  // Scalar constants become a weight; factors that are all-ones tensors only broadcast.
  let coefficient = 1;
  const kept: Expr[] = [];
  for (const f of factors) {
    if (isConstant(f) && f.edges.length === 0) coefficient *= f.value;
    else kept.push(f);
  }
  const covered = (name: string, without: number): boolean =>
    kept.some((g, j) => j !== without && hasEdge(g.edges, name));
  for (let i = kept.length - 1; i >= 0; i--) {
    const f = kept[i];
    // A ones tensor is redundant when every edge it carries is also carried by another factor.
    if (isConstant(f) && f.value !== 1 && f.edges.every((e) => covered(e.name, i))) {
      coefficient *= f.value;
      kept.splice(i, 1);
    } else if (isFilledWith(f, 1) && f.edges.every((e) => covered(e.name, i))) {
      kept.splice(i, 1);
    }
  }
  if (kept.length === 0) return constant(coefficient, out);
  let result: Expr;
  if (kept.length === 1 && sameOrder(kept[0].edges, out)) result = kept[0];
  else result = intern({ kind: "product", factors: kept, edges: out });
  return coefficient === 1 ? result : scale(result, coefficient);
}

/**
 * Tensor contraction: `dot(a, b)` sums over every edge name a and b share and keeps the others;
 * `dot(a, b, "in")` contracts only the named edges (other shared edges stay, elementwise).
 */
export function dot(a: Operand, b: Operand, ...edges: string[]): Expr {
  const x = lift(a);
  const y = lift(b);
  const all = unionEdges([x.edges, y.edges], "dot");
  const shared = x.edges.filter((e) => hasEdge(y.edges, e.name)).map((e) => e.name);
  const contracted = edges.length === 0 ? shared : edges;
  for (const name of contracted) {
    check(
      shared.includes(name),
      () => `dot: cannot contract edge "${name}": it is not shared by ${formatEdges(x.edges)} and ${formatEdges(y.edges)}`,
    );
  }
  return productOf([x, y], all.filter((e) => !contracted.includes(e.name)));
}

/** Elementwise product; shared edges stay, the others broadcast by name. */
export function mul(...operands: Operand[]): Expr {
  check(operands.length >= 1, () => "mul: needs at least one operand");
  const fs = operands.map(lift);
  return productOf(fs, unionEdges(fs.map((f) => f.edges), "mul"));
}

/** Reorders the edges of `e` (a transpose): `transpose(W, ["out", "in"])`. */
export function transpose(e: Expr, order: readonly string[]): Expr {
  check(
    order.length === e.edges.length && order.every((n) => hasEdge(e.edges, n)),
    () => `transpose: order [${order.join(", ")}] must list each edge of ${formatEdges(e.edges)} once`,
  );
  return einsum([e], order);
}

// --- sums ------------------------------------------------------------------------------------

/** Weighted sum Σ wᵢ·termᵢ; terms broadcast by edge name. */
export function linear(terms: readonly Operand[], weights: readonly number[], op = "linear"): Expr {
  check(terms.length === weights.length, () => `${op}: one weight per term, got ${terms.length} terms and ${weights.length} weights`);
  const ts = terms.map(lift);
  const edges = unionEdges(ts.map((t) => t.edges), op);
  const keptTerms: Expr[] = [];
  const keptWeights: number[] = [];
  let constantPart = 0;
  const push = (t: Expr, w: number): void => {
    if (w === 0 || isFilledWith(t, 0)) return;
    if (isConstant(t) && t.edges.length === 0) {
      constantPart += w * t.value;
      return;
    }
    if (t.kind === "sum") {
      // Merge nested sums so chains of add() stay flat.
      t.terms.forEach((u, i) => push(u, w * t.weights[i]));
      return;
    }
    const at = keptTerms.indexOf(t);
    if (at >= 0) keptWeights[at] += w;
    else {
      keptTerms.push(t);
      keptWeights.push(w);
    }
  };
  ts.forEach((t, i) => push(t, weights[i]));
  if (constantPart !== 0) {
    keptTerms.push(constant(constantPart));
    keptWeights.push(1);
  }
  for (let i = keptTerms.length - 1; i >= 0; i--) {
    if (keptWeights[i] === 0) {
      keptTerms.splice(i, 1);
      keptWeights.splice(i, 1);
    }
  }
  if (keptTerms.length === 0) return zeros(edges);
  if (keptTerms.length === 1 && keptWeights[0] === 1 && sameOrder(keptTerms[0].edges, edges)) return keptTerms[0];
  const only = keptTerms[0];
  if (keptTerms.length === 1 && only.kind === "constant" && only.edges.length === edges.length) {
    return constant(only.value * keptWeights[0], edges);
  }
  return intern({ kind: "sum", terms: keptTerms, weights: keptWeights, edges });
}

/** a + b (+ …), broadcasting by edge name. */
export function add(...operands: Operand[]): Expr {
  return linear(operands, operands.map(() => 1), "add");
}

/** a − b. */
export function sub(a: Operand, b: Operand): Expr {
  return linear([a, b], [1, -1], "sub");
}

/** c·e for a number c. */
export function scale(e: Operand, c: number): Expr {
  check(typeof c === "number", () => `scale: the factor must be a number, got ${describe(c)}`);
  const x = lift(e);
  if (isConstant(x)) return constant(x.value * c, x.edges);
  return linear([x], [c], "scale");
}

export const neg = (e: Operand): Expr => scale(e, -1);

/** Sum over the named edges, or over all edges when none are named. */
export function sum(e: Operand, edges?: string | readonly string[]): Expr {
  const x = lift(e);
  const names = reductionEdges(x, edges, "sum");
  return productOf([x], x.edges.filter((d) => !names.includes(d.name)));
}

/** Mean over the named edges, or over all edges when none are named. */
export function mean(e: Operand, edges?: string | readonly string[]): Expr {
  const x = lift(e);
  const names = reductionEdges(x, edges, "mean");
  const count = volume(x.edges.filter((d) => names.includes(d.name)));
  return scale(sum(x, names), 1 / count);
}

function reductionEdges(x: Expr, edges: string | readonly string[] | undefined, op: string): string[] {
  const names = edges === undefined ? x.edges.map((e) => e.name) : typeof edges === "string" ? [edges] : [...edges];
  for (const name of names) {
    check(hasEdge(x.edges, name), () => `${op}: edge "${name}" is not an edge of ${formatEdges(x.edges)}`);
  }
  return names;
}

// --- renaming --------------------------------------------------------------------------------

/** Relabels edges: `rename(W, { in: "hidden" })`. */
export function rename(e: Expr, mapping: Readonly<Record<string, string>>): Expr {
  const pairs = Object.entries(mapping).filter(([from, to]) => from !== to);
  for (const [from, to] of pairs) {
    check(hasEdge(e.edges, from), () => `rename: edge "${from}" is not an edge of ${formatEdges(e.edges)}`);
    checkEdgeName(to, "rename");
  }
  const targets = pairs.map(([, to]) => to);
  check(new Set(targets).size === targets.length, () => `rename: two edges renamed onto the same name in ${JSON.stringify(mapping)}`);
  const renamedAway = new Set(pairs.map(([from]) => from));
  for (const to of targets) {
    check(
      !hasEdge(e.edges, to) || renamedAway.has(to),
      () => `rename: cannot rename onto "${to}": it is already an edge of ${formatEdges(e.edges)}`,
    );
  }
  if (pairs.length === 0) return e;
  return renameUnchecked(e, new Map(pairs));
}

/** Rename without user-facing validation (internal: autodiff and simplify rename freely). */
export function renameUnchecked(e: Expr, mapping: ReadonlyMap<string, string>): Expr {
  let base = e;
  let map = new Map([...mapping].filter(([from, to]) => from !== to && hasEdge(e.edges, from)));
  if (e.kind === "rename") {
    // Compose with an inner rename: a→b then b→c is a→c.
    const composed = new Map<string, string>();
    for (const [from, to] of e.mapping) composed.set(from, map.get(to) ?? to);
    for (const [from, to] of map) if (!e.mapping.some(([, t]) => t === from)) composed.set(from, to);
    base = e.arg;
    map = new Map([...composed].filter(([from, to]) => from !== to));
  }
  if (map.size === 0) return base;
  if (isConstant(base)) return constant(base.value, base.edges.map((d) => ({ name: map.get(d.name) ?? d.name, size: d.size })));
  const edges = base.edges.map((d) => ({ name: map.get(d.name) ?? d.name, size: d.size }));
  const mappingList = [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return intern({ kind: "rename", arg: base, mapping: mappingList, edges });
}

// --- elementwise functions ------------------------------------------------------------------

/** Applies a function from the elementwise table (see functions.ts); constants fold. */
export function apply(fn: string, args: readonly Operand[], param: number | null = null): Expr {
  const rule = ruleOf(fn);
  const xs = args.map(lift);
  check(xs.length === rule.arity, () => `${fn}: expects ${rule.arity} argument(s), got ${xs.length}`);
  const edges = unionEdges(xs.map((x) => x.edges), fn);
  if (xs.every((x) => isConstant(x))) {
    const [x, y] = xs as Constant[];
    return constant(rule.value(x.value, y?.value ?? 0, param), edges);
  }
  return intern({ kind: "elementwise", fn, param, args: xs, edges });
}

export const exp = (e: Operand): Expr => apply("exp", [e]);
export const log = (e: Operand): Expr => apply("log", [e]);
export const sigmoid = (e: Operand): Expr => apply("sigmoid", [e]);
export const softplus = (e: Operand): Expr => apply("softplus", [e]);
export const tanh = (e: Operand): Expr => apply("tanh", [e]);
export const relu = (e: Operand): Expr => apply("relu", [e]);
export const abs = (e: Operand): Expr => apply("abs", [e]);
export const sign = (e: Operand): Expr => apply("sign", [e]);
/** 1 where e > 0, else 0. */
export const step = (e: Operand): Expr => apply("step", [e]);

/** e^p for a number p: `pow(e, 0.5)`. */
export function pow(e: Operand, p: number): Expr {
  check(typeof p === "number" && Number.isFinite(p), () => `pow: the exponent must be a finite number, got ${describe(p)}`);
  if (p === 1) return lift(e);
  if (p === 0) return constant(1, lift(e).edges);
  return apply("pow", [e], p);
}

export const sqrt = (e: Operand): Expr => pow(e, 0.5);
export const square = (e: Operand): Expr => pow(e, 2);
/** a / b, elementwise. */
export const div = (a: Operand, b: Operand): Expr => mul(a, pow(b, -1));

export const minimum = (a: Operand, b: Operand): Expr => apply("minimum", [a, b]);
export const maximum = (a: Operand, b: Operand): Expr => apply("maximum", [a, b]);
/** 1 where a > b, else 0 (zero gradient). */
export const greater = (a: Operand, b: Operand): Expr => apply("greater", [a, b]);
/** 1 where a ≥ b, else 0 (zero gradient). */
export const greaterEqual = (a: Operand, b: Operand): Expr => apply("greaterEqual", [a, b]);
export const less = (a: Operand, b: Operand): Expr => greater(b, a);
export const lessEqual = (a: Operand, b: Operand): Expr => greaterEqual(b, a);

/** Clamps e to [lo, hi]: `clip(ratio, 0.8, 1.2)`; the gradient is zero outside. */
export function clip(e: Operand, lo: Operand, hi: Operand): Expr {
  const [l, h] = [lift(lo), lift(hi)];
  if (l.kind === "constant" && h.kind === "constant") {
    check(l.value <= h.value, () => `clip: lower bound ${l.value} exceeds upper bound ${h.value}`);
  }
  return minimum(maximum(e, lo), hi);
}

/** cond·a + (1 − cond)·b for a 0/1 mask `cond`. */
export function where(cond: Operand, a: Operand, b: Operand): Expr {
  const [c, x, y] = [lift(cond), lift(a), lift(b)];
  unionEdges([c.edges, x.edges, y.edges], "where");
  return add(mul(c, x), mul(sub(1, c), y));
}

// --- edge functions ---------------------------------------------------------------------------

function edgeFunction(fn: EdgeFunctionName, e: Operand, edge: string): Expr {
  const x = lift(e);
  check(typeof edge === "string", () => `${fn}: name the edge to act along, e.g. ${fn}(logits, "vocab")`);
  check(hasEdge(x.edges, edge), () => `${fn}: edge "${edge}" is not an edge of ${formatEdges(x.edges)}`);
  const edges = EDGE_FUNCTIONS[fn].keepsEdge ? x.edges : x.edges.filter((d) => d.name !== edge);
  return intern({ kind: "edgeFunction", fn, edge, arg: x, edges });
}

/** softmax along one edge: `softmax(logits, "vocab")`. */
export const softmax = (e: Operand, edge: string): Expr => edgeFunction("softmax", e, edge);
/** log-softmax along one edge, computed stably. */
export const logSoftmax = (e: Operand, edge: string): Expr => edgeFunction("logSoftmax", e, edge);
/** log Σ exp along one edge (removes it), computed stably. */
export const logsumexp = (e: Operand, edge: string): Expr => edgeFunction("logsumexp", e, edge);
/** Maximum along one edge (removes it); the sub-gradient goes to every maximiser. */
export const max = (e: Operand, edge: string): Expr => edgeFunction("max", e, edge);

// --- gradients ----------------------------------------------------------------------------------

/** The value of e with zero derivative. */
export function stopGradient(e: Operand): Expr {
  const x = lift(e);
  if (x.kind === "constant" || x.kind === "delta" || x.kind === "stopGradient") return x;
  return intern({ kind: "stopGradient", arg: x, edges: x.edges });
}
