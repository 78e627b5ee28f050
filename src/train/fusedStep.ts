/**
 * A whole training step as one compiled graph: loss, gradients, global-norm clipping and the
 * AdamW update, parameters and moments in, new ones out — one `run` per step, with the same
 * semantics as `objective` + `clipByGlobalNorm` + `adamW` (PyTorch's AdamW, decay before the
 * Adam step). The optimizer here is a set of expressions like any other, so it runs wherever
 * the loss does (on ONNX Runtime with no per-tensor round trips).
 */
import { grad } from "../autodiff/transforms.js";
import { add, constant, minimum, mul, pow, scale, sqrt, square, sum, variable } from "../dsl/build.js";
import { check } from "../errors.js";
import type { Expr, Variable } from "../dsl/expr.js";
import { tf } from "../lower/backend.js";
import { type Compiled, type TensorInputs, compile } from "../lower/compile.js";
import type { Objective } from "./objective.js";
import type { Params } from "../nn/params.js";
import { type AdamWOptions, type AdamWState, checkAdamWState, decayMatrices, learningRateAt, momentArrays, momentTensors } from "./optimizer.js";

export interface FusedStepOptions extends AdamWOptions {
  /** Global-norm clip (default 1; 0 disables). */
  readonly clipNorm?: number;
  /** Scalar diagnostics compiled alongside. */
  readonly metrics?: Readonly<Record<string, Expr>>;
}

export interface FusedStepResult {
  /** The 1-based number of this update (unchanged when the step was skipped). */
  readonly step: number;
  readonly loss: number;
  /** Global gradient norm before clipping. */
  readonly gradNorm: number;
  readonly lr: number;
  /** A non-finite loss or gradient norm: the update was not applied. */
  readonly skipped: boolean;
  readonly metrics: Record<string, number>;
}

export interface FusedStep {
  /** One update of `params` (its tensors are replaced) on a batch: `fused.step(params, data)`. */
  step(params: Params, data: TensorInputs): FusedStepResult;
  readonly stepCount: number;
  state(): AdamWState;
  loadState(state: AdamWState): void;
  dispose(): void;
}

const moment = (kind: "m" | "v", p: Variable): Variable => variable(`adamw.${kind}.${p.name}`, Object.fromEntries(p.edges.map((e) => [e.name, e.size])));

/**
 * The fused step for `loss` over `parameters`:
 * `const fused = fusedAdamW(loss, params, { lr: 3e-4 }); fused.step(values, batch)`.
 */
export function fusedAdamW(loss: Expr, parameters: readonly Variable[], options: FusedStepOptions): FusedStep {
  const weightDecay = options.weightDecay ?? 0.1;
  const [beta1, beta2] = options.betas ?? [0.9, 0.95];
  const eps = options.eps ?? 1e-8;
  const clipNorm = options.clipNorm ?? 1;
  const decayFilter = options.decayFilter ?? decayMatrices;
  check(clipNorm >= 0 && Number.isFinite(clipNorm), () => `fusedAdamW: clipNorm must be a finite number ≥ 0, got ${clipNorm}`);
  check(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, () => `fusedAdamW: betas must lie in [0, 1), got (${beta1}, ${beta2})`);

  // Per-step scalars are inputs, so one graph serves every step.
  const decay = variable("adamw.decay", {}); // 1 − lr·λ
  const stepSize = variable("adamw.stepSize", {}); // lr / (1 − β1^t)
  const invSqrtBc2 = variable("adamw.invSqrtBc2", {}); // 1 / √(1 − β2^t)
  const grads = grad(loss, [...parameters]);
  const norm2 = add(...grads.map((g) => sum(square(g))));
  const gradNorm = sqrt(norm2);
  // min(1, c/‖g‖): 1 when ‖g‖ ≤ c (and when ‖g‖ = 0, where c/‖g‖ = ∞).
  const clip = clipNorm > 0 ? minimum(constant(1), scale(pow(norm2, -0.5), clipNorm)) : constant(1);
  const outputs: Record<string, Expr> = { loss, gradNorm, ...(options.metrics ?? {}) };
  parameters.forEach((p, i) => {
    const g = mul(grads[i], clip);
    const m = add(scale(moment("m", p), beta1), scale(g, 1 - beta1));
    const v = add(scale(moment("v", p), beta2), scale(square(g), 1 - beta2));
    const decayed = decayFilter(p.name, p.edges.map((e) => e.size)) && weightDecay !== 0 ? mul(p, decay) : p;
    const denom = add(mul(sqrt(v), invSqrtBc2), eps);
    outputs[`new:${p.name}`] = add(decayed, scale(mul(stepSize, m, pow(denom, -1)), -1));
    outputs[`m:${p.name}`] = m;
    outputs[`v:${p.name}`] = v;
  });
  const run: Compiled<string> = compile(outputs);
  const names = parameters.map((p) => p.name);
  const shapes = new Map(parameters.map((p) => [p.name, p.edges.map((e) => e.size)]));
  let m = new Map(parameters.map((p) => [p.name, tf.zeros(shapes.get(p.name)!)]));
  let v = new Map(parameters.map((p) => [p.name, tf.zeros(shapes.get(p.name)!)]));
  let stepCount = 0;

  function step(params: Params, data: TensorInputs): FusedStepResult {
    const t = stepCount + 1;
    const lr = learningRateAt(options.lr, t);
    const moments: Record<string, tf.Tensor> = {};
    for (const p of parameters) {
      moments[moment("m", p).name] = m.get(p.name)!;
      moments[moment("v", p).name] = v.get(p.name)!;
    }
    const out = run.runSync({
      ...data, ...params, ...moments,
      [decay.name]: 1 - lr * weightDecay, [stepSize.name]: lr / (1 - beta1 ** t), [invSqrtBc2.name]: 1 / Math.sqrt(1 - beta2 ** t),
    });
    const read = (k: string): number => out[k].dataSync()[0];
    const lossValue = read("loss");
    const norm = read("gradNorm");
    const metrics = Object.fromEntries(Object.keys(options.metrics ?? {}).map((k) => [k, read(k)]));
    const skipped = !(Number.isFinite(lossValue) && Number.isFinite(norm));
    for (const n of names) {
      if (skipped) {
        for (const kind of ["new", "m", "v"]) out[`${kind}:${n}`].dispose();
        continue;
      }
      params[n].dispose();
      params[n] = out[`new:${n}`];
      m.get(n)!.dispose();
      m.set(n, out[`m:${n}`]);
      v.get(n)!.dispose();
      v.set(n, out[`v:${n}`]);
    }
    for (const k of ["loss", "gradNorm", ...Object.keys(metrics)]) out[k].dispose();
    if (!skipped) stepCount = t;
    return { step: stepCount, loss: lossValue, gradNorm: norm, lr: skipped ? 0 : lr, skipped, metrics };
  }

  return {
    step,
    get stepCount() {
      return stepCount;
    },
    state: () => ({ step: stepCount, m: momentArrays(m), v: momentArrays(v) }),
    loadState(s) {
      checkAdamWState("fusedAdamW.loadState", s, shapes);
      const mNew = momentTensors(s.m, shapes);
      const vNew = momentTensors(s.v, shapes);
      for (const x of [...m.values(), ...v.values()]) x.dispose();
      m = mNew;
      v = vNew;
      stepCount = s.step;
    },
    dispose() {
      for (const x of [...m.values(), ...v.values()]) x.dispose();
    },
  };
}

/** `fusedAdamW` on an objective's loss and parameters, its diagnostics compiled alongside: `fusedOptimizer(lm.objective, { lr })`. */
export function fusedOptimizer(objective: Objective, options: FusedStepOptions): FusedStep {
  return fusedAdamW(objective.loss, objective.parameters, { ...options, metrics: { ...objective.metrics, ...options.metrics } });
}
