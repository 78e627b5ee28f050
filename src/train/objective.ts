/**
 * A loss expression compiled together with its gradient with respect to every parameter (one
 * backward sweep, one plan): the training path of every trainer in ricci.
 */
import type { Expr, Variable } from "../dsl/expr.js";
import { grad } from "../autodiff/transforms.js";
import { tf } from "../lower/backend.js";
import { type Compiled, type TensorInputs, compile } from "../lower/compile.js";
import type { Params } from "../nn/params.js";

export interface ObjectiveResult {
  readonly loss: number;
  /** Gradients by parameter name, each in its parameter's layout; the caller disposes them. */
  readonly grads: Params;
  /** Scalar diagnostics compiled alongside (clip fraction, KL, …). */
  readonly metrics: Record<string, number>;
}

export interface Objective {
  /** Loss, gradients and metrics at these parameter values and data. */
  run(params: Params, data: TensorInputs): ObjectiveResult;
  /** Loss and metrics only (a forward pass: no gradient work). */
  evaluate(params: Params, data: TensorInputs): { loss: number; metrics: Record<string, number> };
  readonly loss: Expr;
  /** The parameter variables, and the gradient of the loss by each one's name. */
  readonly parameters: readonly Variable[];
  readonly gradients: Readonly<Record<string, Expr>>;
  /** The diagnostics' expressions by name. */
  readonly metrics: Readonly<Record<string, Expr>>;
}

const GRAD = "grad:";

/** Compiles `loss` and ∂loss/∂p for every parameter variable in `parameters`; `metrics` are extra scalar outputs. */
export function objective(loss: Expr, parameters: readonly Variable[], metrics: Readonly<Record<string, Expr>> = {}): Objective {
  const gradients = grad(loss, parameters);
  const named: Record<string, Expr> = Object.fromEntries(parameters.map((v, i) => [v.name, gradients[i]]));
  const withGrads: Compiled<string> = compile({ loss, ...metrics, ...Object.fromEntries(parameters.map((v, i) => [`${GRAD}${v.name}`, gradients[i]])) });
  const forward: Compiled<string> = compile({ loss, ...metrics });
  const scalars = (out: Record<string, tf.Tensor>): Record<string, number> => {
    const values: Record<string, number> = {};
    for (const k of Object.keys(metrics)) {
      values[k] = out[k].dataSync()[0];
      out[k].dispose();
    }
    return values;
  };
  return {
    loss,
    parameters,
    gradients: named,
    metrics,
    run(params, data) {
      const out = withGrads.runSync({ ...data, ...params });
      const grads: Params = {};
      for (const v of parameters) grads[v.name] = out[`${GRAD}${v.name}`];
      const lossValue = out.loss.dataSync()[0];
      out.loss.dispose();
      return { loss: lossValue, grads, metrics: scalars(out) };
    },
    evaluate(params, data) {
      const out = forward.runSync({ ...data, ...params });
      const lossValue = out.loss.dataSync()[0];
      out.loss.dispose();
      return { loss: lossValue, metrics: scalars(out) };
    },
  };
}
