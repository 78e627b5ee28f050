/**
 * Kernels for the elementwise function table, and mathjs formulas (user `fn`s), written against
 * TensorOps so that every lowering target gets them.
 */
import type { MathNode } from "mathjs";
import { RicciError } from "../dsl/errors.js";
import { displayName, userFormula } from "../dsl/userfn.js";
import type { TensorOps, UnaryOp } from "./ops.js";

type Kernel = <T>(ops: TensorOps<T>, args: readonly T[], param: number | null) => T;

const unary = (op: UnaryOp): Kernel => (ops, [x]) => ops.unary(op, x);

function power<T>(ops: TensorOps<T>, x: T, p: number): T {
  if (p === 2) return ops.unary("square", x);
  if (p === 0.5) return ops.unary("sqrt", x);
  if (p === -1) return ops.unary("reciprocal", x);
  if (p === -0.5) return ops.unary("rsqrt", x);
  if (p === 3) return ops.binary("mul", ops.unary("square", x), x);
  return ops.binary("pow", x, ops.scalar(p));
}

const kernels: Record<string, Kernel> = {
  exp: unary("exp"),
  log: unary("log"),
  sigmoid: unary("sigmoid"),
  softplus: unary("softplus"),
  tanh: unary("tanh"),
  relu: unary("relu"),
  abs: unary("abs"),
  sign: unary("sign"),
  step: (ops, [x]) => ops.binary("greater", x, ops.scalar(0)),
  pow: (ops, [x], p) => power(ops, x, p!),
  minimum: (ops, [x, y]) => ops.binary("minimum", x, y),
  maximum: (ops, [x, y]) => ops.binary("maximum", x, y),
  greater: (ops, [x, y]) => ops.binary("greater", x, y),
  greaterEqual: (ops, [x, y]) => ops.binary("greaterEqual", x, y),
};

/** Applies the elementwise function `fn` (a table key or a user `fn`) to broadcast-aligned tensors. */
export function applyElementwise<T>(ops: TensorOps<T>, fn: string, args: readonly T[], param: number | null): T {
  const kernel = kernels[fn];
  if (kernel !== undefined) return kernel(ops, args, param);
  const formula = userFormula(fn);
  if (formula === undefined) throw new RicciError(`no kernel for elementwise function "${fn}"`);
  return lowerFormula(ops, formula, args[0], displayName(fn));
}

const reciprocalOf = (op: UnaryOp) => <T>(ops: TensorOps<T>, x: T): T => ops.unary("reciprocal", ops.unary(op, x));

const formulaFunctions: Record<string, <T>(ops: TensorOps<T>, x: T) => T> = {
  ...Object.fromEntries(
    (["exp", "log", "sqrt", "abs", "tanh", "sinh", "cosh", "sin", "cos", "tan", "log1p", "expm1", "sign", "atan", "asin", "acos", "erf", "square"] as const).map(
      (op) => [op, <T>(ops: TensorOps<T>, x: T): T => ops.unary(op, x)],
    ),
  ),
  cube: (ops, x) => ops.binary("mul", ops.unary("square", x), x),
  // mathjs writes derivatives with the reciprocal trigonometric functions (d tanh = sech²).
  sech: reciprocalOf("cosh"), csch: reciprocalOf("sinh"), coth: reciprocalOf("tanh"),
  sec: reciprocalOf("cos"), csc: reciprocalOf("sin"), cot: reciprocalOf("tan"),
};

/** A mathjs formula in x as ops on `x`. */
export function lowerFormula<T>(ops: TensorOps<T>, node: MathNode, x: T, name: string): T {
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
        break;
      }
    }
    throw new RicciError(`fn "${name}": cannot lower "${n.toString()}" (supported: + - * / ^, ${Object.keys(formulaFunctions).join(", ")})`);
  };
  return visit(node);
}
