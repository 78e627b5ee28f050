/**
 * One table of cases, one per primitive and public builder, shared by the float64 tests
 * (test/primitives.test.ts) and the compiled-tfjs tests (test/compiled-primitives.test.ts).
 *
 * Each case builds an expression from a few variables and gives an *independent* plain-JS
 * oracle for its value (explicit loops over row-major arrays; nothing from src/ is reused).
 * Input generators keep values away from kinks (relu, abs, min/max, clip, max along an edge)
 * so that central differences are valid there.
 */
import { type Expr, type Variable, abs, add, clip, constant, delta, div, dot, einsum, exp, fn, gather, greater, greaterEqual, linear, log, logSoftmax, logsumexp, max, maximum, mean, minimum, mul, neg, oneHot, pow, relu, rename, scale, sigmoid, softmax, softplus, sqrt, square, stopGradient, sub, sum, tanh, transpose, variable, where } from "../../src/index.js";
import { seededValues } from "./oracle.js";

// ---------------------------------------------------------------------------------------------
// Plain tensors for the oracles: edge names, sizes, row-major data.

export type Sizes = Readonly<Record<string, number>>;
export type Index = Readonly<Record<string, number>>;

export interface Plain {
  readonly names: readonly string[];
  readonly sizes: readonly number[];
  readonly data: Float64Array;
}

/** A tensor over `sizes` (row-major, in the record's key order) with entries f(index). */
export function tabulate(sizes: Sizes, f: (ix: Index) => number): Plain {
  const names = Object.keys(sizes);
  const dims = names.map((n) => sizes[n]);
  const total = dims.reduce((p, d) => p * d, 1);
  const data = new Float64Array(total);
  const counter = dims.map(() => 0);
  for (let flat = 0; flat < total; flat++) {
    const ix: Record<string, number> = {};
    names.forEach((n, k) => (ix[n] = counter[k]));
    data[flat] = f(ix);
    for (let k = dims.length - 1; k >= 0; k--) {
      counter[k]++;
      if (counter[k] < dims[k]) break;
      counter[k] = 0;
    }
  }
  return { names, sizes: dims, data };
}

/** The entry of `t` at a named index (extra names in `ix` are ignored). */
export function at(t: Plain, ix: Index): number {
  let offset = 0;
  t.names.forEach((n, k) => {
    const i = ix[n];
    if (i === undefined || i < 0 || i >= t.sizes[k]) throw new Error(`oracle: bad index ${n}=${i} for ${t.names.join(",")}`);
    offset = offset * t.sizes[k] + i;
  });
  return t.data[offset];
}

export function sumOver(n: number, f: (i: number) => number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += f(i);
  return s;
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** `t` mapped entrywise. */
export function mapPlain(t: Plain, f: (x: number, flat: number) => number): Plain {
  return { names: t.names, sizes: t.sizes, data: t.data.map(f) };
}

export function sizesOf(t: Plain): Record<string, number> {
  return Object.fromEntries(t.names.map((n, k) => [n, t.sizes[k]]));
}

/** The entries of `t` laid out in the axis order `names` (a transpose). */
export function permuteTo(t: Plain, names: readonly string[]): Float64Array {
  const sizes = Object.fromEntries(names.map((n) => [n, t.sizes[t.names.indexOf(n)]]));
  return tabulate(sizes, (ix) => at(t, ix)).data;
}

/** The row of `t` along `edge` through the index `ix`. */
function fibre(t: Plain, edge: string, ix: Index): number[] {
  return range(t.sizes[t.names.indexOf(edge)]).map((j) => at(t, { ...ix, [edge]: j }));
}

const logSumExpOf = (row: readonly number[]): number => {
  const m = Math.max(...row);
  return m + Math.log(sumOver(row.length, (j) => Math.exp(row[j] - m)));
};

// ---------------------------------------------------------------------------------------------
// Input generators.

/** Values for one input given its entry count, a seed, and the inputs generated before it. */
export type Gen = (n: number, seed: number, prior: Readonly<Record<string, Float64Array>>) => Float64Array;

const uniform = (lo: number, hi: number): Gen => (n, seed) => seededValues(n, seed, lo, hi);

const MARGIN = 0.05;

/** Moves `x` off every point of `avoid` by at least MARGIN (fails loudly if it cannot). */
function nudge(x: number, avoid: readonly number[]): number {
  let y = x;
  for (let tries = 0; tries < 50 && avoid.some((p) => Math.abs(y - p) < MARGIN); tries++) y += 1.7 * MARGIN;
  if (avoid.some((p) => Math.abs(y - p) < MARGIN)) throw new Error(`generator: cannot keep ${x} away from kinks`);
  return y;
}

/**
 * Uniform values kept MARGIN away from fixed `points`, from every value of the earlier
 * inputs named in `others`, and (with `distinct`) from each other.
 */
function awayFrom(points: readonly number[], opts: { lo?: number; hi?: number; others?: readonly string[]; distinct?: boolean } = {}): Gen {
  return (n, seed, prior) => {
    const avoid = [...points, ...(opts.others ?? []).flatMap((name) => [...prior[name]])];
    const out = new Float64Array(n);
    const raw = seededValues(n, seed, opts.lo ?? -1, opts.hi ?? 1);
    for (let i = 0; i < n; i++) {
      out[i] = nudge(raw[i], avoid);
      if (opts.distinct === true) avoid.push(out[i]);
    }
    return out;
  };
}

/** Integers in [0, k), each id at least once when n ≥ k. */
const integers = (k: number): Gen => (n, seed) => seededValues(n, seed, 0, 1).map((u, i) => (i < k ? (i * 7) % k : Math.floor(u * k)));

/** A 0/1 mask holding both values. */
const mask: Gen = (n, seed) => seededValues(n, seed, -1, 1).map((u, i) => (i === 0 ? 0 : i === 1 ? 1 : u < 0 ? 0 : 1));

// ---------------------------------------------------------------------------------------------
// The cases.

export interface InputSpec {
  readonly sizes: Sizes;
  /** Defaults to uniform in [-1, 1). */
  readonly gen?: Gen;
  /** Integer ids (oneHot/gather): not differentiable, never perturbed. */
  readonly integer?: boolean;
}

export interface PrimitiveCase {
  readonly name: string;
  /** Inputs by variable name, generated in this order. */
  readonly inputs: Readonly<Record<string, InputSpec>>;
  readonly build: (v: Readonly<Record<string, Variable>>) => Expr;
  /** The value, computed independently in plain JS. */
  readonly oracle: (x: Readonly<Record<string, Plain>>) => Plain;
  /** When the axis order of the result is part of the contract (einsum's out, transpose). */
  readonly edgeOrder?: readonly string[];
  /** Variables whose gradient is identically zero (comparisons, masks). */
  readonly zeroGradient?: readonly string[];
  /**
   * The gradient of Σ expr·R by hand, for cases where central differences of the value are
   * not the derivative (stopGradient).
   */
  readonly handGradient?: (x: Readonly<Record<string, Plain>>, r: Plain) => Readonly<Record<string, Plain>>;
}

// User functions, defined once (the fn registry is per process).
export const softplusLike = fn("softplusLike", "log(1 + exp(x))");
export const cubic = fn("cubic", "x^3 - 2*x + 1");
/** gelu's tanh approximation; √(2/π) written as a number (see the report: `pi` is rejected). */
export const geluTanh = fn("geluTanh", "0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x^3)))");

const unaryCase = (name: string, build: (x: Expr) => Expr, f: (x: number) => number, gen?: Gen): PrimitiveCase => ({
  name,
  inputs: { x: { sizes: { a: 2, b: 3 }, gen } },
  build: ({ x }) => build(x),
  oracle: ({ x }) => mapPlain(x, f),
});

const sigmoidOf = (x: number): number => 1 / (1 + Math.exp(-x));
const geluOf = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

export const cases: readonly PrimitiveCase[] = [
  // --- leaves -------------------------------------------------------------------------------
  {
    name: "variable",
    inputs: { x: { sizes: { a: 2, b: 3 } } },
    build: ({ x }) => x,
    oracle: ({ x }) => x,
    edgeOrder: ["a", "b"],
  },
  {
    name: "constant (scalar factor)",
    inputs: { x: { sizes: { a: 2, b: 3 } } },
    build: ({ x }) => mul(x, constant(0.7)),
    oracle: ({ x }) => mapPlain(x, (v) => 0.7 * v),
  },
  {
    name: "constant (filled tensor, broadcast)",
    inputs: { x: { sizes: { a: 2 } } },
    build: ({ x }) => add(x, constant(1.5, { c: 3 })),
    oracle: ({ x }) => tabulate({ a: 2, c: 3 }, ({ a }) => at(x, { a }) + 1.5),
  },
  {
    name: "constant (alone)",
    inputs: {},
    build: () => constant(-2.25, { a: 2, b: 2 }),
    oracle: () => tabulate({ a: 2, b: 2 }, () => -2.25),
    edgeOrder: ["a", "b"],
  },
  {
    name: "delta (identity, contracted)",
    inputs: { x: { sizes: { i: 3, b: 2 } } },
    build: ({ x }) => dot(x, delta({ i: 3, j: 3 }), "i"),
    oracle: ({ x }) => tabulate({ b: 2, j: 3 }, ({ b, j }) => at(x, { i: j, b })),
  },
  {
    name: "delta (three edges, diagonal embedding)",
    inputs: { x: { sizes: { i: 3 } } },
    build: ({ x }) => einsum([x, delta({ i: 3, j: 3, k: 3 })], ["j", "k"]),
    oracle: ({ x }) => tabulate({ j: 3, k: 3 }, ({ j, k }) => (j === k ? at(x, { i: j }) : 0)),
    edgeOrder: ["j", "k"],
  },
  {
    name: "oneHot",
    inputs: { ids: { sizes: { t: 4 }, gen: integers(3), integer: true }, y: { sizes: { t: 4, v: 3 } } },
    build: ({ ids, y }) => mul(oneHot(ids, { v: 3 }), y),
    oracle: ({ ids, y }) => tabulate({ t: 4, v: 3 }, ({ t, v }) => (at(ids, { t }) === v ? at(y, { t, v }) : 0)),
  },
  {
    name: "gather",
    inputs: { ids: { sizes: { t: 4 }, gen: integers(5), integer: true }, E: { sizes: { v: 5, d: 3 } } },
    build: ({ ids, E }) => gather(E, ids, "v"),
    oracle: ({ ids, E }) => tabulate({ t: 4, d: 3 }, ({ t, d }) => at(E, { v: at(ids, { t }), d })),
  },
  // --- products -----------------------------------------------------------------------------
  {
    name: "einsum (three factors, trace-like)",
    inputs: { A: { sizes: { i: 2, j: 3 } }, B: { sizes: { j: 3, k: 2 } }, C: { sizes: { k: 2, i: 2 } } },
    build: ({ A, B, C }) => einsum([A, B, C], ["i"]),
    oracle: ({ A, B, C }) =>
      tabulate({ i: 2 }, ({ i }) => sumOver(3, (j) => sumOver(2, (k) => at(A, { i, j }) * at(B, { j, k }) * at(C, { k, i })))),
    edgeOrder: ["i"],
  },
  {
    name: "einsum (shared edge kept, output order given)",
    inputs: { A: { sizes: { i: 2, j: 3 } }, B: { sizes: { i: 2, j: 3, k: 2 } } },
    build: ({ A, B }) => einsum([A, B], ["k", "i"]),
    oracle: ({ A, B }) => tabulate({ k: 2, i: 2 }, ({ k, i }) => sumOver(3, (j) => at(A, { i, j }) * at(B, { i, j, k }))),
    edgeOrder: ["k", "i"],
  },
  {
    name: "dot (all shared edges)",
    inputs: { x: { sizes: { b: 2, i: 3, k: 2 } }, W: { sizes: { i: 3, k: 2, o: 4 } } },
    build: ({ x, W }) => dot(x, W),
    oracle: ({ x, W }) =>
      tabulate({ b: 2, o: 4 }, ({ b, o }) => sumOver(3, (i) => sumOver(2, (k) => at(x, { b, i, k }) * at(W, { i, k, o })))),
  },
  {
    name: "dot (named edge only, other shared edge stays)",
    inputs: { x: { sizes: { b: 2, i: 3 } }, y: { sizes: { b: 2, i: 3, o: 2 } } },
    build: ({ x, y }) => dot(x, y, "i"),
    oracle: ({ x, y }) => tabulate({ b: 2, o: 2 }, ({ b, o }) => sumOver(3, (i) => at(x, { b, i }) * at(y, { b, i, o }))),
  },
  {
    name: "dot (scalar result)",
    inputs: { x: { sizes: { i: 4 } }, y: { sizes: { i: 4 } } },
    build: ({ x, y }) => dot(x, y),
    oracle: ({ x, y }) => tabulate({}, () => sumOver(4, (i) => at(x, { i }) * at(y, { i }))),
  },
  {
    name: "mul (broadcast by edge name)",
    inputs: { x: { sizes: { a: 2, b: 3 } }, y: { sizes: { b: 3, c: 2 } } },
    build: ({ x, y }) => mul(x, y),
    oracle: ({ x, y }) => tabulate({ a: 2, b: 3, c: 2 }, ({ a, b, c }) => at(x, { a, b }) * at(y, { b, c })),
  },
  {
    name: "mul (three operands, scalar variable)",
    inputs: { x: { sizes: { a: 2, b: 3 } }, s: { sizes: {} }, y: { sizes: { b: 3 } } },
    build: ({ x, s, y }) => mul(x, s, y),
    oracle: ({ x, s, y }) => tabulate({ a: 2, b: 3 }, ({ a, b }) => at(x, { a, b }) * at(s, {}) * at(y, { b })),
  },
  {
    name: "mul (same edges, different axis order)",
    inputs: { x: { sizes: { a: 2, b: 3 } }, y: { sizes: { b: 3, a: 2 } } },
    build: ({ x, y }) => mul(x, y),
    oracle: ({ x, y }) => tabulate({ a: 2, b: 3 }, ({ a, b }) => at(x, { a, b }) * at(y, { a, b })),
  },
  {
    name: "transpose",
    inputs: { W: { sizes: { i: 2, j: 3 } } },
    build: ({ W }) => transpose(W, ["j", "i"]),
    oracle: ({ W }) => tabulate({ j: 3, i: 2 }, ({ i, j }) => at(W, { i, j })),
    edgeOrder: ["j", "i"],
  },
  // --- sums ---------------------------------------------------------------------------------
  {
    name: "add (broadcast, three operands)",
    inputs: { x: { sizes: { a: 2, b: 3 } }, y: { sizes: { b: 3 } }, z: { sizes: { c: 2 } } },
    build: ({ x, y, z }) => add(x, y, z),
    oracle: ({ x, y, z }) => tabulate({ a: 2, b: 3, c: 2 }, ({ a, b, c }) => at(x, { a, b }) + at(y, { b }) + at(z, { c })),
  },
  {
    name: "add (number operand)",
    inputs: { x: { sizes: { a: 2, b: 3 } } },
    build: ({ x }) => add(x, 2.5),
    oracle: ({ x }) => mapPlain(x, (v) => v + 2.5),
  },
  {
    name: "sub (operands in different axis orders)",
    inputs: { x: { sizes: { a: 2, b: 3 } }, y: { sizes: { b: 3, a: 2 } } },
    build: ({ x, y }) => sub(x, y),
    oracle: ({ x, y }) => tabulate({ a: 2, b: 3 }, ({ a, b }) => at(x, { a, b }) - at(y, { a, b })),
  },
  {
    name: "sub (broadcast)",
    inputs: { x: { sizes: { b: 3 } }, y: { sizes: { a: 2, b: 3 } } },
    build: ({ x, y }) => sub(x, y),
    oracle: ({ x, y }) => tabulate({ b: 3, a: 2 }, ({ a, b }) => at(x, { b }) - at(y, { a, b })),
  },
  {
    name: "scale",
    inputs: { x: { sizes: { a: 2, b: 3 } } },
    build: ({ x }) => scale(x, -2.5),
    oracle: ({ x }) => mapPlain(x, (v) => -2.5 * v),
  },
  {
    name: "neg",
    inputs: { x: { sizes: { a: 2, b: 3 } } },
    build: ({ x }) => neg(x),
    oracle: ({ x }) => mapPlain(x, (v) => -v),
  },
  {
    name: "linear (weights, broadcast, number term)",
    inputs: { x: { sizes: { a: 2, b: 3 } }, y: { sizes: { b: 3 } } },
    build: ({ x, y }) => linear([x, y, 1.25], [0.5, -2, 3]),
    oracle: ({ x, y }) => tabulate({ a: 2, b: 3 }, ({ a, b }) => 0.5 * at(x, { a, b }) - 2 * at(y, { b }) + 3.75),
  },
  {
    name: "sum (all edges)",
    inputs: { x: { sizes: { a: 2, b: 3, c: 2 } } },
    build: ({ x }) => sum(x),
    oracle: ({ x }) => tabulate({}, () => sumOver(2, (a) => sumOver(3, (b) => sumOver(2, (c) => at(x, { a, b, c }))))),
  },
  {
    name: "sum (one named edge)",
    inputs: { x: { sizes: { a: 2, b: 3, c: 2 } } },
    build: ({ x }) => sum(x, "b"),
    oracle: ({ x }) => tabulate({ a: 2, c: 2 }, ({ a, c }) => sumOver(3, (b) => at(x, { a, b, c }))),
  },
  {
    name: "sum (list of edges)",
    inputs: { x: { sizes: { a: 2, b: 3, c: 2 } } },
    build: ({ x }) => sum(x, ["a", "c"]),
    oracle: ({ x }) => tabulate({ b: 3 }, ({ b }) => sumOver(2, (a) => sumOver(2, (c) => at(x, { a, b, c })))),
  },
  {
    name: "mean (all edges)",
    inputs: { x: { sizes: { a: 2, b: 3, c: 2 } } },
    build: ({ x }) => mean(x),
    oracle: ({ x }) => tabulate({}, () => sumOver(2, (a) => sumOver(3, (b) => sumOver(2, (c) => at(x, { a, b, c })))) / 12),
  },
  {
    name: "mean (named edges)",
    inputs: { x: { sizes: { a: 2, b: 3, c: 2 } } },
    build: ({ x }) => mean(x, ["a", "c"]),
    oracle: ({ x }) => tabulate({ b: 3 }, ({ b }) => sumOver(2, (a) => sumOver(2, (c) => at(x, { a, b, c }))) / 4),
  },
  // --- renaming -----------------------------------------------------------------------------
  {
    name: "rename",
    inputs: { x: { sizes: { a: 2, b: 3 } }, y: { sizes: { c: 2 } } },
    build: ({ x, y }) => mul(rename(x, { a: "c" }), y),
    oracle: ({ x, y }) => tabulate({ c: 2, b: 3 }, ({ c, b }) => at(x, { a: c, b }) * at(y, { c })),
  },
  {
    name: "rename (swap two edges)",
    inputs: { x: { sizes: { a: 2, b: 3 } }, y: { sizes: { a: 3 } } },
    // After the swap, x's old edge "a" (size 2) is called "b" and its old "b" (size 3) is "a".
    build: ({ x, y }) => mul(rename(x, { a: "b", b: "a" }), y),
    oracle: ({ x, y }) => tabulate({ b: 2, a: 3 }, ({ a, b }) => at(x, { a: b, b: a }) * at(y, { a })),
  },
  // --- elementwise --------------------------------------------------------------------------
  unaryCase("exp", exp, Math.exp),
  unaryCase("log", log, Math.log, uniform(0.2, 2)),
  unaryCase("sigmoid", sigmoid, sigmoidOf, uniform(-3, 3)),
  unaryCase("softplus", softplus, (x) => Math.log(1 + Math.exp(x)), uniform(-3, 3)),
  unaryCase("tanh", tanh, Math.tanh, uniform(-2, 2)),
  unaryCase("relu", relu, (x) => (x > 0 ? x : 0), awayFrom([0])),
  unaryCase("abs", abs, (x) => (x < 0 ? -x : x), awayFrom([0])),
  unaryCase("pow 2", (x) => pow(x, 2), (x) => x * x),
  unaryCase("pow 3", (x) => pow(x, 3), (x) => x * x * x),
  unaryCase("pow 0.5", (x) => pow(x, 0.5), Math.sqrt, uniform(0.2, 2)),
  unaryCase("pow -1", (x) => pow(x, -1), (x) => 1 / x, awayFrom([0], { lo: -2, hi: 2 })),
  unaryCase("pow -1 (negative values)", (x) => pow(x, -1), (x) => 1 / x, uniform(-2, -0.3)),
  unaryCase("sqrt", sqrt, Math.sqrt, uniform(0.2, 2)),
  unaryCase("square", square, (x) => x * x),
  {
    name: "div (broadcast)",
    inputs: { x: { sizes: { a: 2, b: 3 } }, y: { sizes: { b: 3 }, gen: uniform(0.3, 1.5) } },
    build: ({ x, y }) => div(x, y),
    oracle: ({ x, y }) => tabulate({ a: 2, b: 3 }, ({ a, b }) => at(x, { a, b }) / at(y, { b })),
  },
  {
    name: "minimum (same edges)",
    inputs: { x: { sizes: { a: 2, b: 3 } }, y: { sizes: { a: 2, b: 3 }, gen: awayFrom([], { others: ["x"] }) } },
    build: ({ x, y }) => minimum(x, y),
    oracle: ({ x, y }) => tabulate({ a: 2, b: 3 }, (ix) => Math.min(at(x, ix), at(y, ix))),
  },
  {
    name: "minimum (with a number)",
    inputs: { x: { sizes: { a: 2, b: 3 }, gen: awayFrom([0.3]) } },
    build: ({ x }) => minimum(x, 0.3),
    oracle: ({ x }) => mapPlain(x, (v) => (v < 0.3 ? v : 0.3)),
  },
  {
    name: "maximum (same edges)",
    inputs: { x: { sizes: { a: 2, b: 3 } }, y: { sizes: { a: 2, b: 3 }, gen: awayFrom([], { others: ["x"] }) } },
    build: ({ x, y }) => maximum(x, y),
    oracle: ({ x, y }) => tabulate({ a: 2, b: 3 }, (ix) => Math.max(at(x, ix), at(y, ix))),
  },
  {
    name: "maximum (broadcast against a scalar variable)",
    inputs: { s: { sizes: {}, gen: uniform(-0.2, 0.2) }, x: { sizes: { a: 2, b: 3 }, gen: awayFrom([], { others: ["s"] }) } },
    build: ({ s, x }) => maximum(x, s),
    oracle: ({ s, x }) => mapPlain(x, (v) => (v > at(s, {}) ? v : at(s, {}))),
  },
  {
    name: "clip (number bounds)",
    inputs: { x: { sizes: { a: 2, b: 4 }, gen: awayFrom([-0.5, 0.4]) } },
    build: ({ x }) => clip(x, -0.5, 0.4),
    oracle: ({ x }) => mapPlain(x, (v) => (v < -0.5 ? -0.5 : v > 0.4 ? 0.4 : v)),
  },
  {
    name: "clip (variable bounds)",
    inputs: {
      lo: { sizes: {}, gen: uniform(-0.5, -0.2) },
      hi: { sizes: {}, gen: uniform(0.2, 0.5) },
      x: { sizes: { a: 2, b: 4 }, gen: awayFrom([], { others: ["lo", "hi"] }) },
    },
    build: ({ x, lo, hi }) => clip(x, lo, hi),
    oracle: ({ x, lo, hi }) => mapPlain(x, (v) => Math.min(Math.max(v, at(lo, {})), at(hi, {}))),
  },
  {
    name: "where (0/1 mask variable, broadcast)",
    inputs: { m: { sizes: { a: 2, b: 3 }, gen: mask }, p: { sizes: { a: 2, b: 3 } }, q: { sizes: { b: 3 } } },
    build: ({ m, p, q }) => where(m, p, q),
    oracle: ({ m, p, q }) => tabulate({ a: 2, b: 3 }, ({ a, b }) => (at(m, { a, b }) === 1 ? at(p, { a, b }) : at(q, { b }))),
  },
  {
    name: "where (mask from greater)",
    inputs: { c: { sizes: { a: 2, b: 3 }, gen: awayFrom([0]) }, p: { sizes: { a: 2, b: 3 } }, q: { sizes: { a: 2, b: 3 } } },
    build: ({ c, p, q }) => where(greater(c, 0), p, q),
    oracle: ({ c, p, q }) => tabulate({ a: 2, b: 3 }, (ix) => (at(c, ix) > 0 ? at(p, ix) : at(q, ix))),
    zeroGradient: ["c"],
  },
  {
    name: "greater",
    inputs: { x: { sizes: { a: 2, b: 3 } }, y: { sizes: { b: 3 }, gen: awayFrom([], { others: ["x"] }) } },
    build: ({ x, y }) => greater(x, y),
    oracle: ({ x, y }) => tabulate({ a: 2, b: 3 }, ({ a, b }) => (at(x, { a, b }) > at(y, { b }) ? 1 : 0)),
    zeroGradient: ["x", "y"],
  },
  {
    name: "greaterEqual (with a number)",
    inputs: { x: { sizes: { a: 2, b: 3 }, gen: awayFrom([0.1]) } },
    build: ({ x }) => greaterEqual(x, 0.1),
    oracle: ({ x }) => mapPlain(x, (v) => (v >= 0.1 ? 1 : 0)),
    zeroGradient: ["x"],
  },
  {
    name: "greater as a mask",
    inputs: { x: { sizes: { a: 2, b: 3 } }, y: { sizes: { a: 2, b: 3 }, gen: awayFrom([], { others: ["x"] }) }, z: { sizes: { b: 3 } } },
    build: ({ x, y, z }) => mul(greater(x, y), z),
    oracle: ({ x, y, z }) => tabulate({ a: 2, b: 3 }, ({ a, b }) => (at(x, { a, b }) > at(y, { a, b }) ? at(z, { b }) : 0)),
    zeroGradient: ["x", "y"],
  },
  // --- edge functions -----------------------------------------------------------------------
  {
    name: "softmax (along a leading edge)",
    inputs: { x: { sizes: { v: 4, b: 3 }, gen: uniform(-3, 3) } },
    build: ({ x }) => softmax(x, "v"),
    oracle: ({ x }) =>
      tabulate({ v: 4, b: 3 }, (ix) => {
        const row = fibre(x, "v", ix);
        return Math.exp(at(x, ix)) / sumOver(row.length, (j) => Math.exp(row[j]));
      }),
  },
  {
    name: "softmax (along the last edge)",
    inputs: { x: { sizes: { b: 2, v: 5 }, gen: uniform(-3, 3) } },
    build: ({ x }) => softmax(x, "v"),
    oracle: ({ x }) =>
      tabulate({ b: 2, v: 5 }, (ix) => {
        const row = fibre(x, "v", ix);
        return Math.exp(at(x, ix)) / sumOver(row.length, (j) => Math.exp(row[j]));
      }),
  },
  {
    name: "logSoftmax",
    inputs: { x: { sizes: { b: 2, v: 5 }, gen: uniform(-3, 3) } },
    build: ({ x }) => logSoftmax(x, "v"),
    oracle: ({ x }) => tabulate({ b: 2, v: 5 }, (ix) => at(x, ix) - logSumExpOf(fibre(x, "v", ix))),
  },
  {
    name: "logsumexp",
    inputs: { x: { sizes: { b: 2, v: 5 }, gen: uniform(-3, 3) } },
    build: ({ x }) => logsumexp(x, "v"),
    oracle: ({ x }) => tabulate({ b: 2 }, ({ b }) => Math.log(sumOver(5, (v) => Math.exp(at(x, { b, v }))))),
  },
  {
    name: "logsumexp (large values, along a leading edge)",
    inputs: { x: { sizes: { v: 4, b: 2 }, gen: uniform(100, 104) } },
    build: ({ x }) => logsumexp(x, "v"),
    oracle: ({ x }) => tabulate({ b: 2 }, ({ b }) => logSumExpOf(fibre(x, "v", { b }))),
  },
  {
    name: "max (along an edge)",
    inputs: { x: { sizes: { b: 3, v: 4 }, gen: awayFrom([], { distinct: true }) } },
    build: ({ x }) => max(x, "v"),
    oracle: ({ x }) => tabulate({ b: 3 }, ({ b }) => Math.max(...fibre(x, "v", { b }))),
  },
  // --- gradients ----------------------------------------------------------------------------
  {
    name: "stopGradient",
    inputs: { x: { sizes: { a: 2, b: 3 } }, y: { sizes: { b: 3 } } },
    // sg(x²)·y + x: the value sees x², the derivative in x sees only the "+ x" term.
    build: ({ x, y }) => add(mul(stopGradient(square(x)), y), x),
    oracle: ({ x, y }) => tabulate({ a: 2, b: 3 }, ({ a, b }) => at(x, { a, b }) ** 2 * at(y, { b }) + at(x, { a, b })),
    handGradient: ({ x }, r) => ({
      x: tabulate({ a: 2, b: 3 }, (ix) => at(r, ix)),
      y: tabulate({ b: 3 }, ({ b }) => sumOver(2, (a) => at(x, { a, b }) ** 2 * at(r, { a, b }))),
    }),
  },
  // --- user functions ------------------------------------------------------------------------
  unaryCase("fn softplusLike = log(1 + exp(x))", softplusLike, (x) => Math.log(1 + Math.exp(x)), uniform(-3, 3)),
  unaryCase("fn cubic = x^3 - 2x + 1", cubic, (x) => x * x * x - 2 * x + 1, uniform(-2, 2)),
  unaryCase("fn gelu (tanh approximation)", geluTanh, geluOf, uniform(-3, 3)),
];

// ---------------------------------------------------------------------------------------------
// Instantiating a case.

export interface Instance {
  readonly vars: Readonly<Record<string, Variable>>;
  /** Float64 values by variable name (mutable: central differences perturb them in place). */
  readonly values: Record<string, Float64Array>;
  readonly plain: Readonly<Record<string, Plain>>;
  /** The variables one may differentiate with respect to (not integer ids). */
  readonly differentiable: readonly Variable[];
}

function seedOf(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** The variables and seeded values of a case (values transformed by `round`, e.g. to float32). */
export function instantiate(c: PrimitiveCase, round: (x: Float64Array) => Float64Array = (x) => x): Instance {
  const vars: Record<string, Variable> = {};
  const values: Record<string, Float64Array> = {};
  const plain: Record<string, Plain> = {};
  const differentiable: Variable[] = [];
  Object.entries(c.inputs).forEach(([name, spec], k) => {
    const v = variable(name, spec.sizes);
    const n = Object.values(spec.sizes).reduce((p, d) => p * d, 1);
    const gen = spec.gen ?? uniform(-1, 1);
    const data = round(Float64Array.from(gen(n, seedOf(c.name) + k, values)));
    vars[name] = v;
    values[name] = data;
    plain[name] = { names: Object.keys(spec.sizes), sizes: Object.values(spec.sizes), data };
    if (spec.integer !== true) differentiable.push(v);
  });
  return { vars, values, plain, differentiable };
}

/** Sizes of an expression's edges as a record, in its axis order. */
export function sizesOfExpr(e: Expr): Record<string, number> {
  return Object.fromEntries(e.edges.map((d) => [d.name, d.size]));
}
