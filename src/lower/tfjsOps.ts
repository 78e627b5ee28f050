/**
 * TensorOps on tfjs, run eagerly on the active tfjs backend (float32). Holds the tfjs-specific
 * kernel choices: rank-2 transposes written as rank-4 ones, comparisons cast to float.
 */
import { tf } from "./backend.js";
import type { BinaryOp, UnaryOp } from "../dsl/pointwise.js";
import type { TensorOps } from "./ops.js";

const unaryKernels: Record<UnaryOp, (x: tf.Tensor) => tf.Tensor> = {
  exp: tf.exp, log: tf.log, sqrt: tf.sqrt, rsqrt: tf.rsqrt, reciprocal: tf.reciprocal, square: tf.square, abs: tf.abs,
  sign: tf.sign, neg: tf.neg, tanh: tf.tanh, sigmoid: tf.sigmoid, softplus: tf.softplus, relu: tf.relu, sinh: tf.sinh,
  cosh: tf.cosh, sin: tf.sin, cos: tf.cos, tan: tf.tan, atan: tf.atan, asin: tf.asin, acos: tf.acos, erf: tf.erf,
  log1p: tf.log1p, expm1: tf.expm1,
};

const asFloat = (t: tf.Tensor): tf.Tensor => tf.cast(t, "float32");

const binaryKernels: Record<BinaryOp, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = {
  add: tf.add, sub: tf.sub, mul: tf.mul, div: tf.div, pow: tf.pow, minimum: tf.minimum, maximum: tf.maximum,
  greater: (a, b) => asFloat(tf.greater(a, b)),
  greaterEqual: (a, b) => asFloat(tf.greaterEqual(a, b)),
};

/**
 * [r, c] → [c, r]. wasm's rank-2 transpose is ~3× slower than the same move written as a
 * rank-4 one ([r1, r2, c1, c2] → [c1, c2, r1, r2]), measured on [2048, 128] and [512, 512].
 */
function transpose2d(t: tf.Tensor, rows: number, cols: number): tf.Tensor {
  const split = (n: number): [number, number] | null => (n >= 32 && n % 2 === 0 ? [2, n / 2] : null);
  const r = split(rows);
  const c = split(cols);
  if (r === null || c === null) return tf.transpose(tf.reshape(t, [rows, cols]), [1, 0]);
  return tf.reshape(tf.transpose(tf.reshape(t, [...r, ...c]), [2, 3, 0, 1]), [cols, rows]);
}

/** The tfjs lowering target. Callers run it inside tf.tidy. */
export const tfjsOps: TensorOps<tf.Tensor> = {
  scalar: (value) => tf.scalar(value),
  constant: (values, shape) => tf.tensor(values, [...shape]),
  reshape: (t, shape) => tf.reshape(t, [...shape]),
  transpose: (t, perm) => (perm.length === 2 && perm[0] === 1 ? transpose2d(t, t.shape[0]!, t.shape[1]!) : tf.transpose(t, [...perm])),
  broadcastTo: (t, shape) => tf.broadcastTo(t, [...shape]),
  matMul: (a, b) => tf.matMul(a, b),
  unary: (op, t) => unaryKernels[op](t),
  binary: (op, a, b) => binaryKernels[op](a, b),
  sum: (t, axes) => tf.sum(t, [...axes]),
  logSumExp: (t, axis) => tf.logSumExp(t, axis),
  max: (t, axis) => tf.max(t, axis),
  softmax: (t) => tf.softmax(t),
  logSoftmax: (t) => tf.logSoftmax(t),
  oneHot: (index, depth) => asFloat(tf.oneHot(tf.cast(index, "int32"), depth)),
  keep: (t) => tf.keep(t),
  same: (a, b) => a.dataId === b.dataId,
  fastTransposeRank: 4,
};
