/**
 * Every primitive, compiled to tfjs: the compiled value against the float64 reference
 * (`evaluate`) and against the same computation written in plain tfjs ops, and the compiled
 * symbolic gradients against tfjs's own autodiff (`tf.grads`) of that plain computation.
 * Values are float32 here, so comparisons allow 1e-4 · max(1, |value|) per entry.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type Expr, compile, edgesOf, evaluate, grad, initBackend, mul, sum, tf, variable } from "../src/index.js";
// tfjs-core ships its gradient functions separately; tf.grads needs them registered. Imported
// after ricci so that ricci's copy of tfjs-core defines the global Tensor class.
import "@tensorflow/tfjs-core/dist/register_all_gradients.js";
import { firstMismatch, seededValues } from "./helpers/oracle.js";
import { type Instance, type PrimitiveCase, cases, instantiate, sizesOfExpr } from "./helpers/primitive-cases.js";

type T = tf.Tensor;

/** A case written in plain tfjs: its result has axes `names` (any order; it is permuted). */
interface TfOracle {
  readonly names: readonly string[];
  readonly run: (t: Readonly<Record<string, T>>) => T;
}

const F32_TOL = 1e-4;

/** A tensor with the same values but cut off from tfjs's gradient tape (tfjs has no stopGradient op). */
const frozen = (x: T): T => tf.tensor(x.dataSync(), x.shape, x.dtype);
const f32 = (x: T): T => tf.cast(x, "float32");
const sigmoid = (x: T): T => tf.div(1, tf.add(1, tf.exp(tf.neg(x))));
const softplus = (x: T): T => tf.log(tf.add(1, tf.exp(x)));
const cube = (x: T): T => tf.mul(x, tf.mul(x, x));
const unary = (f: (x: T) => T): TfOracle => ({ names: ["a", "b"], run: ({ x }) => f(x) });

const oracles: Readonly<Record<string, TfOracle>> = {
  variable: { names: ["a", "b"], run: ({ x }) => tf.clone(x) },
  "constant (scalar factor)": unary((x) => tf.mul(x, 0.7)),
  "constant (filled tensor, broadcast)": { names: ["a", "c"], run: ({ x }) => tf.add(tf.reshape(x, [2, 1]), tf.fill([1, 3], 1.5)) },
  "constant (alone)": { names: ["a", "b"], run: () => tf.fill([2, 2], -2.25) },
  "delta (identity, contracted)": { names: ["b", "j"], run: ({ x }) => tf.matMul(x, tf.eye(3), true, false) },
  "delta (three edges, diagonal embedding)": { names: ["j", "k"], run: ({ x }) => tf.mul(tf.eye(3), tf.reshape(x, [3, 1])) },
  oneHot: { names: ["t", "v"], run: ({ ids, y }) => tf.mul(f32(tf.oneHot(ids, 3)), y) },
  // tf.gather's gradient needs UnsortedSegmentSum, which the wasm backend lacks: use a one-hot product.
  gather: { names: ["t", "d"], run: ({ ids, E }) => tf.matMul(f32(tf.oneHot(ids, 5)), E) },
  "einsum (three factors, trace-like)": { names: ["i"], run: ({ A, B, C }) => tf.sum(tf.mul(tf.matMul(A, B), tf.transpose(C)), 1) },
  "einsum (shared edge kept, output order given)": { names: ["i", "k"], run: ({ A, B }) => tf.sum(tf.mul(tf.reshape(A, [2, 3, 1]), B), 1) },
  "dot (all shared edges)": { names: ["b", "o"], run: ({ x, W }) => tf.matMul(tf.reshape(x, [2, 6]), tf.reshape(W, [6, 4])) },
  "dot (named edge only, other shared edge stays)": { names: ["b", "o"], run: ({ x, y }) => tf.sum(tf.mul(tf.reshape(x, [2, 3, 1]), y), 1) },
  "dot (scalar result)": { names: [], run: ({ x, y }) => tf.sum(tf.mul(x, y)) },
  "mul (broadcast by edge name)": { names: ["a", "b", "c"], run: ({ x, y }) => tf.mul(tf.reshape(x, [2, 3, 1]), tf.reshape(y, [1, 3, 2])) },
  "mul (three operands, scalar variable)": { names: ["a", "b"], run: ({ x, s, y }) => tf.mul(tf.mul(x, s), y) },
  "mul (same edges, different axis order)": { names: ["a", "b"], run: ({ x, y }) => tf.mul(x, tf.transpose(y)) },
  transpose: { names: ["j", "i"], run: ({ W }) => tf.transpose(W) },
  "add (broadcast, three operands)": {
    names: ["a", "b", "c"],
    run: ({ x, y, z }) => tf.add(tf.add(tf.reshape(x, [2, 3, 1]), tf.reshape(y, [1, 3, 1])), tf.reshape(z, [1, 1, 2])),
  },
  "add (number operand)": unary((x) => tf.add(x, 2.5)),
  "sub (operands in different axis orders)": { names: ["a", "b"], run: ({ x, y }) => tf.sub(x, tf.transpose(y)) },
  "sub (broadcast)": { names: ["a", "b"], run: ({ x, y }) => tf.sub(x, y) },
  scale: unary((x) => tf.mul(x, -2.5)),
  neg: unary(tf.neg),
  "linear (weights, broadcast, number term)": { names: ["a", "b"], run: ({ x, y }) => tf.add(tf.sub(tf.mul(x, 0.5), tf.mul(y, 2)), 3.75) },
  "sum (all edges)": { names: [], run: ({ x }) => tf.sum(x) },
  "sum (one named edge)": { names: ["a", "c"], run: ({ x }) => tf.sum(x, 1) },
  "sum (list of edges)": { names: ["b"], run: ({ x }) => tf.sum(x, [0, 2]) },
  "mean (all edges)": { names: [], run: ({ x }) => tf.mean(x) },
  "mean (named edges)": { names: ["b"], run: ({ x }) => tf.mean(x, [0, 2]) },
  rename: { names: ["c", "b"], run: ({ x, y }) => tf.mul(x, tf.reshape(y, [2, 1])) },
  "rename (swap two edges)": { names: ["b", "a"], run: ({ x, y }) => tf.mul(x, tf.reshape(y, [1, 3])) },
  exp: unary(tf.exp),
  log: unary(tf.log),
  sigmoid: unary(sigmoid),
  softplus: unary(softplus),
  tanh: unary(tf.tanh),
  relu: unary(tf.relu),
  abs: unary(tf.abs),
  "pow 2": unary(tf.square),
  "pow 3": unary(cube),
  "pow 0.5": unary(tf.sqrt),
  "pow -1": unary((x) => tf.div(1, x)),
  "pow -1 (negative values)": unary((x) => tf.div(1, x)),
  sqrt: unary(tf.sqrt),
  square: unary((x) => tf.mul(x, x)),
  "div (broadcast)": { names: ["a", "b"], run: ({ x, y }) => tf.div(x, y) },
  "minimum (same edges)": { names: ["a", "b"], run: ({ x, y }) => tf.minimum(x, y) },
  "minimum (with a number)": unary((x) => tf.minimum(x, 0.3)),
  "maximum (same edges)": { names: ["a", "b"], run: ({ x, y }) => tf.maximum(x, y) },
  "maximum (broadcast against a scalar variable)": { names: ["a", "b"], run: ({ x, s }) => tf.maximum(x, tf.broadcastTo(s, [2, 3])) },
  "clip (number bounds)": unary((x) => tf.clipByValue(x, -0.5, 0.4)),
  // tfjs's Maximum/Minimum gradients do not reduce over broadcast axes: broadcast explicitly.
  "clip (variable bounds)": {
    names: ["a", "b"],
    run: ({ x, lo, hi }) => tf.minimum(tf.maximum(x, tf.broadcastTo(lo, [2, 4])), tf.broadcastTo(hi, [2, 4])),
  },
  "where (0/1 mask variable, broadcast)": {
    names: ["a", "b"],
    run: ({ m, p, q }) => tf.add(tf.mul(m, p), tf.mul(tf.sub(1, m), q)),
  },
  "where (mask from greater)": { names: ["a", "b"], run: ({ c, p, q }) => tf.where(tf.greater(c, 0), p, q) },
  greater: { names: ["a", "b"], run: ({ x, y }) => f32(tf.greater(x, y)) },
  "greaterEqual (with a number)": unary((x) => f32(tf.greaterEqual(x, 0.1))),
  "greater as a mask": { names: ["a", "b"], run: ({ x, y, z }) => tf.mul(f32(tf.greater(x, y)), z) },
  "softmax (along a leading edge)": { names: ["b", "v"], run: ({ x }) => tf.softmax(tf.transpose(x)) },
  "softmax (along the last edge)": { names: ["b", "v"], run: ({ x }) => tf.softmax(x) },
  logSoftmax: { names: ["b", "v"], run: ({ x }) => tf.logSoftmax(x) },
  logsumexp: { names: ["b"], run: ({ x }) => tf.logSumExp(x, 1) },
  "logsumexp (large values, along a leading edge)": { names: ["b"], run: ({ x }) => tf.logSumExp(x, 0) },
  "max (along an edge)": { names: ["b"], run: ({ x }) => tf.max(x, 1) },
  stopGradient: { names: ["a", "b"], run: ({ x, y }) => tf.add(tf.mul(frozen(tf.square(x)), y), x) },
  "fn softplusLike = log(1 + exp(x))": unary(softplus),
  "fn cubic = x^3 - 2x + 1": unary((x) => tf.add(tf.sub(cube(x), tf.mul(x, 2)), 1)),
  "fn gelu (tanh approximation)": unary((x) =>
    tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(cube(x), 0.044715)))))),
  ),
};

const toFloat32 = (x: Float64Array): Float64Array => Float64Array.from(Float32Array.from(x));

/** The tensors of an instance: float32 for real inputs, int32 for ids. */
function tensorsOf(c: PrimitiveCase, inst: Instance): Record<string, T> {
  return Object.fromEntries(
    Object.entries(c.inputs).map(([name, spec]) => {
      const shape = Object.values(spec.sizes);
      const data = inst.values[name];
      return [name, spec.integer === true ? tf.tensor(Int32Array.from(data), shape, "int32") : tf.tensor(Float32Array.from(data), shape, "float32")];
    }),
  );
}

/** The plain-tfjs result laid out in the axis order of `expr`. */
function runOracle(oracle: TfOracle, t: Readonly<Record<string, T>>, expr: Expr): T {
  const out = oracle.run(t);
  const order = edgesOf(expr);
  expect([...oracle.names].sort()).toEqual([...order].sort());
  expect(out.shape).toEqual(oracle.names.map((n) => expr.edges.find((d) => d.name === n)!.size));
  return order.length === 0 ? out : tf.transpose(out, order.map((n) => oracle.names.indexOf(n)));
}

const mismatch = (got: ArrayLike<number>, want: ArrayLike<number>): string | null => firstMismatch(got, want, F32_TOL);

beforeAll(async () => {
  await initBackend();
});

describe("every case has a plain-tfjs oracle", () => {
  it.each(cases.map((c) => c.name))("%s", (name) => {
    expect(oracles[name]).toBeDefined();
  });
});

describe.each(cases)("compiled $name", (c) => {
  const oracle = oracles[c.name];
  const derivable = instantiate(c).differentiable.length > 0;

  it("compiled value matches evaluate and plain tfjs", async () => {
    const inst = instantiate(c, toFloat32);
    const expr = c.build(inst.vars);
    const t = tensorsOf(c, inst);
    const { value } = await compile({ value: expr })(t);
    expect(value.shape).toEqual(expr.edges.map((d) => d.size));
    const got = value.dataSync();
    expect(mismatch(got, evaluate(expr, inst.values).data), "vs evaluate").toBeNull();
    const plain = tf.tidy(() => runOracle(oracle, t, expr));
    expect(mismatch(got, plain.dataSync()), "vs plain tfjs").toBeNull();
    tf.dispose([value, plain, ...Object.values(t)]);
  });

  if (derivable) {
    it("compiled gradients match tf.grads of the plain-tfjs computation", async () => {
      const inst = instantiate(c, toFloat32);
      const expr = c.build(inst.vars);
      const R = variable("R", sizesOfExpr(expr));
      const r = Float32Array.from(seededValues(expr.edges.reduce((p, d) => p * d.size, 1), 7));
      const rTensor = tf.tensor(r, expr.edges.map((d) => d.size), "float32");
      const t: Record<string, T> = { ...tensorsOf(c, inst), R: rTensor };
      const f = sum(mul(expr, R));
      const grads = grad(f, inst.differentiable);
      const outputs = Object.fromEntries(inst.differentiable.map((v, k) => [`d_${v.name}`, grads[k]]));
      const compiled = await compile(outputs)(t);

      // tfjs differentiates only through inputs whose gradient is not identically zero
      // (it cannot differentiate through comparisons at all).
      const connected = inst.differentiable.filter((v) => !(c.zeroGradient ?? []).includes(v.name));
      const reference =
        connected.length === 0
          ? []
          : tf.grads((...xs: T[]) => {
              const bound = { ...t, ...Object.fromEntries(connected.map((v, k) => [v.name, xs[k]])) };
              return tf.sum(tf.mul(runOracle(oracle, bound, expr), rTensor));
            })(connected.map((v) => t[v.name]));

      const float64 = { ...inst.values, R: Float64Array.from(r) };
      inst.differentiable.forEach((v, k) => {
        const out = compiled[`d_${v.name}`];
        expect(out.shape).toEqual(v.edges.map((d) => d.size));
        const got = out.dataSync();
        expect(mismatch(got, evaluate(grads[k], float64).data), `d/d${v.name} vs evaluate`).toBeNull();
        const at = connected.indexOf(v);
        if (at < 0) expect([...got].every((x) => x === 0), `d/d${v.name} is zero`).toBe(true);
        else expect(mismatch(got, reference[at].dataSync()), `d/d${v.name} vs tf.grads`).toBeNull();
      });
      tf.dispose([...Object.values(compiled), ...reference, ...Object.values(t)]);
    });
  }
});

describe("compiled inputs in every accepted form", () => {
  it("nested arrays, Float32Array, Float64Array and tf.Tensor give the same result", async () => {
    const c = cases.find((k) => k.name === "dot (all shared edges)")!;
    const inst = instantiate(c, toFloat32);
    const expr = c.build(inst.vars);
    const step = compile({ value: expr });
    const xs = inst.values.x;
    const nested = [0, 1].map((b) => [0, 1, 2].map((i) => [0, 1].map((k) => xs[b * 6 + i * 2 + k])));
    const forms = [
      { x: nested, W: Float32Array.from(inst.values.W) },
      { x: Float64Array.from(xs), W: tf.tensor(Float32Array.from(inst.values.W), [3, 2, 4]) },
    ];
    const want = evaluate(expr, inst.values).data;
    for (const inputs of forms) {
      const { value } = await step(inputs);
      expect(mismatch(value.dataSync(), want)).toBeNull();
      value.dispose();
    }
  });
});
