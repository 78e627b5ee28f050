/**
 * What a lowering does, without running it: the plan of a set of expressions traced through
 * shape-only TensorOps that count each call. The plan (contraction order, orientation, layout
 * moves and their reuse) is the same code on every target; the targets differ in which
 * transposes they route through two smaller ones (`fastTransposeRank`), so a summary is per
 * target. For tests and for reading a plan's cost: `planSummary({ loss, dW }, "tfjs").transposes`.
 */
import { type Expr, topologicalOrder } from "../dsl/expr.js";
import type { BinaryOp, UnaryOp } from "../dsl/pointwise.js";
import type { Named } from "./layout.js";
import type { TensorOps } from "./ops.js";
import { OnnxGraph } from "./onnx/graph.js";
import { asOutput, lowerNode } from "./plan.js";
import { tfjsOps } from "./tfjsOps.js";

/** The lowering targets: tfjs (eager, fast transposes up to rank 4, as wasm) and ONNX Runtime (one graph). */
export type LoweringTarget = "tfjs" | "onnx";

/** The largest rank each target transposes directly (the targets' own setting). */
const fastTransposeRank = (target: LoweringTarget): number => (target === "tfjs" ? tfjsOps : new OnnxGraph("float32")).fastTransposeRank;

export interface PlanSummary {
  /** Graph nodes (one plan step each). */
  readonly steps: number;
  /** Transposes, and the largest rank one of them has (after merging axes that move together). */
  readonly transposes: number;
  readonly maxTransposeRank: number;
  /** 2-D matMuls ([m, k]·[k, n]) and batched ones ([b, m, k]·[b, k, n]). */
  readonly matMuls: number;
  readonly batchedMatMuls: number;
  readonly reshapes: number;
  readonly broadcasts: number;
  readonly sums: number;
  /** Pointwise calls by op, e.g. `{ mul: 2, exp: 1 }`. */
  readonly pointwise: Readonly<Record<string, number>>;
  /** Entries written by every op that makes a new tensor (all but reshapes): the plan's memory traffic. */
  readonly elementsWritten: number;
}

type Shape = readonly number[];

/** Shape-only TensorOps that count what the plan asks of a target. */
function countingOps(fastTransposeRank: number): { ops: TensorOps<Shape>; summary: () => Omit<PlanSummary, "steps"> } {
  let transposes = 0, maxTransposeRank = 0, matMuls = 0, batchedMatMuls = 0, reshapes = 0, broadcasts = 0, sums = 0, elementsWritten = 0;
  const pointwise: Record<string, number> = {};
  const count = (op: UnaryOp | BinaryOp): void => void (pointwise[op] = (pointwise[op] ?? 0) + 1);
  /** A new tensor of shape `t` (counted in elementsWritten). */
  const written = (t: Shape): Shape => ((elementsWritten += t.reduce((n, d) => n * d, 1)), t);
  const drop = (t: Shape, axes: readonly number[]): Shape => written(t.filter((_, i) => !axes.includes(i)));
  const ops: TensorOps<Shape> = {
    scalar: () => [],
    constant: (_values, shape) => [...shape],
    reshape: (_t, shape) => (reshapes++, [...shape]),
    transpose: (t, perm) => {
      transposes++;
      maxTransposeRank = Math.max(maxTransposeRank, perm.length);
      return written(perm.map((p) => t[p]));
    },
    broadcastTo: (_t, shape) => (broadcasts++, written([...shape])),
    matMul: (a, b) => {
      if (a.length === 2) matMuls++;
      else batchedMatMuls++;
      return written([...a.slice(0, -1), b[b.length - 1]]);
    },
    unary: (op, t) => (count(op), written([...t])),
    binary: (op, a, b) => {
      count(op);
      const rank = Math.max(a.length, b.length);
      const at = (s: Shape, i: number): number => s[s.length - rank + i] ?? 1;
      return written(Array.from({ length: rank }, (_, i) => Math.max(at(a, i), at(b, i))));
    },
    sum: (t, axes) => (sums++, drop(t, axes)),
    logSumExp: (t, axis) => drop(t, [axis]),
    max: (t, axis) => drop(t, [axis]),
    softmax: (t) => written([...t]),
    logSoftmax: (t) => written([...t]),
    oneHot: (index, depth) => written([...index, depth]),
    keep: (t) => t,
    same: (a, b) => a === b,
    fastTransposeRank,
  };
  return { ops, summary: () => ({ transposes, maxTransposeRank, matMuls, batchedMatMuls, reshapes, broadcasts, sums, pointwise: { ...pointwise }, elementsWritten }) };
}

/** The plan of `outputs` on `target`, counted: `planSummary({ y: dot(x, W) }, "onnx").matMuls` is 1. */
export function planSummary(outputs: Readonly<Record<string, Expr>>, target: LoweringTarget): PlanSummary {
  const { ops, summary } = countingOps(fastTransposeRank(target));
  const roots = Object.values(outputs);
  const order = topologicalOrder(roots);
  const values = new Map<number, Named<Shape>>();
  for (const node of order) {
    const value: Named<Shape> = node.kind === "variable"
      ? { tensor: node.edges.map((e) => e.size), edges: node.edges }
      : lowerNode(ops, node, (e) => values.get(e.id)!);
    values.set(node.id, { ...value, layouts: new Map() }); // layouts: reused transposes, as compile keeps them
  }
  for (const root of roots) asOutput(ops, values.get(root.id)!, root);
  return { steps: order.length, ...summary() };
}
