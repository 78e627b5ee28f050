/**
 * The edge functions — functions along one named edge — one record each: whether the edge stays
 * (softmax, logSoftmax) or is reduced away (logsumexp, max), the float64 value along the edge,
 * the value on a constant, reverse- and forward-mode derivatives (expressions), the LaTeX
 * operator, and the kernel every lowering target runs. The table is keyed by every
 * `EdgeFunctionName`, so a missing record is a type error.
 */
import type { Builders } from "./functions.js";
import type { EdgeFunction, EdgeFunctionName, Expr } from "./expr.js";
import type { AxisOps } from "./pointwise.js";

export interface EdgeFunctionRule {
  /** Whether the result keeps the edge (a distribution over it) or drops it (a reduction). */
  readonly keepsEdge: boolean;
  /** Float64 value along the edge: `row` → `result` (the row's length when kept, 1 when reduced). */
  readonly value: (row: Float64Array, result: Float64Array) => void;
  /** The value on a constant c along n entries (every entry of the result is this number). */
  readonly ofConstant: (c: number, n: number) => number;
  /** Reverse mode: the argument's cotangent, given the node and its cotangent `ct`. */
  readonly vjp: (node: EdgeFunction, ct: Expr, b: Builders) => Expr;
  /** Forward mode: the node's tangent, given the argument's tangent `dx`. */
  readonly jvp: (node: EdgeFunction, dx: Expr, b: Builders) => Expr;
  /** The LaTeX operator, subscripted with the edge when printed. */
  readonly latex: string;
  /** The kernel on every lowering target: along `axis` of `x` (the last axis when the edge is kept). */
  readonly kernel: <T>(ops: AxisOps<T>, x: T, axis: number) => T;
}

const rowMax = (row: Float64Array): number => row.reduce((m, x) => Math.max(m, x), -Infinity);
const rowLogSumExp = (row: Float64Array): number => {
  const m = rowMax(row);
  let s = 0;
  for (const x of row) s += Math.exp(x - m);
  return m + Math.log(s);
};

export const EDGE_FUNCTIONS: { readonly [K in EdgeFunctionName]: EdgeFunctionRule } = {
  softmax: {
    keepsEdge: true,
    value: (row, result) => {
      const m = rowMax(row);
      let s = 0;
      row.forEach((x, i) => {
        result[i] = Math.exp(x - m);
        s += result[i];
      });
      for (let i = 0; i < result.length; i++) result[i] /= s;
    },
    ofConstant: (_c, n) => 1 / n,
    // d softmax = s ⊙ (dx − Σ s·dx); its transpose: s ⊙ (ct − Σ ct·s).
    vjp: (node, ct, b) => b.mul(node, b.sub(ct, b.sum(b.mul(ct, node), node.edge))),
    jvp: (node, dx, b) => b.mul(node, b.sub(dx, b.sum(b.mul(node, dx), node.edge))),
    latex: "\\operatorname{softmax}",
    kernel: (ops, x) => ops.softmax(x),
  },
  logSoftmax: {
    keepsEdge: true,
    value: (row, result) => {
      const lse = rowLogSumExp(row);
      row.forEach((x, i) => (result[i] = x - lse));
    },
    ofConstant: (_c, n) => -Math.log(n),
    vjp: (node, ct, b) => b.sub(ct, b.mul(b.softmax(node.arg, node.edge), b.sum(ct, node.edge))),
    jvp: (node, dx, b) => b.sub(dx, b.sum(b.mul(b.softmax(node.arg, node.edge), dx), node.edge)),
    latex: "\\operatorname{logsoftmax}",
    kernel: (ops, x) => ops.logSoftmax(x),
  },
  logsumexp: {
    keepsEdge: false,
    value: (row, result) => {
      result[0] = rowLogSumExp(row);
    },
    ofConstant: (c, n) => c + Math.log(n),
    vjp: (node, ct, b) => b.mul(ct, b.softmax(node.arg, node.edge)),
    jvp: (node, dx, b) => b.sum(b.mul(b.softmax(node.arg, node.edge), dx), node.edge),
    latex: "\\operatorname{logsumexp}",
    kernel: (ops, x, axis) => ops.logSumExp(x, axis),
  },
  /** The sub-gradient goes to every maximiser. */
  max: {
    keepsEdge: false,
    value: (row, result) => {
      result[0] = rowMax(row);
    },
    ofConstant: (c) => c,
    vjp: (node, ct, b) => b.mul(ct, b.greaterEqual(node.arg, node)),
    jvp: (node, dx, b) => b.sum(b.mul(b.greaterEqual(node.arg, node), dx), node.edge),
    latex: "\\max",
    kernel: (ops, x, axis) => ops.max(x, axis),
  },
};
