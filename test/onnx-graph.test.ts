/**
 * OnnxGraph (src/lower/onnx/graph.ts) on its own, with ONNX Runtime as the oracle: the static
 * shape the graph records for each op it emits is the shape ONNX Runtime computes; an operand is
 * expanded before an elementwise op exactly when it broadcasts along an inner axis and the
 * expanded copy stays within 1/16 of the result; constants are stored once.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { UNARY_OPS, type UnaryOp } from "../src/dsl/pointwise.js";
import { type FloatType, OnnxGraph } from "../src/lower/onnx/graph.js";
import { type OnnxRuntime, loadOnnxRuntime } from "../src/lower/onnx/runtime.js";
import { seededValues } from "./helpers/oracle.js";

let runtime: OnnxRuntime;

beforeAll(() => {
  const loaded = loadOnnxRuntime();
  if (typeof loaded === "string") throw new Error(loaded);
  runtime = loaded;
});

const volume = (dims: readonly number[]): number => dims.reduce((k, n) => k * n, 1);

/**
 * Runs `graph` on `inputs` (name → dims, filled with seeded values, or name → values of one
 * axis); returns each named value's dims and data as ONNX Runtime computed them.
 */
function runGraph(graph: OnnxGraph, inputs: Record<string, readonly number[]>, values: Record<string, string>, data: Record<string, readonly number[]> = {}) {
  const type = graph.dtype;
  const outputs = Object.entries(values).map(([name, value]) => ({ name, value, dims: graph.shapeOf(value) }));
  const model = graph.encode("shapes", Object.entries(inputs).map(([name, dims]) => ({ name, type, dims })), outputs);
  const session = runtime.session(model);
  const array = type === "float32" ? Float32Array : Float64Array;
  const feeds = Object.fromEntries(Object.entries(inputs).map(([name, dims], k) =>
    [name, runtime.tensor(type, array.from(data[name] ?? seededValues(volume(dims), k + 1)), dims)]));
  const result = session.run(feeds, Object.keys(values));
  session.dispose();
  return result;
}

describe("OnnxGraph's recorded shapes are the shapes ONNX Runtime computes", () => {
  it("for every op kind it emits", () => {
    const g = new OnnxGraph("float32");
    const inputs = { a: [2, 3, 4], bias: [4], column: [3, 1], m: [2, 4, 5], w: [4, 5], index: [2, 3] };
    const a = g.input("a", inputs.a);
    const bias = g.input("bias", inputs.bias);
    const column = g.input("column", inputs.column);
    const values: Record<string, string> = {
      reshape: g.reshape(a, [6, 4]),
      transpose: g.transpose(a, [2, 0, 1]),
      expand: g.broadcastTo(column, [2, 3, 4]),
      matMulBatched: g.matMul(a, g.input("m", inputs.m)),
      matMulBroadcast: g.matMul(a, g.input("w", inputs.w)),
      sumMiddle: g.sum(a, [1]),
      sumOuter: g.sum(a, [0, 2]),
      sumAll: g.sum(a, [0, 1, 2]),
      logSumExp: g.logSumExp(a, 1),
      maxLast: g.max(a, 2),
      maxNegative: g.max(a, -1),
      softmax: g.softmax(a),
      logSoftmax: g.logSoftmax(a),
      exp: g.unary("exp", a),
      rsqrt: g.unary("rsqrt", g.unary("abs", a)),
      square: g.unary("square", a),
      addBias: g.binary("add", a, bias),
      mulColumn: g.binary("mul", column, a),
      subScalar: g.binary("sub", a, g.scalar(1)),
      divScalarFirst: g.binary("div", g.scalar(2), a),
      pow: g.binary("pow", g.unary("abs", a), g.scalar(1.5)),
      minimum: g.binary("minimum", a, bias),
      maximum: g.binary("maximum", column, bias),
      greater: g.binary("greater", a, bias),
      greaterEqual: g.binary("greaterEqual", bias, column),
      oneHot: g.oneHot(g.unary("abs", g.input("index", inputs.index)), 5),
      constant: g.constant(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
    };
    const computed = runGraph(g, inputs, values);
    const recorded = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, [...g.shapeOf(v)]]));
    const actual = Object.fromEntries(Object.keys(values).map((k) => [k, [...computed[k].dims]]));
    expect(recorded).toEqual(actual);
    expect(recorded).toMatchObject({
      reshape: [6, 4], transpose: [4, 2, 3], expand: [2, 3, 4], matMulBatched: [2, 3, 5], matMulBroadcast: [2, 3, 5],
      sumMiddle: [2, 4], sumOuter: [3], sumAll: [], logSumExp: [2, 4], maxLast: [2, 3], maxNegative: [2, 3],
      addBias: [2, 3, 4], mulColumn: [2, 3, 4], maximum: [3, 4], greaterEqual: [3, 4], oneHot: [2, 3, 5], constant: [2, 3],
    });
  });

  it("for elementwise ops whose first operand is the smaller one", () => {
    const g = new OnnxGraph("float32");
    const inputs = { bias: [4], a: [2, 3, 4] };
    const bias = g.input("bias", inputs.bias);
    const a = g.input("a", inputs.a);
    const values: Record<string, string> = {
      add: g.binary("add", bias, a),
      sub: g.binary("sub", g.scalar(1), a),
      mul: g.binary("mul", bias, a),
      pow: g.binary("pow", g.scalar(2), a),
      minimum: g.binary("minimum", bias, a),
      maximum: g.binary("maximum", bias, a),
      greater: g.binary("greater", bias, a),
      greaterEqual: g.binary("greaterEqual", g.scalar(0), a),
    };
    expect(g.opCounts().Expand).toBeUndefined();
    const computed = runGraph(g, inputs, values);
    for (const [k, v] of Object.entries(values)) {
      expect([k, [...g.shapeOf(v)]]).toEqual([k, [2, 3, 4]]);
      expect([k, [...computed[k].dims]]).toEqual([k, [2, 3, 4]]);
    }
  });

  it("for a batched MatMul whose batch axes broadcast", () => {
    const g = new OnnxGraph("float32");
    const inputs = { p: [1, 3, 2, 4], q: [5, 1, 4, 2] };
    const values = { product: g.matMul(g.input("p", inputs.p), g.input("q", inputs.q)) };
    expect([...runGraph(g, inputs, values).product.dims]).toEqual([...g.shapeOf(values.product)]);
    expect(g.shapeOf(values.product)).toEqual([5, 3, 2, 2]);
  });

  it("and a value with no recorded shape is an error naming it", () => {
    expect(() => new OnnxGraph("float32").shapeOf("nowhere")).toThrow('OnnxGraph: no shape recorded for "nowhere"');
  });
});

describe("an operand broadcast along an inner axis is expanded when the copy is small", () => {
  /** RoPE's case: a table [1, seq, 1, pair, 1] against queries [batch, seq, head, pair, 2]. */
  function rope(batch: number) {
    const g = new OnnxGraph("float32");
    const inputs = { table: [1, 3, 1, 2, 1], queries: [batch, 3, 2, 2, 2] };
    const values = { rotated: g.binary("mul", g.input("table", inputs.table), g.input("queries", inputs.queries)) };
    return { g, inputs, values };
  }

  it("at 1/16 of the result: one Expand to the table's non-leading extent", () => {
    const { g, inputs, values } = rope(16);
    expect(g.opCounts()).toEqual({ Expand: 1, Mul: 1 });
    const out = runGraph(g, inputs, values).rotated;
    expect([...out.dims]).toEqual([16, 3, 2, 2, 2]);
    const table = seededValues(6, 1);
    const queries = seededValues(16 * 24, 2);
    // rotated[b, s, h, p, t] = table[s, p] · queries[b, s, h, p, t]
    const want = queries.map((q, i) => q * table[Math.floor(i / 8) % 3 * 2 + Math.floor(i / 2) % 2]);
    out.data.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
  });

  it("above 1/16: broadcast in place", () => {
    expect(rope(15).g.opCounts()).toEqual({ Mul: 1 });
  });

  it("never along leading axes only", () => {
    const g = new OnnxGraph("float32");
    g.binary("add", g.input("bias", [4]), g.input("a", [64, 3, 4]));
    g.binary("add", g.input("row", [1, 3, 4]), g.input("b", [64, 3, 4]));
    expect(g.opCounts()).toEqual({ Add: 2 });
  });

  it("on either side of the op", () => {
    const g = new OnnxGraph("float32");
    const a = g.input("a", [64, 3, 4]);
    const column = g.input("column", [3, 1]);
    const left = g.binary("sub", column, a);
    const right = g.binary("sub", a, column);
    expect(g.opCounts()).toEqual({ Expand: 2, Sub: 2 });
    const out = runGraph(g, { a: [64, 3, 4], column: [3, 1] }, { left, right });
    out.left.data.forEach((v, i) => expect(v).toBeCloseTo(-out.right.data[i], 6));
  });
});

describe("the encoded model", () => {
  const holds = (model: Uint8Array, text: string): boolean => Buffer.from(model).includes(text);
  const io = (g: OnnxGraph, outputs: Record<string, string>) =>
    g.encode("m", [{ name: "x", type: "float32", dims: [3] }], Object.entries(outputs).map(([name, value]) => ({ name, value, dims: g.shapeOf(value) })));

  it("names a node's value after the one output that is it, with no copy", () => {
    const g = new OnnxGraph("float32");
    const y = g.unary("exp", g.input("x", [3]));
    const model = io(g, { y });
    expect(holds(model, "Identity")).toBe(false);
    expect(holds(model, y)).toBe(false);
    const session = runtime.session(model);
    const out = session.run({ x: runtime.tensor("float32", Float32Array.of(0, 1, 2), [3]) }, ["y"]).y;
    expect(Array.from(out.data)).toEqual(Array.from(Float32Array.of(1, Math.E, Math.exp(2))));
    session.dispose();
  });

  it("copies an input, or a value two outputs share, through an Identity", () => {
    const g = new OnnxGraph("float32");
    const x = g.input("x", [3]);
    const y = g.unary("exp", x);
    const model = io(g, { same: x, first: y, second: y });
    expect(holds(model, "Identity")).toBe(true);
    const session = runtime.session(model);
    const out = session.run({ x: runtime.tensor("float32", Float32Array.of(0, 1, 2), [3]) }, ["same", "first", "second"]);
    expect(Array.from(out.same.data)).toEqual([0, 1, 2]);
    expect(Array.from(out.first.data)).toEqual(Array.from(out.second.data));
    session.dispose();
  });

  it("holds only the constants some node uses", () => {
    const g = new OnnxGraph("float32");
    const unused = g.scalar(42);
    const used = g.scalar(2);
    const y = g.binary("mul", g.input("x", [3]), used);
    const model = io(g, { y });
    expect(holds(model, used)).toBe(true);
    expect(holds(model, unused)).toBe(false);
  });

  it("in float32, an op with an ONNX kernel is one node of that kernel", () => {
    for (const [op, kernel] of [["softplus", "Softplus"], ["sinh", "Sinh"], ["cosh", "Cosh"], ["tan", "Tan"], ["erf", "Erf"]] as const) {
      const g = new OnnxGraph("float32");
      g.unary(op, g.input("x", [3]));
      expect(g.opCounts()).toEqual({ [kernel]: 1 });
    }
  });
});

describe("constants are stored once", () => {
  it("the same scalar, shape or axes give the same value; -0 is 0", () => {
    const g = new OnnxGraph("float32");
    expect(g.scalar(1)).toBe(g.scalar(1));
    expect(g.scalar(-0)).toBe(g.scalar(0));
    expect(g.scalar(2)).not.toBe(g.scalar(3));
    expect(g.int64s([1, 2])).toBe(g.int64s([1, 2]));
    expect(g.int64s([1, 2])).not.toBe(g.int64s([12]));
  });

  it("int64 and float constants of the same numbers stay apart", () => {
    const g = new OnnxGraph("float32");
    const axes = g.int64s([1]);
    const one = g.scalar(1);
    expect(axes).not.toBe(one);
    expect(g.shapeOf(one)).toEqual([]);
  });
});

/** erf by its Taylor series: exact to double precision for |x| < 1. */
function erf(x: number): number {
  let term = x;
  let total = x;
  for (let n = 1; n < 40; n++) {
    term *= (-x * x) / n;
    total += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * total;
}

const reference: Record<UnaryOp, (x: number) => number> = {
  exp: Math.exp, log: Math.log, sqrt: Math.sqrt, rsqrt: (x) => 1 / Math.sqrt(x), reciprocal: (x) => 1 / x, square: (x) => x * x,
  abs: Math.abs, sign: Math.sign, neg: (x) => -x, tanh: Math.tanh, sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  softplus: (x) => Math.log1p(Math.exp(x)), relu: (x) => Math.max(x, 0), sinh: Math.sinh, cosh: Math.cosh, sin: Math.sin,
  cos: Math.cos, tan: Math.tan, atan: Math.atan, asin: Math.asin, acos: Math.acos, erf, log1p: Math.log1p, expm1: Math.expm1,
};
/** Ops defined on positive inputs only. */
const positiveOnly = new Set<UnaryOp>(["log", "sqrt", "rsqrt"]);

describe.each(["float32", "float64"] as const)("every unary op in %s agrees with Math", (dtype: FloatType) => {
  it.each(UNARY_OPS.map((op) => [op]))("%s", (op) => {
    const xs = positiveOnly.has(op) ? [0.05, 0.3, 0.7, 0.95] : [-0.9, -0.3, 0.2, 0.7];
    const g = new OnnxGraph(dtype);
    const out = runGraph(g, { x: [4] }, { y: g.unary(op, g.input("x", [4])) }, { x: xs }).y;
    expect(out.data).toBeInstanceOf(dtype === "float32" ? Float32Array : Float64Array);
    // In float64, atan/asin/acos/erf are computed in float32 (ONNX Runtime has no float64 kernel).
    const tolerance = dtype === "float64" && !["atan", "asin", "acos", "erf"].includes(op) ? 1e-12 : 1e-6;
    xs.forEach((x, i) => expect(Math.abs(out.data[i] - reference[op](x))).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(reference[op](x)))));
  });

  it("softplus stays finite and exact where exp(x) overflows", () => {
    const g = new OnnxGraph(dtype);
    const xs = dtype === "float32" ? [100, -100] : [800, -800];
    const out = runGraph(g, { x: [2] }, { y: g.unary("softplus", g.input("x", [2])) }, { x: xs }).y;
    expect(out.data[0]).toBeCloseTo(xs[0], 3);
    expect(out.data[1]).toBeGreaterThanOrEqual(0);
    expect(out.data[1]).toBeLessThan(1e-30);
  });
});
