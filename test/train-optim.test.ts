/**
 * AdamW, the warmup-cosine schedule, global-norm clipping and gradient accumulation, each
 * checked against a plain float64 JavaScript reference or hand-computed numbers.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { RicciError } from "../src/errors.js";
import { initBackend, tf } from "../src/lower/backend.js";
import type { Params } from "../src/nn/params.js";
import { GradientAccumulator, adamW, clipByGlobalNorm, warmupCosine } from "../src/train/optimizer.js";
import { makeRng, normals } from "../src/util/random.js";

beforeAll(async () => {
  await initBackend();
});

// ---- A float64 AdamW written from the paper's / PyTorch's update rule, independent of src/ ----
interface RefParam {
  p: Float64Array;
  m: Float64Array;
  v: Float64Array;
  decay: boolean;
}

function refAdamWStep(
  state: Record<string, RefParam>,
  grads: Record<string, Float64Array>,
  t: number,
  lr: number,
  o: { beta1: number; beta2: number; eps: number; wd: number },
): void {
  for (const [name, s] of Object.entries(state)) {
    const g = grads[name];
    for (let i = 0; i < s.p.length; i++) {
      if (s.decay) s.p[i] -= lr * o.wd * s.p[i];
      s.m[i] = o.beta1 * s.m[i] + (1 - o.beta1) * g[i];
      s.v[i] = o.beta2 * s.v[i] + (1 - o.beta2) * g[i] * g[i];
      const mHat = s.m[i] / (1 - o.beta1 ** t);
      const vHat = s.v[i] / (1 - o.beta2 ** t);
      s.p[i] -= (lr * mHat) / (Math.sqrt(vHat) + o.eps);
    }
  }
}

/** max |a − b| / max |b|: the error relative to the tensor's scale. */
function scaledError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

const shapes: Record<string, number[]> = { w: [3, 4], k: [2, 2, 3], gain: [4], bias: [3] };

function randomValues(seed: number): Record<string, Float32Array> {
  const rng = makeRng(seed);
  return Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, normals(s.reduce((a, b) => a * b, 1), rng, 1)]));
}

const toParams = (values: Record<string, Float32Array>): Params =>
  Object.fromEntries(Object.entries(values).map(([n, a]) => [n, tf.tensor(a, shapes[n])]));

const dispose = (p: Params): void => Object.values(p).forEach((t) => t.dispose());

describe("adamW", () => {
  it("matches a float64 reference over 5 steps, with a schedule and decay on matrices only", () => {
    const init = randomValues(1);
    const params = toParams(init);
    const o = { beta1: 0.9, beta2: 0.95, eps: 1e-8, wd: 0.1 };
    const schedule = warmupCosine({ peak: 0.05, warmupSteps: 2, totalSteps: 6 });
    const seen: number[] = [];
    const opt = adamW(params, { lr: (t) => (seen.push(t), schedule(t)) });
    const ref: Record<string, RefParam> = Object.fromEntries(
      Object.entries(init).map(([n, a]) => [
        n,
        { p: Float64Array.from(a), m: new Float64Array(a.length), v: new Float64Array(a.length), decay: shapes[n].length >= 2 },
      ]),
    );
    for (let t = 1; t <= 5; t++) {
      const g32 = randomValues(100 + t);
      const grads = toParams(g32);
      const info = opt.step(grads);
      dispose(grads);
      expect(info).toEqual({ step: t, lr: schedule(t) });
      refAdamWStep(ref, Object.fromEntries(Object.entries(g32).map(([n, a]) => [n, Float64Array.from(a)])), t, schedule(t), o);
    }
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    const state = opt.state();
    expect(state.step).toBe(5);
    for (const n of Object.keys(shapes)) {
      expect(params[n].shape).toEqual(shapes[n]);
      expect(scaledError(params[n].dataSync(), ref[n].p)).toBeLessThan(1e-6);
      expect(scaledError(state.m[n], ref[n].m)).toBeLessThan(1e-6);
      expect(scaledError(state.v[n], ref[n].v)).toBeLessThan(1e-6);
    }
    opt.dispose();
    dispose(params);
  });

  it("decays matrices by (1 − lr·λ) per step and leaves vectors alone (zero gradients isolate the decay)", () => {
    const init = randomValues(2);
    const params = toParams(init);
    const opt = adamW(params, { lr: 0.1, weightDecay: 0.5 });
    const zeros = Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, tf.zeros(s)]));
    for (let i = 0; i < 3; i++) opt.step(zeros);
    dispose(zeros);
    const factor = (1 - 0.1 * 0.5) ** 3;
    for (const n of ["w", "k"]) expect(scaledError(params[n].dataSync(), Array.from(init[n], (x) => x * factor))).toBeLessThan(1e-6);
    for (const n of ["gain", "bias"]) expect(Array.from(params[n].dataSync())).toEqual(Array.from(init[n]));
    opt.dispose();
    dispose(params);
  });

  it("takes the decay rule as a name/shape predicate", () => {
    const init = randomValues(3);
    const params = toParams(init);
    const asked: string[] = [];
    const opt = adamW(params, { lr: 0.1, weightDecay: 0.5, decayFilter: (name, shape) => (asked.push(`${name}:${shape.length}`), name === "gain") });
    expect(asked.sort()).toEqual(["bias:1", "gain:1", "k:3", "w:2"]);
    const zeros = Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, tf.zeros(s)]));
    opt.step(zeros);
    dispose(zeros);
    expect(scaledError(params.gain.dataSync(), Array.from(init.gain, (x) => x * 0.95))).toBeLessThan(1e-6);
    expect(Array.from(params.w.dataSync())).toEqual(Array.from(init.w));
    opt.dispose();
    dispose(params);
  });

  it("leaves parameters without a gradient untouched and rejects unknown or misshapen gradients", () => {
    const params = toParams(randomValues(4));
    const before = params.bias.dataSync().slice();
    const opt = adamW(params, { lr: 0.1 });
    const g = { w: tf.ones([3, 4]) };
    opt.step(g);
    expect(Array.from(params.bias.dataSync())).toEqual(Array.from(before));
    expect(() => opt.step({ nope: g.w })).toThrow(/gradient "nope" has no parameter/);
    expect(() => opt.step({ bias: g.w })).toThrow(RicciError);
    expect(() => opt.step({ bias: g.w })).toThrow(/shape \[3,4\], its parameter \[3\]/);
    expect(opt.stepCount).toBe(1);
    g.w.dispose();
    opt.dispose();
    dispose(params);
  });

  it("leaks no tensors over many steps, and dispose frees its moments", () => {
    const start = tf.memory().numTensors;
    const params = toParams(randomValues(5));
    const grads = toParams(randomValues(6));
    const opt = adamW(params, { lr: warmupCosine({ peak: 0.01, warmupSteps: 3, totalSteps: 20 }) });
    const afterInit = tf.memory().numTensors;
    expect(afterInit).toBe(start + 4 * Object.keys(shapes).length); // params, grads, m, v
    for (let i = 0; i < 20; i++) opt.step(grads);
    opt.state();
    expect(tf.memory().numTensors).toBe(afterInit);
    opt.dispose();
    dispose(params);
    dispose(grads);
    expect(tf.memory().numTensors).toBe(start);
  });

  it("resumes exactly from a saved state: the next updates are bitwise identical", () => {
    const run = (stepsBefore: number, resumeAt: number | null): Float32Array[] => {
      const params = toParams(randomValues(7));
      let opt = adamW(params, { lr: warmupCosine({ peak: 0.02, warmupSteps: 2, totalSteps: 10 }) });
      const gradsAt = (t: number): Params => toParams(randomValues(200 + t));
      for (let t = 1; t <= stepsBefore; t++) {
        if (t === resumeAt) {
          // Round trip the state through plain arrays into a fresh optimizer, as a checkpoint would.
          const saved = opt.state();
          const copy = { step: saved.step, m: structuredClone(saved.m), v: structuredClone(saved.v) };
          opt.dispose();
          opt = adamW(params, { lr: warmupCosine({ peak: 0.02, warmupSteps: 2, totalSteps: 10 }) });
          opt.loadState(copy);
          expect(opt.stepCount).toBe(t - 1);
        }
        const g = gradsAt(t);
        opt.step(g);
        dispose(g);
      }
      const out = Object.keys(shapes).map((n) => params[n].dataSync().slice() as Float32Array);
      opt.dispose();
      dispose(params);
      return out;
    };
    const straight = run(6, null);
    const resumed = run(6, 4);
    for (let i = 0; i < straight.length; i++) expect(Buffer.from(resumed[i].buffer).equals(Buffer.from(straight[i].buffer))).toBe(true);
  });

  it("rejects a state that does not fit the parameters", () => {
    const params = toParams(randomValues(8));
    const opt = adamW(params, { lr: 0.1 });
    const s = opt.state();
    expect(() => opt.loadState({ ...s, m: { ...s.m, extra: new Float32Array(1) } })).toThrow(/extra: extra/);
    expect(() => opt.loadState({ ...s, v: { ...s.v, w: new Float32Array(5) } })).toThrow(/"w"\] has 5 values, the parameter \[3,4\] has 12/);
    opt.dispose();
    dispose(params);
  });
});

describe("warmupCosine", () => {
  const lr = warmupCosine({ peak: 1e-3, warmupSteps: 10, totalSteps: 110 });
  it("warms up linearly from 0 to the peak", () => {
    expect(lr(0)).toBe(0);
    expect(lr(5)).toBeCloseTo(5e-4, 15);
    expect(lr(10)).toBeCloseTo(1e-3, 15);
  });
  it("decays by a half cosine to minRatio·peak and stays there", () => {
    expect(lr(60)).toBeCloseTo(1e-4 + 0.5 * 9e-4, 15); // halfway: cos(π/2) = 0
    expect(lr(35)).toBeCloseTo(1e-4 + 9e-4 * 0.5 * (1 + Math.SQRT1_2), 15); // a quarter: cos(π/4)
    expect(lr(110)).toBeCloseTo(1e-4, 15);
    expect(lr(500)).toBeCloseTo(1e-4, 15);
    expect(warmupCosine({ peak: 2, warmupSteps: 0, totalSteps: 4, minRatio: 0 })(4)).toBe(0);
  });
  it("rejects inconsistent settings", () => {
    expect(() => warmupCosine({ peak: 1, warmupSteps: 10, totalSteps: 5 })).toThrow(/totalSteps \(5\) must be an integer ≥ warmupSteps \(10\)/);
  });
});

describe("clipByGlobalNorm", () => {
  const grads = (): Params => ({ a: tf.tensor([3, -4]), b: tf.tensor([[12]]) }); // ‖·‖ = √(9+16+144) = 13

  it("scales every gradient by maxNorm/norm above the threshold and reports the pre-clip norm", () => {
    const g = grads();
    const { grads: clipped, norm } = clipByGlobalNorm(g, 6.5);
    expect(norm).toBeCloseTo(13, 5);
    expect(Array.from(clipped.a.dataSync())).toEqual([1.5, -2]);
    expect(Array.from(clipped.b.dataSync())).toEqual([6]);
    expect(clipped.b.shape).toEqual([1, 1]);
    expect(Array.from(g.a.dataSync())).toEqual([3, -4]); // the input is untouched
    dispose(g);
    dispose(clipped);
  });

  it("returns the gradients unchanged (as fresh tensors) at or below the threshold", () => {
    const g = grads();
    const { grads: same, norm } = clipByGlobalNorm(g, 20);
    expect(norm).toBeCloseTo(13, 5);
    expect(Array.from(same.a.dataSync())).toEqual([3, -4]);
    expect(Array.from(same.b.dataSync())).toEqual([12]);
    dispose(g);
    expect(same.a.isDisposed).toBe(false);
    dispose(same);
  });

  it("leaks nothing", () => {
    const g = grads();
    const before = tf.memory().numTensors;
    const out = clipByGlobalNorm(g, 1);
    expect(tf.memory().numTensors).toBe(before + 2);
    dispose(out.grads);
    dispose(g);
  });
});

describe("GradientAccumulator", () => {
  it("averages microbatches (optionally weighted) and resets", () => {
    const before = tf.memory().numTensors;
    const acc = new GradientAccumulator();
    const mb = [
      { w: tf.tensor([1, 2, 3]), b: tf.tensor([[1]]) },
      { w: tf.tensor([4, 5, 6]), b: tf.tensor([[2]]) },
      { w: tf.tensor([7, 8, 12]), b: tf.tensor([[6]]) },
    ];
    for (const g of mb) acc.add(g);
    expect(acc.count).toBe(3);
    const avg = acc.average();
    expect(Array.from(avg.w.dataSync())).toEqual([4, 5, 7]);
    expect(Array.from(avg.b.dataSync())).toEqual([3]);
    dispose(avg);

    acc.reset();
    expect(acc.count).toBe(0);
    expect(() => acc.average()).toThrow(/no gradients/);
    acc.add(mb[0], 1);
    acc.add(mb[1], 3); // (1·[1,2,3] + 3·[4,5,6]) / 4
    const weighted = acc.average();
    expect(Array.from(weighted.w.dataSync())).toEqual([3.25, 4.25, 5.25]);
    dispose(weighted);

    expect(() => acc.add({ w: mb[0].w })).toThrow(/missing: b/);
    acc.reset();
    for (const g of mb) dispose(g);
    expect(tf.memory().numTensors).toBe(before);
  });
});
