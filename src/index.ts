/**
 * ricci: named-edge tensor diagrams with symbolic autodiff, lowered to ONNX Runtime or TensorFlow.js.
 * This entry is the language (build, differentiate, simplify, print, evaluate, compile, the
 * losses); models, training, RL and the pipeline are `ricci/nn`, `ricci/train`, `ricci/rl` and
 * `ricci/pipeline`, so importing the language loads none of them.
 *
 *   const W = variable("W", { in: 4, out: 3 });
 *   const x = variable("x", { batch: 8, in: 4 });
 *   const loss = mean(logsumexp(dot(x, W), "out"));
 *   const dW = grad(loss, W);              // an expression with W's edges
 */
export { RicciError } from "./errors.js";
export type { Edge, EdgeSizes } from "./dsl/edges.js";
export type {
  Expr, Variable, Constant, Delta, OneHot, Product, Sum, Elementwise, EdgeFunction, Rename, StopGradient, Kind,
  EdgeFunctionName,
} from "./dsl/expr.js";
export { topologicalOrder, variablesOf } from "./dsl/expr.js";
export {
  type Operand,
  variable, constant, zeros, ones, delta, oneHot, gather,
  einsum, dot, mul, transpose, linear, add, sub, scale, neg, sum, mean, rename,
  apply, exp, log, sigmoid, softplus, tanh, relu, abs, sign, step, pow, sqrt, square, div,
  minimum, maximum, greater, greaterEqual, less, lessEqual, clip, where,
  softmax, logSoftmax, logsumexp, max, stopGradient,
} from "./dsl/build.js";
export { fn } from "./dsl/userfn.js";
export type { InputValue, NestedArray, TensorLike } from "./dsl/values.js";
export { grad, valueAndGrad, vjp, jvp, hvp, type Wrt, type GradOf } from "./autodiff/transforms.js";
export { evaluate, evaluateAll, type Inputs, type Value64, type EvaluateOptions } from "./reference/evaluate.js";

import type { Expr } from "./dsl/expr.js";
/** The edge names of an expression, in the axis order of its value. */
export function edgesOf(e: Expr): string[] {
  return e.edges.map((d) => d.name);
}
export { compile, type Compiled, type CompileOptions, type TensorInputs, type ArrayOutput } from "./lower/compile.js";
export { tf, initBackend, activeBackend, describeBackend, BACKENDS, type BackendName } from "./lower/backend.js";
export { exportOnnx, type ExportOptions, type ExportedModel } from "./lower/onnx/export.js";
export { planSummary, type PlanSummary, type LoweringTarget } from "./lower/summary.js";
export * from "./losses/index.js";
export { simplify, equal } from "./simplify/simplify.js";
export { toText } from "./print/text.js";
export { toLatex } from "./print/latex.js";
export {
  derivation, toLatexDerivation, type DerivationStep, type DerivationOptions, type DerivationLatexOptions,
} from "./print/derivation.js";
export { MATHJAX2_MAX_BUFFER } from "./print/layout.js";
export { toSvg, type SvgOptions } from "./print/svg.js";
export { toHtml, type HtmlOptions } from "./print/html.js";
/** Alias of `variable`: a named-edge input tensor, `tensor("x", { batch: 8, in: 4 })`. */
export { variable as tensor } from "./dsl/build.js";
