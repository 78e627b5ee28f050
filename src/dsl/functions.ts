/**
 * The elementwise function table: float64 value and symbolic partial derivatives, one entry
 * per function. Partials are expressions, so derivatives of any order come from this table.
 * User-defined functions (`fn`) add entries at run time.
 */
import type { Elementwise, Expr } from "./expr.js";
import { RicciError } from "./errors.js";
import * as b from "./build.js";

export interface ElementwiseRule {
  readonly arity: 1 | 2;
  /** Float64 value. */
  readonly value: (x: number, y: number, param: number | null) => number;
  /** ∂f/∂args[k] as an expression in the node's arguments; null when it is zero everywhere. */
  readonly partial: (node: Elementwise, k: number) => Expr | null;
  /** The function's LaTeX, given its arguments' LaTeX. */
  readonly latex: (args: readonly string[], param: number | null) => string;
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

function unary(value: (x: number, p: number | null) => number, partial: ElementwiseRule["partial"], latex: ElementwiseRule["latex"]): ElementwiseRule {
  return { arity: 1, value: (x, _y, p) => value(x, p), partial, latex };
}

const nonDifferentiable = (): null => null;

defineRule("exp", unary(Math.exp, (n) => n, ([x]) => `e^{${x}}`));
defineRule("log", unary(Math.log, (n) => b.pow(n.args[0], -1), ([x]) => `\\log\\left(${x}\\right)`));
defineRule(
  "sigmoid",
  unary(stableSigmoid, (n) => b.mul(n, b.sigmoid(b.neg(n.args[0]))), ([x]) => `\\sigma\\left(${x}\\right)`),
);
defineRule("softplus", unary(stableSoftplus, (n) => b.sigmoid(n.args[0]), ([x]) => call("softplus", [x])));
defineRule("tanh", unary(Math.tanh, (n) => b.sub(1, b.pow(n, 2)), ([x]) => `\\tanh\\left(${x}\\right)`));
defineRule("relu", unary((x) => Math.max(x, 0), (n) => b.step(n.args[0]), ([x]) => call("relu", [x])));
defineRule("abs", unary(Math.abs, (n) => b.sign(n.args[0]), ([x]) => `\\left|${x}\\right|`));
defineRule("sign", unary(Math.sign, nonDifferentiable, ([x]) => call("sign", [x])));
/** Heaviside step: 1 where x > 0, else 0 (the sub-gradient of relu). */
defineRule("step", unary((x) => (x > 0 ? 1 : 0), nonDifferentiable, ([x]) => indicator(`${x} > 0`)));
defineRule(
  "pow",
  unary(
    (x, p) => Math.pow(x, p!),
    (n) => (n.param === 1 ? b.constant(1) : b.scale(b.pow(n.args[0], n.param! - 1), n.param!)),
    ([x], p) => (p === 0.5 ? `\\sqrt{${x}}` : `\\left(${x}\\right)^{${p}}`),
  ),
);
/** min/max send the sub-gradient to the first argument on ties. */
defineRule("minimum", {
  arity: 2,
  value: (x, y) => Math.min(x, y),
  partial: (n, k) => (k === 0 ? b.greaterEqual(n.args[1], n.args[0]) : b.greater(n.args[0], n.args[1])),
  latex: (args) => `\\min\\left(${args.join(", ")}\\right)`,
});
defineRule("maximum", {
  arity: 2,
  value: (x, y) => Math.max(x, y),
  partial: (n, k) => (k === 0 ? b.greaterEqual(n.args[0], n.args[1]) : b.greater(n.args[1], n.args[0])),
  latex: (args) => `\\max\\left(${args.join(", ")}\\right)`,
});
defineRule("greater", {
  arity: 2,
  value: (x, y) => (x > y ? 1 : 0),
  partial: nonDifferentiable,
  latex: ([x, y]) => indicator(`${x} > ${y}`),
});
defineRule("greaterEqual", {
  arity: 2,
  value: (x, y) => (x >= y ? 1 : 0),
  partial: nonDifferentiable,
  latex: ([x, y]) => indicator(`${x} \\geq ${y}`),
});
