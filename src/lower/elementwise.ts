/** tfjs kernels for the elementwise function table, and mathjs formulas (user `fn`s) as tf ops. */
import type { MathNode } from "mathjs";
import { RicciError } from "../dsl/errors.js";
import { displayName, userFormula } from "../dsl/userfn.js";
import { tf } from "./backend.js";

type Kernel = (args: readonly tf.Tensor[], param: number | null) => tf.Tensor;

const unary = (f: (x: tf.Tensor) => tf.Tensor): Kernel => ([x]) => f(x);
const asFloat = (t: tf.Tensor): tf.Tensor => tf.cast(t, "float32");

function power(x: tf.Tensor, p: number): tf.Tensor {
  if (p === 2) return tf.square(x);
  if (p === 0.5) return tf.sqrt(x);
  if (p === -1) return tf.reciprocal(x);
  if (p === -0.5) return tf.rsqrt(x);
  if (p === 3) return tf.mul(tf.square(x), x);
  return tf.pow(x, tf.scalar(p));
}

const kernels: Record<string, Kernel> = {
  exp: unary(tf.exp),
  log: unary(tf.log),
  sigmoid: unary(tf.sigmoid),
  softplus: unary(tf.softplus),
  tanh: unary(tf.tanh),
  relu: unary(tf.relu),
  abs: unary(tf.abs),
  sign: unary(tf.sign),
  step: unary((x) => asFloat(tf.greater(x, 0))),
  pow: ([x], p) => power(x, p!),
  minimum: ([x, y]) => tf.minimum(x, y),
  maximum: ([x, y]) => tf.maximum(x, y),
  greater: ([x, y]) => asFloat(tf.greater(x, y)),
  greaterEqual: ([x, y]) => asFloat(tf.greaterEqual(x, y)),
};

/** Applies the elementwise function `fn` (a table key) to broadcast-aligned tensors. */
export function applyElementwise(fn: string, args: readonly tf.Tensor[], param: number | null): tf.Tensor {
  const kernel = kernels[fn];
  if (kernel !== undefined) return kernel(args, param);
  const formula = userFormula(fn);
  if (formula === undefined) throw new RicciError(`no tfjs kernel for elementwise function "${fn}"`);
  return lowerFormula(formula, args[0], displayName(fn));
}

const formulaFunctions: Record<string, (x: tf.Tensor) => tf.Tensor> = {
  exp: tf.exp, log: tf.log, sqrt: tf.sqrt, abs: tf.abs, tanh: tf.tanh, sinh: tf.sinh, cosh: tf.cosh,
  sin: tf.sin, cos: tf.cos, tan: tf.tan, log1p: tf.log1p, expm1: tf.expm1, sign: tf.sign,
  atan: tf.atan, asin: tf.asin, acos: tf.acos, erf: tf.erf, cube: (x) => tf.mul(tf.square(x), x), square: tf.square,
  // mathjs writes derivatives with the reciprocal trigonometric functions (d tanh = sech²).
  sech: (x) => tf.reciprocal(tf.cosh(x)), csch: (x) => tf.reciprocal(tf.sinh(x)), coth: (x) => tf.reciprocal(tf.tanh(x)),
  sec: (x) => tf.reciprocal(tf.cos(x)), csc: (x) => tf.reciprocal(tf.sin(x)), cot: (x) => tf.reciprocal(tf.tan(x)),
};

/** A mathjs formula in x as tf ops on `x`. */
export function lowerFormula(node: MathNode, x: tf.Tensor, name: string): tf.Tensor {
  const visit = (n: MathNode): tf.Tensor => {
    switch (n.type) {
      case "SymbolNode": {
        const symbol = (n as unknown as { name: string }).name;
        return symbol === "pi" ? tf.scalar(Math.PI) : symbol === "e" ? tf.scalar(Math.E) : x;
      }
      case "ConstantNode":
        return tf.scalar(Number((n as unknown as { value: number }).value));
      case "ParenthesisNode":
        return visit((n as unknown as { content: MathNode }).content);
      case "OperatorNode": {
        const op = n as unknown as { fn: string; args: MathNode[] };
        const [a, b] = op.args;
        switch (op.fn) {
          case "unaryMinus":
            return tf.neg(visit(a));
          case "unaryPlus":
            return visit(a);
          case "add":
            return tf.add(visit(a), visit(b));
          case "subtract":
            return tf.sub(visit(a), visit(b));
          case "multiply":
            return tf.mul(visit(a), visit(b));
          case "divide":
            return tf.div(visit(a), visit(b));
          case "pow":
            return b.type === "ConstantNode" ? power(visit(a), Number((b as unknown as { value: number }).value)) : tf.pow(visit(a), visit(b));
        }
        break;
      }
      case "FunctionNode": {
        const f = n as unknown as { fn: { name: string }; args: MathNode[] };
        const kernel = formulaFunctions[f.fn.name];
        if (kernel !== undefined && f.args.length === 1) return kernel(visit(f.args[0]));
        if (f.fn.name === "pow" && f.args.length === 2) return tf.pow(visit(f.args[0]), visit(f.args[1]));
        break;
      }
    }
    throw new RicciError(`fn "${name}": cannot lower "${n.toString()}" to tfjs (supported: + - * / ^, ${Object.keys(formulaFunctions).join(", ")})`);
  };
  return visit(node);
}
