/**
 * AdamW (Loshchilov & Hutter, with PyTorch's semantics), a warmup + cosine learning-rate
 * schedule, global-norm gradient clipping and gradient accumulation. These run on tfjs ops
 * directly: an optimizer is bookkeeping on values, not a gradient computation, so it has no
 * place in the DSL.
 *
 * Memory rule: every function here returns fresh tensors that the caller owns and never
 * disposes the caller's inputs, except `opt.step`, which replaces (and disposes) the
 * parameter tensors it updates — the optimizer owns the parameters it trains.
 */
import { RicciError, check } from "../errors.js";
import { tf } from "../lower/backend.js";
import type { Params } from "../nn/params.js";

/** A learning rate: fixed, or a function of the 1-based number of the update being applied. */
export type LearningRate = number | ((step: number) => number);

/** Which parameters get weight decay, by name and shape. */
export type DecayFilter = (name: string, shape: readonly number[]) => boolean;

/** The default decay rule: matrices and higher-rank weights decay; norm gains, biases and other vectors do not. */
export const decayMatrices: DecayFilter = (_name, shape) => shape.length >= 2;

export interface AdamWOptions {
  readonly lr: LearningRate;
  /** Decoupled weight decay λ: each step multiplies a decayed parameter by (1 − lr·λ). Default 0.1. */
  readonly weightDecay?: number;
  /** (β1, β2); default (0.9, 0.95). */
  readonly betas?: readonly [number, number];
  /** Added to √v̂ in the denominator; default 1e-8. */
  readonly eps?: number;
  /** Default `decayMatrices`. */
  readonly decayFilter?: DecayFilter;
}

/**
 * Everything AdamW carries between steps, as plain arrays, so a checkpoint can resume training
 * exactly: the number of updates applied and the first/second moments per parameter (each in
 * its parameter's layout).
 */
export interface AdamWState {
  readonly step: number;
  readonly m: Readonly<Record<string, Float32Array>>;
  readonly v: Readonly<Record<string, Float32Array>>;
}

/** What one update did, for logging. */
export interface StepInfo {
  /** The 1-based number of this update. */
  readonly step: number;
  /** The learning rate it used. */
  readonly lr: number;
}

export interface AdamW {
  /**
   * Applies one update with these gradients (by parameter name, in each parameter's layout),
   * replacing the tensors in the params record. A parameter without a gradient is left as it
   * is (frozen), like PyTorch's `grad is None`. The gradients stay the caller's to dispose.
   */
  step(grads: Params): StepInfo;
  /** Number of updates applied so far. */
  readonly stepCount: number;
  /** A copy of the optimizer state (step count, moments). */
  state(): AdamWState;
  /** Restores a state taken with `state()` (e.g. from a checkpoint); validates names and sizes. */
  loadState(state: AdamWState): void;
  /** Frees the moment tensors (not the parameters). */
  dispose(): void;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((n, i) => n === b[i]);

/** The learning rate of the update numbered `step` (1-based). */
export function learningRateAt(lr: LearningRate, step: number): number {
  const value = typeof lr === "number" ? lr : lr(step);
  check(Number.isFinite(value) && value >= 0, () => `adamW: learning rate at step ${step} is ${value}; expected a finite number ≥ 0`);
  return value;
}

/** Moments as plain arrays (copies), by parameter name: what `state()` returns. */
export function momentArrays(moments: ReadonlyMap<string, tf.Tensor>): Record<string, Float32Array> {
  return Object.fromEntries([...moments].map(([n, t]) => [n, Float32Array.from(t.dataSync() as Float32Array)]));
}

/** Moments from a state's arrays, shaped like their parameters. */
export function momentTensors(moments: Readonly<Record<string, Float32Array>>, shapes: ReadonlyMap<string, readonly number[]>): Map<string, tf.Tensor> {
  return new Map([...shapes].map(([n, shape]) => [n, tf.tensor(Float32Array.from(moments[n]), [...shape], "float32")]));
}

/** Throws (naming `who`) unless `s` has a valid step and moments for exactly these parameters, each of its parameter's size. */
export function checkAdamWState(who: string, s: AdamWState, shapes: ReadonlyMap<string, readonly number[]>): void {
  check(Number.isInteger(s.step) && s.step >= 0, () => `${who}: step must be an integer ≥ 0, got ${s.step}`);
  const names = [...shapes.keys()];
  for (const [label, moments] of [["m", s.m], ["v", s.v]] as const) {
    const missing = names.filter((n) => !(n in moments));
    const extra = Object.keys(moments).filter((n) => !shapes.has(n));
    check(missing.length === 0 && extra.length === 0, () =>
      `${who}: state.${label} does not match the parameters` +
      (missing.length ? `; missing: ${missing.join(", ")}` : "") + (extra.length ? `; extra: ${extra.join(", ")}` : ""));
    for (const [n, shape] of shapes) {
      const size = shape.reduce((k, d) => k * d, 1);
      check(moments[n].length === size, () => `${who}: state.${label}["${n}"] has ${moments[n].length} values, the parameter [${shape}] has ${size}`);
    }
  }
}

/**
 * AdamW over `params`, updating them in place:
 * `const opt = adamW(params, { lr: warmupCosine({ peak: 3e-4, warmupSteps: 100, totalSteps: 5000 }) }); opt.step(grads);`
 */
export function adamW(params: Params, options: AdamWOptions): AdamW {
  const weightDecay = options.weightDecay ?? 0.1;
  const [beta1, beta2] = options.betas ?? [0.9, 0.95];
  const eps = options.eps ?? 1e-8;
  const decayFilter = options.decayFilter ?? decayMatrices;
  check(weightDecay >= 0 && Number.isFinite(weightDecay), () => `adamW: weightDecay must be a finite number ≥ 0, got ${weightDecay}`);
  check(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, () => `adamW: betas must lie in [0, 1), got (${beta1}, ${beta2})`);
  check(eps >= 0 && Number.isFinite(eps), () => `adamW: eps must be a finite number ≥ 0, got ${eps}`);

  const names = Object.keys(params);
  // The decay rule is decided once, from the shapes the optimizer was built with.
  const decays = new Map(names.map((n) => [n, decayFilter(n, params[n].shape)]));
  let m = new Map(names.map((n) => [n, tf.zerosLike(params[n])]));
  let v = new Map(names.map((n) => [n, tf.zerosLike(params[n])]));
  let stepCount = 0;
  let disposed = false;

  const alive = (): void => check(!disposed, () => "adamW: this optimizer was disposed");

  function step(grads: Params): StepInfo {
    alive();
    for (const [name, g] of Object.entries(grads)) {
      const p = params[name];
      check(p !== undefined && m.has(name), () => `adamW: gradient "${name}" has no parameter (parameters: ${names.join(", ")})`);
      check(sameShape(g.shape, p.shape), () => `adamW: gradient "${name}" has shape [${g.shape}], its parameter [${p.shape}]`);
    }
    const t = stepCount + 1;
    const lr = learningRateAt(options.lr, t);
    const biasCorrection1 = 1 - beta1 ** t;
    const sqrtBiasCorrection2 = Math.sqrt(1 - beta2 ** t);
    for (const [name, g] of Object.entries(grads)) {
      const p = params[name];
      const mOld = m.get(name)!;
      const vOld = v.get(name)!;
      const [pNew, mNew, vNew] = tf.tidy(() => {
        const m1 = tf.add(tf.mul(mOld, beta1), tf.mul(g, 1 - beta1));
        const v1 = tf.add(tf.mul(vOld, beta2), tf.mul(tf.square(g), 1 - beta2));
        // PyTorch's order: decay first (decoupled from the gradient), then the Adam step.
        const decayed = decays.get(name)! && weightDecay !== 0 ? tf.mul(p, 1 - lr * weightDecay) : p;
        const denom = tf.add(tf.div(tf.sqrt(v1), sqrtBiasCorrection2), eps);
        const update = tf.mul(tf.div(m1, denom), lr / biasCorrection1);
        return [tf.sub(decayed, update), m1, v1];
      });
      params[name] = pNew;
      m.set(name, mNew);
      v.set(name, vNew);
      p.dispose();
      mOld.dispose();
      vOld.dispose();
    }
    stepCount = t;
    return { step: t, lr };
  }

  function state(): AdamWState {
    alive();
    return { step: stepCount, m: momentArrays(m), v: momentArrays(v) };
  }

  function loadState(s: AdamWState): void {
    alive();
    const shapes = new Map(names.map((n) => [n, params[n].shape]));
    checkAdamWState("adamW.loadState", s, shapes);
    const mNew = momentTensors(s.m, shapes);
    const vNew = momentTensors(s.v, shapes);
    for (const t of [...m.values(), ...v.values()]) t.dispose();
    m = mNew;
    v = vNew;
    stepCount = s.step;
  }

  function dispose(): void {
    if (disposed) return;
    for (const t of [...m.values(), ...v.values()]) t.dispose();
    disposed = true;
  }

  return {
    step,
    get stepCount() {
      return stepCount;
    },
    state,
    loadState,
    dispose,
  };
}

export interface WarmupCosineOptions {
  readonly peak: number;
  readonly warmupSteps: number;
  readonly totalSteps: number;
  /** The final learning rate as a fraction of the peak; default 0.1. */
  readonly minRatio?: number;
}

/**
 * Linear warmup from 0 to `peak` over `warmupSteps`, then cosine decay to `minRatio·peak` at
 * `totalSteps`, constant after: `warmupCosine({ peak: 1e-3, warmupSteps: 10, totalSteps: 100 })(5)` → 5e-4.
 */
export function warmupCosine(options: WarmupCosineOptions): (step: number) => number {
  const { peak, warmupSteps, totalSteps } = options;
  const minRatio = options.minRatio ?? 0.1;
  check(Number.isFinite(peak) && peak >= 0, () => `warmupCosine: peak must be a finite number ≥ 0, got ${peak}`);
  check(Number.isInteger(warmupSteps) && warmupSteps >= 0, () => `warmupCosine: warmupSteps must be an integer ≥ 0, got ${warmupSteps}`);
  check(Number.isInteger(totalSteps) && totalSteps >= warmupSteps, () =>
    `warmupCosine: totalSteps (${totalSteps}) must be an integer ≥ warmupSteps (${warmupSteps})`);
  check(minRatio >= 0 && minRatio <= 1, () => `warmupCosine: minRatio must lie in [0, 1], got ${minRatio}`);
  const min = minRatio * peak;
  return (step: number): number => {
    if (step < warmupSteps) return (peak * Math.max(step, 0)) / warmupSteps;
    if (step >= totalSteps) return min;
    const progress = (step - warmupSteps) / (totalSteps - warmupSteps);
    return min + (peak - min) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}

/**
 * Scales all gradients by one factor so that their global L2 norm is at most `maxNorm`, and
 * reports the norm before clipping: `const { grads: clipped, norm } = clipByGlobalNorm(grads, 1)`.
 * Returns fresh tensors (clones when no clipping is needed). A non-finite norm is reported
 * and the gradients come back unscaled, so the caller can skip the step.
 */
export function clipByGlobalNorm(grads: Params, maxNorm: number): { grads: Params; norm: number } {
  check(Number.isFinite(maxNorm) && maxNorm > 0, () => `clipByGlobalNorm: maxNorm must be a finite number > 0, got ${maxNorm}`);
  const entries = Object.entries(grads);
  const sumOfSquares =
    entries.length === 0 ? 0 : tf.tidy(() => tf.addN(entries.map(([, g]) => tf.sum(tf.square(g)))).dataSync()[0]);
  const norm = Math.sqrt(sumOfSquares);
  const scale = Number.isFinite(norm) && norm > maxNorm ? maxNorm / norm : 1;
  const out: Params = {};
  for (const [name, g] of entries) out[name] = scale === 1 ? tf.clone(g) : tf.tidy(() => tf.mul(g, scale));
  return { grads: out, norm };
}

/**
 * Sums the gradients of several microbatches and averages them, for an effective batch larger
 * than what fits at once: `acc.add(g1); acc.add(g2); const g = acc.average(); acc.reset();`.
 * `add(grads, weight)` weights a microbatch (e.g. by its token count); the average divides by
 * the total weight.
 */
export class GradientAccumulator {
  private sums = new Map<string, tf.Tensor>();
  private totalWeight = 0;
  private microbatches = 0;

  /** Number of microbatches added since the last reset. */
  get count(): number {
    return this.microbatches;
  }

  /** Adds one microbatch's gradients (not disposed: they stay the caller's). */
  add(grads: Params, weight = 1): void {
    check(Number.isFinite(weight) && weight > 0, () => `GradientAccumulator.add: weight must be a finite number > 0, got ${weight}`);
    const names = Object.keys(grads);
    if (this.microbatches > 0) {
      const held = [...this.sums.keys()];
      const missing = held.filter((n) => !(n in grads));
      const extra = names.filter((n) => !this.sums.has(n));
      check(missing.length === 0 && extra.length === 0, () =>
        `GradientAccumulator.add: microbatch ${this.microbatches + 1} has different gradients than the first` +
        (missing.length ? `; missing: ${missing.join(", ")}` : "") + (extra.length ? `; extra: ${extra.join(", ")}` : ""));
      for (const n of names) {
        const held = this.sums.get(n)!;
        check(sameShape(grads[n].shape, held.shape), () =>
          `GradientAccumulator.add: gradient "${n}" has shape [${grads[n].shape}], earlier microbatches [${held.shape}]`);
      }
    }
    for (const n of names) {
      const old = this.sums.get(n);
      const weighted = tf.tidy(() => {
        const g = weight === 1 ? tf.clone(grads[n]) : tf.mul(grads[n], weight);
        return old === undefined ? g : tf.add(old, g);
      });
      this.sums.set(n, weighted);
      old?.dispose();
    }
    this.totalWeight += weight;
    this.microbatches += 1;
  }

  /** The weighted mean of the gradients added so far, as fresh tensors. */
  average(): Params {
    if (this.microbatches === 0) throw new RicciError("GradientAccumulator.average: no gradients were added since the last reset");
    const total = this.totalWeight;
    return Object.fromEntries([...this.sums].map(([n, s]) => [n, tf.tidy(() => tf.div(s, total))]));
  }

  /** Forgets the accumulated gradients (and frees them). */
  reset(): void {
    for (const s of this.sums.values()) s.dispose();
    this.sums.clear();
    this.totalWeight = 0;
    this.microbatches = 0;
  }
}
