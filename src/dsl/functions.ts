/**
 * The elementwise primitives, one record each: float64 value, symbolic partial derivatives
 * (expressions, so derivatives of any order come from this table, in reverse and forward mode
 * alike), LaTeX, and the kernel every lowering target runs, written in the pointwise ops all of
 * them implement. Adding a primitive is adding one record (`defineRule`); user functions from
 * mathjs formulas (`fn`, src/dsl/userfn.ts) are records made at run time.
 */
import type * as Build from "./build.js";
import { RicciError } from "../errors.js";
import type { Elementwise, Expr } from "./expr.js";
import { type PointwiseOps, type UnaryOp, power } from "./pointwise.js";

/** The expression builders, handed to `partial` by autodiff (this module cannot import them: build.ts reads this table). */
export type Builders = typeof Build;

export interface ElementwiseRule {
  readonly arity: 1 | 2;
  /** Float64 value (the reference evaluator, constant folding). */
  readonly value: (x: number, y: number, param: number | null) => number;
  /** ∂f/∂args[k] as an expression in the node's arguments, built with `b`; null when it is zero everywhere. */
  readonly partial: (node: Elementwise, k: number, b: Builders) => Expr | null;
  /** The function's LaTeX, given its arguments' LaTeX. */
  readonly latex: (args: readonly string[], param: number | null) => string;
  /** The kernel on every lowering target (tfjs and ONNX Runtime), on broadcast-aligned arguments. */
  readonly kernel: <T>(ops: PointwiseOps<T>, args: readonly T[], param: number | null) => T;
}

const rules = new Map<string, ElementwiseRule>();

export function ruleOf(fn: string): ElementwiseRule {
  const rule = rules.get(fn);
  if (rule === undefined) throw new RicciError(`unknown elementwise function "${fn}"`);
  return rule;
}

export function hasRule(fn: string): boolean {
  return rules.has(fn);
}

export function defineRule(fn: string, rule: ElementwiseRule): void {
  rules.set(fn, rule);
}

const stableSigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const stableSoftplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const call = (name: string, args: readonly string[]): string => `\\operatorname{${name}}\\left(${args.join(", ")}\\right)`;
const indicator = (cond: string): string => `\\mathbb{1}\\left[${cond}\\right]`;

/** A one-argument primitive whose kernel is the pointwise op of the same meaning. */
function unary(op: UnaryOp, value: (x: number) => number, partial: ElementwiseRule["partial"], latex: (x: string) => string): ElementwiseRule {
  return { arity: 1, value: (x) => value(x), partial, latex: ([x]) => latex(x), kernel: (ops, [x]) => ops.unary(op, x) };
}

const nonDifferentiable = (): null => null;

defineRule("exp", unary("exp", Math.exp, (n) => n, (x) => `e^{${x}}`));
defineRule("log", unary("log", Math.log, (n, _k, b) => b.pow(n.args[0], -1), (x) => `\\log\\left(${x}\\right)`));
defineRule("sigmoid", unary("sigmoid", stableSigmoid, (n, _k, b) => b.mul(n, b.sigmoid(b.neg(n.args[0]))), (x) => `\\sigma\\left(${x}\\right)`));
defineRule("softplus", unary("softplus", stableSoftplus, (n, _k, b) => b.sigmoid(n.args[0]), (x) => call("softplus", [x])));
defineRule("tanh", unary("tanh", Math.tanh, (n, _k, b) => b.sub(1, b.pow(n, 2)), (x) => `\\tanh\\left(${x}\\right)`));
defineRule("relu", unary("relu", (x) => Math.max(x, 0), (n, _k, b) => b.step(n.args[0]), (x) => call("relu", [x])));
defineRule("abs", unary("abs", Math.abs, (n, _k, b) => b.sign(n.args[0]), (x) => `\\left|${x}\\right|`));
defineRule("sign", unary("sign", Math.sign, nonDifferentiable, (x) => call("sign", [x])));
/** Heaviside step: 1 where x > 0, else 0 (the sub-gradient of relu). */
defineRule("step", {
  arity: 1,
  value: (x) => (x > 0 ? 1 : 0),
  partial: nonDifferentiable,
  latex: ([x]) => indicator(`${x} > 0`),
  kernel: (ops, [x]) => ops.binary("greater", x, ops.scalar(0)),
});
defineRule("pow", {
  arity: 1,
  value: (x, _y, p) => Math.pow(x, p!),
  partial: (n, _k, b) => (n.param === 1 ? b.constant(1) : b.scale(b.pow(n.args[0], n.param! - 1), n.param!)),
  latex: ([x], p) => (p === 0.5 ? `\\sqrt{${x}}` : `\\left(${x}\\right)^{${p}}`),
  kernel: (ops, [x], p) => power(ops, x, p!),
});
/** min/max send the sub-gradient to the first argument on ties. */
defineRule("minimum", {
  arity: 2,
  value: (x, y) => Math.min(x, y),
  partial: (n, k, b) => (k === 0 ? b.greaterEqual(n.args[1], n.args[0]) : b.greater(n.args[0], n.args[1])),
  latex: (args) => `\\min\\left(${args.join(", ")}\\right)`,
  kernel: (ops, [x, y]) => ops.binary("minimum", x, y),
});
defineRule("maximum", {
  arity: 2,
  value: (x, y) => Math.max(x, y),
  partial: (n, k, b) => (k === 0 ? b.greaterEqual(n.args[0], n.args[1]) : b.greater(n.args[1], n.args[0])),
  latex: (args) => `\\max\\left(${args.join(", ")}\\right)`,
  kernel: (ops, [x, y]) => ops.binary("maximum", x, y),
});
defineRule("greater", {
  arity: 2,
  value: (x, y) => (x > y ? 1 : 0),
  partial: nonDifferentiable,
  latex: ([x, y]) => indicator(`${x} > ${y}`),
  kernel: (ops, [x, y]) => ops.binary("greater", x, y),
});
defineRule("greaterEqual", {
  arity: 2,
  value: (x, y) => (x >= y ? 1 : 0),
  partial: nonDifferentiable,
  latex: ([x, y]) => indicator(`${x} \\geq ${y}`),
  kernel: (ops, [x, y]) => ops.binary("greaterEqual", x, y),
});
