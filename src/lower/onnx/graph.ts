/**
 * TensorOps that record ONNX nodes instead of computing: running ricci's plan with these ops
 * traces the whole graph (one node per op, constants as initializers), which `encode` turns
 * into an ONNX model. Values are named strings.
 */
import { type AttributeValue, type ModelSpec, type NodeSpec, type TensorSpec, type ValueSpec, encodeModel } from "./proto.js";
import type { BinaryOp, UnaryOp } from "../../dsl/pointwise.js";
import type { TensorOps } from "../ops.js";

export type FloatType = "float32" | "float64";

/** The ONNX opset ricci emits: 17 is the newest that Debian's onnx checker (1.12) knows. */
export const OPSET = 17;

const direct: Partial<Record<UnaryOp, string>> = {
  exp: "Exp", log: "Log", sqrt: "Sqrt", reciprocal: "Reciprocal", abs: "Abs", sign: "Sign", neg: "Neg", tanh: "Tanh",
  sigmoid: "Sigmoid", softplus: "Softplus", relu: "Relu", sinh: "Sinh", cosh: "Cosh", sin: "Sin", cos: "Cos", tan: "Tan",
  atan: "Atan", asin: "Asin", acos: "Acos", erf: "Erf",
};
/**
 * ONNX Runtime's CPU kernels for these exist in float32 only. Float64 graphs compose softplus,
 * sinh, cosh and tan from float64 kernels (float64Composed) and compute the rest in float32.
 */
const float32Only = new Set<UnaryOp>(["atan", "asin", "acos", "erf"]);

const binaryOps: Record<Exclude<BinaryOp, "greater" | "greaterEqual">, string> = {
  add: "Add", sub: "Sub", mul: "Mul", div: "Div", pow: "Pow", minimum: "Min", maximum: "Max",
};

/** Numpy broadcasting of two shapes. */
function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    return x === 1 ? y : x;
  });
}

const bytesOf = (a: Float32Array | Float64Array | BigInt64Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export class OnnxGraph implements TensorOps<string> {
  readonly fastTransposeRank = Number.POSITIVE_INFINITY;
  private readonly nodes: NodeSpec[] = [];
  private readonly initializers: TensorSpec[] = [];
  private readonly constants = new Map<string, string>();
  /** Static shapes of the values recorded so far (every value ricci emits has one). */
  private readonly shapes = new Map<string, readonly number[]>();
  private readonly int64Values = new Map<string, readonly number[]>();
  private count = 0;

  constructor(readonly dtype: FloatType) {}

  /** Declares a graph input of shape `dims`; returns its name. */
  input(name: string, dims: readonly number[]): string {
    this.shapes.set(name, dims);
    return name;
  }

  /** The static shape of a recorded value (inferred when its node was recorded). */
  shapeOf(name: string): readonly number[] {
    const shape = this.shapes.get(name);
    if (shape === undefined) throw new Error(`OnnxGraph: no shape recorded for "${name}"`);
    return shape;
  }

  /** The output shape of `op` on `inputs` (the ops ricci emits; numpy broadcasting for elementwise ones). */
  private inferShape(op: string, inputs: readonly string[], attributes: Record<string, AttributeValue> | undefined): readonly number[] {
    const attr = (key: string): readonly number[] => {
      const a = attributes?.[key];
      return a !== undefined && "ints" in a ? a.ints : [];
    };
    const shape = (i: number): readonly number[] => this.shapeOf(inputs[i]);
    const drop = (axes: readonly number[]): number[] => shape(0).filter((_, i) => !axes.map((a) => (a < 0 ? a + shape(0).length : a)).includes(i));
    switch (op) {
      case "Reshape":
        return this.int64Values.get(inputs[1])!;
      case "Transpose":
        return attr("perm").map((p) => shape(0)[p]);
      case "Expand":
        return broadcastShapes(shape(0), this.int64Values.get(inputs[1])!);
      case "MatMul": {
        const [a, b] = [shape(0), shape(1)];
        return [...broadcastShapes(a.slice(0, -2), b.slice(0, -2)), a[a.length - 2], b[b.length - 1]];
      }
      case "ReduceSum":
        return drop(this.int64Values.get(inputs[1])!);
      case "ReduceLogSumExp":
      case "ReduceMax":
        return drop(attr("axes"));
      case "Unsqueeze":
        return [...shape(0), 1];
      case "Add": case "Sub": case "Mul": case "Div": case "Pow": case "Min": case "Max": case "Greater": case "GreaterOrEqual": case "Equal":
        return broadcastShapes(shape(0), shape(1));
      default: // unary elementwise, Cast, Softmax, LogSoftmax, Identity
        return shape(0);
    }
  }

  /** A new value name; the "ricci::" prefix keeps it apart from variable names. */
  private fresh(hint: string): string {
    return `ricci::${hint}_${this.count++}`;
  }

  /** Appends a node with one output; returns the output's name. */
  node(op: string, inputs: readonly string[], attributes?: Record<string, AttributeValue>): string {
    const out = this.fresh(op.toLowerCase());
    this.shapes.set(out, this.inferShape(op, inputs, attributes));
    this.nodes.push({ op, inputs, outputs: [out], attributes });
    return out;
  }

  private initializer(key: string, make: (name: string) => TensorSpec): string {
    const found = this.constants.get(key);
    if (found !== undefined) return found;
    const name = this.fresh("const");
    this.initializers.push(make(name));
    this.constants.set(key, name);
    return name;
  }

  private floats(values: ArrayLike<number>): Uint8Array {
    return bytesOf(this.dtype === "float32" ? Float32Array.from(values) : Float64Array.from(values));
  }

  /** An int64 vector constant (shapes, axes). */
  int64s(values: readonly number[]): string {
    const name = this.initializer(`i64:${values.join(",")}`, (n) => ({
      name: n, type: "int64", dims: [values.length], bytes: bytesOf(BigInt64Array.from(values.map((v) => BigInt(v)))),
    }));
    this.int64Values.set(name, values);
    return name;
  }

  scalar(value: number): string {
    const name = this.initializer(`s:${Object.is(value, -0) ? 0 : value}`, (n) => ({ name: n, type: this.dtype, dims: [], bytes: this.floats([value]) }));
    this.shapes.set(name, []);
    return name;
  }

  constant(values: Float32Array | Float64Array, shape: readonly number[]): string {
    const name = this.fresh("const");
    this.initializers.push({ name, type: this.dtype, dims: shape, bytes: this.floats(values) });
    this.shapes.set(name, shape);
    return name;
  }

  reshape(t: string, shape: readonly number[]): string {
    return this.node("Reshape", [t, this.int64s(shape)]);
  }

  transpose(t: string, perm: readonly number[]): string {
    return this.node("Transpose", [t], { perm: { ints: perm } });
  }

  broadcastTo(t: string, shape: readonly number[]): string {
    return this.node("Expand", [t, this.int64s(shape)]);
  }

  matMul(a: string, b: string): string {
    return this.node("MatMul", [a, b]);
  }

  private castTo(t: string, type: FloatType): string {
    return this.node("Cast", [t], { to: { int: type === "float32" ? 1 : 11 } });
  }

  unary(op: UnaryOp, t: string): string {
    switch (op) {
      case "rsqrt":
        return this.node("Reciprocal", [this.node("Sqrt", [t])]);
      case "square":
        return this.node("Mul", [t, t]);
      case "log1p":
        return this.node("Log", [this.node("Add", [t, this.scalar(1)])]);
      case "expm1":
        return this.node("Sub", [this.node("Exp", [t]), this.scalar(1)]);
    }
    if (this.dtype === "float64") {
      const composed = this.float64Composed(op, t);
      if (composed !== null) return composed;
    }
    const name = direct[op]!;
    if (this.dtype === "float64" && float32Only.has(op)) return this.castTo(this.node(name, [this.castTo(t, "float32")]), "float64");
    return this.node(name, [t]);
  }

  private float64Composed(op: UnaryOp, t: string): string | null {
    const half = (x: string): string => this.node("Mul", [x, this.scalar(0.5)]);
    switch (op) {
      case "softplus": // max(x, 0) + log(1 + exp(−|x|)): exact where exp would overflow
        return this.node("Add", [this.node("Relu", [t]), this.node("Log", [this.node("Add", [this.scalar(1), this.node("Exp", [this.node("Neg", [this.node("Abs", [t])])])])])]);
      case "sinh":
        return half(this.node("Sub", [this.node("Exp", [t]), this.node("Exp", [this.node("Neg", [t])])]));
      case "cosh":
        return half(this.node("Add", [this.node("Exp", [t]), this.node("Exp", [this.node("Neg", [t])])]));
      case "tan":
        return this.node("Div", [this.node("Sin", [t]), this.node("Cos", [t])]);
      default:
        return null;
    }
  }

  binary(op: BinaryOp, a: string, b: string): string {
    const [x, y] = [this.contiguousBroadcast(a, b), this.contiguousBroadcast(b, a)];
    if (op === "greater" || op === "greaterEqual") return this.castTo(this.node(op === "greater" ? "Greater" : "GreaterOrEqual", [x, y]), this.dtype);
    return this.node(binaryOps[op], [x, y]);
  }

  /**
   * `t` expanded along the axes where it broadcasts against `other`, except the leading ones,
   * when that stays small (≤ 1/16 of the result): ONNX Runtime's elementwise kernels run fast
   * over a contiguous inner block and element by element when an inner axis broadcasts (a
   * RoPE table [1, seq, 1, pair, 1] against queries [batch, seq, head, pair, two] ran ~8×
   * slower than against its expanded [1, seq, head, pair, two]).
   */
  private contiguousBroadcast(t: string, other: string): string {
    const own = this.shapeOf(t);
    const out = broadcastShapes(own, this.shapeOf(other));
    const padded = [...new Array<number>(out.length - own.length).fill(1), ...own];
    let lead = 0;
    while (lead < out.length && padded[lead] === 1) lead++;
    const target = padded.map((n, i) => (i < lead ? 1 : out[i]));
    const inner = target.some((n, i) => n !== padded[i]);
    const volume = (shape: readonly number[]): number => shape.reduce((k, n) => k * n, 1);
    if (!inner || volume(target) * 16 > volume(out)) return t;
    return this.node("Expand", [t, this.int64s(target)]);
  }

  sum(t: string, axes: readonly number[]): string {
    return this.node("ReduceSum", [t, this.int64s(axes)], { keepdims: { int: 0 } });
  }

  logSumExp(t: string, axis: number): string {
    return this.node("ReduceLogSumExp", [t], { axes: { ints: [axis] }, keepdims: { int: 0 } });
  }

  max(t: string, axis: number): string {
    return this.node("ReduceMax", [t], { axes: { ints: [axis] }, keepdims: { int: 0 } });
  }

  softmax(t: string): string {
    return this.node("Softmax", [t], { axis: { int: -1 } });
  }

  logSoftmax(t: string): string {
    return this.node("LogSoftmax", [t], { axis: { int: -1 } });
  }

  oneHot(index: string, depth: number): string {
    // Equal against 0..depth-1 rather than OneHot, which has no float64 kernel.
    const range = this.constant(Float32Array.from({ length: depth }, (_, i) => i), [depth]);
    const column = this.node("Unsqueeze", [index, this.int64s([-1])]);
    return this.castTo(this.node("Equal", [column, range]), this.dtype);
  }

  keep(t: string): string {
    return t;
  }

  same(a: string, b: string): boolean {
    return a === b;
  }

  /** The model computing `outputs` (name → value) from `inputs`. */
  encode(name: string, inputs: readonly ValueSpec[], outputs: readonly { name: string; value: string; dims: readonly number[] }[], docString?: string): Uint8Array {
    // A value a node computes for one output only takes the output's name; any other output (an
    // input, a constant, a value two outputs share) goes through an Identity, which copies it.
    const produced = new Set(this.nodes.flatMap((n) => n.outputs));
    const count = new Map<string, number>();
    for (const o of outputs) count.set(o.value, (count.get(o.value) ?? 0) + 1);
    const renamed = new Map(outputs.filter((o) => produced.has(o.value) && count.get(o.value) === 1).map((o) => [o.value, o.name]));
    const rename = (v: string): string => renamed.get(v) ?? v;
    const tail: NodeSpec[] = outputs.filter((o) => !renamed.has(o.value)).map((o) => ({ op: "Identity", inputs: [o.value], outputs: [o.name] }));
    const nodes = [...this.nodes.map((n) => ({ ...n, inputs: n.inputs.map(rename), outputs: n.outputs.map(rename) })), ...tail];
    const used = new Set(nodes.flatMap((n) => n.inputs));
    const model: ModelSpec = {
      graphName: name,
      nodes,
      initializers: this.initializers.filter((t) => used.has(t.name)),
      inputs,
      outputs: outputs.map((o) => ({ name: o.name, type: this.dtype, dims: o.dims })),
      opset: OPSET,
      docString,
    };
    return encodeModel(model);
  }

  /** How many nodes of each op type (for tests of the plan). */
  opCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const n of this.nodes) counts[n.op] = (counts[n.op] ?? 0) + 1;
    return counts;
  }
}
