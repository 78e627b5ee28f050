/**
 * The tensor operations a lowering target provides. The plan (contraction order, layouts,
 * lazy broadcasts, one step per graph node) is written once against this interface; tfjs
 * runs it eagerly (`T` is a tf.Tensor), the ONNX emitter records it as graph nodes (`T` is a
 * value name).
 */
import type { AxisOps, PointwiseOps } from "../dsl/pointwise.js";

export interface TensorOps<T> extends PointwiseOps<T>, AxisOps<T> {
  /** A constant tensor of the compute dtype, values row-major. */
  constant(values: Float32Array, shape: readonly number[]): T;
  reshape(t: T, shape: readonly number[]): T;
  transpose(t: T, perm: readonly number[]): T;
  broadcastTo(t: T, shape: readonly number[]): T;
  /** [m, k]·[k, n] or batched [b, m, k]·[b, k, n]. */
  matMul(a: T, b: T): T;
  /** Sum over `axes` (dropped). */
  sum(t: T, axes: readonly number[]): T;
  /** One-hot of integer-valued `index` (given in the compute dtype) along a new last axis of `depth`. */
  oneHot(index: T, depth: number): T;
  /** Marks `t` to outlive the current step (a cached layout); returns it. */
  keep(t: T): T;
  /** Whether two values are the same storage (a no-op reshape or transpose returns its input). */
  same(a: T, b: T): boolean;
  /** Largest rank whose transposes are fast (wasm: 4); larger ones are routed through two smaller. */
  readonly fastTransposeRank: number;
}
