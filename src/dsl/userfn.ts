/**
 * User-defined elementwise functions from a formula in x, parsed by mathjs; their
 * derivatives are taken by mathjs symbolically, to any order, and registered on demand.
 */
import { createRequire } from "node:module";
import type { MathNode } from "mathjs";
import * as b from "./build.js";
import { RicciError } from "../errors.js";
import type { Expr } from "./expr.js";
import { defineRule, hasRule } from "./functions.js";
import { type PointwiseOps, type UnaryOp, power } from "./pointwise.js";

interface UserFunction {
  readonly name: string;
  readonly formula: MathNode;
  readonly evaluate: (x: number) => number;
}

type MathJs = typeof import("mathjs");
let loadedMathjs: MathJs | undefined;
/**
 * mathjs, loaded on the first formula rather than when ricci is imported: it is hundreds of
 * modules (about a second of start-up) that only `fn` needs. Its CommonJS build loads synchronously.
 */
function mathjs(): MathJs {
  return (loadedMathjs ??= createRequire(import.meta.url)("mathjs") as MathJs);
}

const userFunctions = new Map<string, UserFunction>();

/** The table key of a user function (its own namespace, so `fn("softplus", …)` may shadow nothing). */
const keyOf = (name: string): string => `fn:${name}`;

/** The display name of a function-table key (`fn:softplus` → `softplus`). */
export function displayName(fnKey: string): string {
  return fnKey.startsWith("fn:") ? fnKey.slice(3) : fnKey;
}

function freeSymbols(node: MathNode): string[] {
  const names = new Set<string>();
  node.traverse((n, path) => {
    if (n.type === "SymbolNode" && path !== "fn") names.add((n as MathNode & { name: string }).name);
  });
  return [...names];
}

function register(name: string, formula: MathNode): string {
  const key = keyOf(name);
  const existing = userFunctions.get(key);
  if (existing !== undefined) {
    if (existing.formula.toString() !== formula.toString()) {
      throw new RicciError(`fn: "${name}" is already defined as "${existing.formula.toString()}"; choose another name for "${formula.toString()}"`);
    }
    return key;
  }
  const compiled = formula.compile();
  const evaluate = (x: number): number => Number(compiled.evaluate({ x }));
  userFunctions.set(key, { name, formula, evaluate });
  defineRule(key, {
    arity: 1,
    value: (x) => evaluate(x),
    partial: (node) => b.apply(register(`${name}'`, mathjs().derivative(formula, "x")), [node.args[0]]),
    latex: ([x]) => `\\operatorname{${name.replace(/'/g, "\\prime ")}}\\left(${x}\\right)`,
    kernel: (ops, [x]) => lowerFormula(ops, formula, x, name),
  });
  return key;
}

/**
 * Defines an elementwise function from a formula in `x`:
 * `const softplus = fn("softplus", "log(1 + exp(x))"); softplus(logits)`.
 */
export function fn(name: string, formula: string): (x: Expr | number) => Expr {
  if (typeof name !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new RicciError(`fn: function name "${String(name)}" is not an identifier`);
  }
  let node: MathNode;
  try {
    node = mathjs().parse(formula);
  } catch (error) {
    throw new RicciError(`fn "${name}": cannot parse formula "${formula}": ${(error as Error).message}`);
  }
  const unknown = freeSymbols(node).filter((s) => !["x", "pi", "e"].includes(s));
  if (unknown.length > 0) {
    throw new RicciError(`fn "${name}": formula "${formula}" may use only the variable x, but it uses ${unknown.join(", ")}`);
  }
  try {
    mathjs().derivative(node, "x");
  } catch (error) {
    throw new RicciError(`fn "${name}": mathjs cannot differentiate "${formula}": ${(error as Error).message}`);
  }
  const probe = Number(node.compile().evaluate({ x: 0.5 }));
  if (typeof probe !== "number" || Number.isNaN(probe)) {
    throw new RicciError(`fn "${name}": formula "${formula}" does not evaluate to a real number (at x = 0.5 it gives ${String(probe)})`);
  }
  const key = register(name, node);
  if (!hasRule(key)) throw new RicciError(`fn "${name}": registration failed`);
  return (x) => b.apply(key, [x]);
}

const reciprocalOf = (op: UnaryOp) => <T>(ops: PointwiseOps<T>, x: T): T => ops.unary("reciprocal", ops.unary(op, x));

const formulaFunctions: Record<string, <T>(ops: PointwiseOps<T>, x: T) => T> = {
  ...Object.fromEntries(
    (["exp", "log", "sqrt", "abs", "tanh", "sinh", "cosh", "sin", "cos", "tan", "log1p", "expm1", "sign", "atan", "asin", "acos", "erf", "square"] as const).map(
      (op) => [op, <T>(ops: PointwiseOps<T>, x: T): T => ops.unary(op, x)],
    ),
  ),
  // mathjs writes derivatives with the reciprocal trigonometric functions (d tanh = sech²).
  sech: reciprocalOf("cosh"), csch: reciprocalOf("sinh"), coth: reciprocalOf("tanh"),
  sec: reciprocalOf("cos"), csc: reciprocalOf("sin"), cot: reciprocalOf("tan"),
};

/**
 * A mathjs formula in x as ops on `x`, in x's shape: a formula without x (the derivative of
 * `pi * x` is `pi`) is multiplied by x⁰ (1 everywhere, also at 0, ±∞ and NaN), or it would
 * lower to one scalar.
 */
export function lowerFormula<T>(ops: PointwiseOps<T>, node: MathNode, x: T, name: string): T {
  const value = lowerExpression(ops, node, x, name);
  return freeSymbols(node).includes("x") ? value : ops.binary("mul", value, ops.binary("pow", x, ops.scalar(0)));
}

function lowerExpression<T>(ops: PointwiseOps<T>, node: MathNode, x: T, name: string): T {
  const visit = (n: MathNode): T => {
    switch (n.type) {
      case "SymbolNode": {
        const symbol = (n as unknown as { name: string }).name;
        return symbol === "pi" ? ops.scalar(Math.PI) : symbol === "e" ? ops.scalar(Math.E) : x;
      }
      case "ConstantNode":
        return ops.scalar(Number((n as unknown as { value: number }).value));
      case "ParenthesisNode":
        return visit((n as unknown as { content: MathNode }).content);
      case "OperatorNode": {
        const op = n as unknown as { fn: string; args: MathNode[] };
        const [a, b] = op.args;
        switch (op.fn) {
          case "unaryMinus":
            return ops.unary("neg", visit(a));
          case "unaryPlus":
            return visit(a);
          case "add":
            return ops.binary("add", visit(a), visit(b));
          case "subtract":
            return ops.binary("sub", visit(a), visit(b));
          case "multiply":
            return ops.binary("mul", visit(a), visit(b));
          case "divide":
            return ops.binary("div", visit(a), visit(b));
          case "pow":
            return b.type === "ConstantNode" ? power(ops, visit(a), Number((b as unknown as { value: number }).value)) : ops.binary("pow", visit(a), visit(b));
        }
        break;
      }
      case "FunctionNode": {
        const f = n as unknown as { fn: { name: string }; args: MathNode[] };
        const kernel = formulaFunctions[f.fn.name];
        if (kernel !== undefined && f.args.length === 1) return kernel(ops, visit(f.args[0]));
        if (f.fn.name === "pow" && f.args.length === 2) return ops.binary("pow", visit(f.args[0]), visit(f.args[1]));
        // log(x, b): mathjs's logarithm to base b, and its derivative's 1 / (x · log(b)).
        if (f.fn.name === "log" && f.args.length === 2) return ops.binary("div", ops.unary("log", visit(f.args[0])), ops.unary("log", visit(f.args[1])));
        break;
      }
    }
    throw new RicciError(`fn "${name}": cannot lower "${n.toString()}" (supported: + - * / ^, pow(x, y), log(x, b), ${Object.keys(formulaFunctions).join(", ")})`);
  };
  return visit(node);
}
