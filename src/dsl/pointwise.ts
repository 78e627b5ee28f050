/**
 * The pointwise and along-an-axis operations every lowering target implements (src/lower/ops.ts
 * extends both): the vocabulary in which a primitive writes its kernel, once, for every target.
 */

/** Elementwise functions of one tensor. */
export const UNARY_OPS = [
  "exp", "log", "sqrt", "rsqrt", "reciprocal", "square", "abs", "sign", "neg", "tanh", "sigmoid", "softplus", "relu",
  "sinh", "cosh", "sin", "cos", "tan", "atan", "asin", "acos", "erf", "log1p", "expm1",
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];

/** Elementwise functions of two tensors (numpy broadcasting); comparisons give 1.0 / 0.0. */
export type BinaryOp = "add" | "sub" | "mul" | "div" | "pow" | "minimum" | "maximum" | "greater" | "greaterEqual";

export interface PointwiseOps<T> {
  /** A scalar of the compute dtype. */
  scalar(value: number): T;
  unary(op: UnaryOp, t: T): T;
  binary(op: BinaryOp, a: T, b: T): T;
}

/** The operations along one axis every target implements: the kernels of the edge functions. */
export interface AxisOps<T> {
  logSumExp(t: T, axis: number): T;
  max(t: T, axis: number): T;
  /** Softmax / log-softmax along the last axis. */
  softmax(t: T): T;
  logSoftmax(t: T): T;
}

/** x^p with the cheap forms for the common powers. */
export function power<T>(ops: PointwiseOps<T>, x: T, p: number): T {
  if (p === 2) return ops.unary("square", x);
  if (p === 0.5) return ops.unary("sqrt", x);
  if (p === -1) return ops.unary("reciprocal", x);
  if (p === -0.5) return ops.unary("rsqrt", x);
  if (p === 3) return ops.binary("mul", ops.unary("square", x), x);
  return ops.binary("pow", x, ops.scalar(p));
}
