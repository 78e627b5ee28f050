/**
 * ricci's GPT (src/nn/gpt.ts, differentiated symbolically and compiled) against a hand-written
 * tfjs twin (test/helpers/tfjs-gpt.ts, differentiated by tfjs's tape): same parameters, same
 * batches → same loss and gradients, and the same 3-step training trajectories. The float64
 * reference evaluator referees the first comparison, so a mismatch says which side is off.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Expr, compile, crossEntropy, evaluateAll, grad, initBackend, tf, transpose, variable } from "../src/index.js";
import "@tensorflow/tfjs"; // registers tfjs's gradient functions (for the twin only) in the same engine
import { type GptConfig, gptConstants, gptData, gptForward, gptParams } from "../src/nn/gpt.js";
import { type Params, copyParams, disposeParams, initGpt } from "../src/nn/params.js";
import { makeRng } from "../src/util/random.js";
import { tfjsGptGrads, tfjsGptLoss } from "./helpers/tfjs-gpt.js";

const base: GptConfig = { vocab: 16, context: 8, dModel: 16, heads: 2, layers: 2 };
const batch = 3;

// --- data ---------------------------------------------------------------------------------------

interface Batch {
  readonly tokens: Int32Array; // [batch, seq]
  readonly targets: Int32Array; // tokens shifted by one
  readonly lossMask: Float32Array; // 0 on a random-length "prompt", 1 after it
}

/** Seeded random sequences of seq + 1 tokens, split into inputs and next-token targets. */
function makeBatch(seed: number, vocab: number, seq: number): Batch {
  const rng = makeRng(seed);
  const tokens = new Int32Array(batch * seq);
  const targets = new Int32Array(batch * seq);
  const lossMask = new Float32Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    const row = Array.from({ length: seq + 1 }, () => Math.floor(rng() * vocab));
    const prompt = Math.floor(rng() * (seq - 1)); // at least one counted token per row
    for (let t = 0; t < seq; t++) {
      tokens[b * seq + t] = row[t];
      targets[b * seq + t] = row[t + 1];
      lossMask[b * seq + t] = t >= prompt ? 1 : 0;
    }
  }
  return { tokens, targets, lossMask };
}

const tensorsOf = (d: Batch, seq: number): { tokens: tf.Tensor; targets: tf.Tensor; lossMask: tf.Tensor } => ({
  tokens: tf.tensor2d(d.tokens, [batch, seq], "int32"),
  targets: tf.tensor2d(d.targets, [batch, seq], "int32"),
  lossMask: tf.tensor2d(d.lossMask, [batch, seq], "float32"),
});

// --- ricci's side -------------------------------------------------------------------------------

/** ricci's loss and its gradients (each in its variable's declared edge order), compiled. */
function ricciModel(config: GptConfig, seq: number, masked: boolean) {
  const p = gptParams(config);
  const data = gptData(config, batch, seq);
  const targets = variable("targets", { batch, seq });
  const mask = masked ? variable("lossMask", { batch, seq }) : undefined;
  const loss = crossEntropy({ logits: gptForward(config, p, data), targets, mask });
  const vars = Object.values(p);
  const grads = grad(loss, vars).map((g, i) => transpose(g, vars[i].edges.map((e) => e.name)));
  const outputs: Record<string, Expr> = { loss };
  vars.forEach((v, i) => (outputs[v.name] = grads[i]));
  return { outputs, step: compile(outputs), names: vars.map((v) => v.name) };
}

type Inputs = Record<string, tf.Tensor | Float64Array | readonly number[]>;
type BatchTensors = ReturnType<typeof tensorsOf>;

/** ricci's inputs: parameters, the batch (the same tensors the twin reads) and gptConstants. */
function ricciInputs(config: GptConfig, params: Params, t: BatchTensors, seq: number, masked: boolean): Inputs {
  const inputs: Inputs = { ...params, tokens: t.tokens, targets: t.targets, ...gptConstants(config, seq) };
  if (masked) inputs.lossMask = t.lossMask;
  return inputs;
}

// --- comparisons --------------------------------------------------------------------------------

const maxAbs = (xs: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]));
  return m;
};

/** max |a − b| / max |b|: the error of a relative to the size of b. */
function relMaxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  for (let i = 0; i < b.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
  return diff / Math.max(maxAbs(b), 1e-30);
}

/**
 * float32 tolerance for a gradient: its entries are sums over a few hundred float32 products
 * through 2 layers, so 1e-4 of the tensor's largest entry (≈ 1000 ulps) is generous for an
 * exact computation yet far below any modelling slip (a wrong sign or scale moves it by O(1)).
 */
const GRAD_TOL = 1e-4;

function expectGradsAgree(ricci: Record<string, tf.Tensor>, twin: Params, names: readonly string[], where: string): number {
  let worst = 0;
  for (const n of names) {
    expect(ricci[n].shape, `${where} ${n} shape`).toEqual(twin[n].shape);
    const err = relMaxDiff(ricci[n].dataSync(), twin[n].dataSync());
    expect(err, `${where}: gradient of ${n}`).toBeLessThanOrEqual(GRAD_TOL);
    worst = Math.max(worst, err);
  }
  return worst;
}

const relDiff = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

// --- optimizers (written here so the test depends on no training module) ------------------------

type Update = (params: Params, grads: Params) => Params;

/** Plain SGD: p ← p − lr·g. */
const sgd = (lr: number): Update => (params, grads) =>
  Object.fromEntries(Object.entries(params).map(([n, p]) => [n, tf.tidy(() => tf.sub(p, tf.mul(grads[n], lr)))]));

/** AdamW with bias correction and decoupled weight decay; keeps its own moments. */
function adamW(lr: number, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01): Update {
  const m: Params = {};
  const v: Params = {};
  let t = 0;
  return (params, grads) => {
    t++;
    const next: Params = {};
    for (const [n, p] of Object.entries(params)) {
      const g = grads[n];
      const mNew = tf.tidy(() => tf.add(tf.mul(m[n] ?? tf.zerosLike(g), beta1), tf.mul(g, 1 - beta1)));
      const vNew = tf.tidy(() => tf.add(tf.mul(v[n] ?? tf.zerosLike(g), beta2), tf.mul(tf.square(g), 1 - beta2)));
      m[n]?.dispose();
      v[n]?.dispose();
      [m[n], v[n]] = [mNew, vNew];
      next[n] = tf.tidy(() => {
        const step = tf.div(tf.div(mNew, 1 - beta1 ** t), tf.add(tf.sqrt(tf.div(vNew, 1 - beta2 ** t)), eps));
        return tf.sub(tf.mul(p, 1 - lr * weightDecay), tf.mul(step, lr));
      });
    }
    return next;
  };
}

// --- tests --------------------------------------------------------------------------------------

beforeAll(async () => {
  await initBackend();
});

describe("tfjs GPT twin vs ricci's GPT", () => {
  const live: Params[] = [];
  afterAll(() => live.forEach(disposeParams));

  it("one batch: same loss and gradients, both within float32 of the float64 reference", async () => {
    const seq = base.context;
    const params = initGpt(base, 7);
    live.push(params);
    const d = makeBatch(1, base.vocab, seq);
    const { outputs, step, names } = ricciModel(base, seq, false);
    const t = tensorsOf(d, seq);
    const ricci = await step(ricciInputs(base, params, t, seq, false));
    const twin = tfjsGptGrads(base, params, t.tokens, t.targets);
    const twinForwardOnly = tfjsGptLoss(base, params, t.tokens, t.targets).dataSync()[0];

    // Referee: the float64 evaluator on the same float32 parameter values.
    const inputs64: Record<string, Float64Array> = { ...(gptConstants(base, seq) as Record<string, Float64Array>) };
    for (const n of names) inputs64[n] = Float64Array.from(params[n].dataSync());
    inputs64.tokens = Float64Array.from(d.tokens);
    inputs64.targets = Float64Array.from(d.targets);
    const ref = evaluateAll([outputs.loss, ...names.map((n) => outputs[n])], inputs64);
    const loss64 = ref[0].data[0];

    const lossRicci = ricci.loss.dataSync()[0];
    const lossTwin = twin.loss.dataSync()[0];
    // Untrained, the model is near uniform over 16 tokens: loss ≈ ln 16.
    expect(Math.abs(loss64 - Math.log(16))).toBeLessThan(0.05);
    expect(relDiff(lossRicci, lossTwin)).toBeLessThanOrEqual(1e-5);
    expect(relDiff(lossTwin, loss64)).toBeLessThanOrEqual(1e-5);
    expect(relDiff(twinForwardOnly, lossTwin)).toBeLessThanOrEqual(1e-6);
    expectGradsAgree(ricci, twin.grads, names, "ricci vs twin");
    names.forEach((n, i) => {
      expect(relMaxDiff(twin.grads[n].dataSync(), ref[i + 1].data), `twin vs float64: ${n}`).toBeLessThanOrEqual(GRAD_TOL);
      expect(maxAbs(ref[i + 1].data), `gradient of ${n} is not trivially zero`).toBeGreaterThan(0);
    });
    for (const x of [...Object.values(ricci), twin.loss, ...Object.values(twin.grads), t.tokens, t.targets, t.lossMask]) x.dispose();
  });

  const variants: { name: string; config: GptConfig; seq: number; masked: boolean; update: () => Update }[] = [
    { name: "untied head, AdamW", config: base, seq: 8, masked: false, update: () => adamW(1e-2) },
    { name: "tied head, SGD lr 0.1", config: { ...base, tiedHead: true }, seq: 8, masked: false, update: () => sgd(0.1) },
    { name: "loss mask, seq 6 < context, AdamW", config: base, seq: 6, masked: true, update: () => adamW(1e-2) },
  ];

  for (const v of variants) {
    it(`3 training steps agree (${v.name})`, async () => {
      const { step, names } = ricciModel(v.config, v.seq, v.masked);
      let pRicci = initGpt(v.config, 11);
      let pTwin = initGpt(v.config, 11);
      const init = copyParams(pRicci);
      const [updateRicci, updateTwin] = [v.update(), v.update()];
      for (let s = 0; s < 3; s++) {
        const d = makeBatch(100 + s, v.config.vocab, v.seq);
        const t = tensorsOf(d, v.seq);
        const ricci = await step(ricciInputs(v.config, pRicci, t, v.seq, v.masked));
        const twin = tfjsGptGrads(v.config, pTwin, t.tokens, t.targets, v.masked ? t.lossMask : undefined);
        expect(relDiff(ricci.loss.dataSync()[0], twin.loss.dataSync()[0]), `step ${s} loss`).toBeLessThanOrEqual(1e-4);
        expectGradsAgree(ricci, twin.grads, names, `step ${s}`);
        const [nextRicci, nextTwin] = [updateRicci(pRicci, ricci), updateTwin(pTwin, twin.grads)];
        disposeParams(pRicci);
        disposeParams(pTwin);
        [pRicci, pTwin] = [nextRicci, nextTwin];
        for (const x of [...Object.values(ricci), twin.loss, ...Object.values(twin.grads), t.tokens, t.targets, t.lossMask]) x.dispose();
      }
      // The trajectories went somewhere (so agreeing is not trivial) and went to the same place.
      let moved = 0;
      for (const n of names) {
        const a = pRicci[n].dataSync();
        const b = pTwin[n].dataSync();
        moved = Math.max(moved, relMaxDiff(b, init[n].dataSync()));
        expect(relMaxDiff(a, b), `final ${n}`).toBeLessThanOrEqual(1e-4);
      }
      expect(moved).toBeGreaterThan(1e-2);
      [pRicci, pTwin, init].forEach(disposeParams);
    });
  }

  it("the twin leaves no tensors behind (it is also a benchmark peer)", () => {
    const p = initGpt(base, 3);
    const t = tensorsOf(makeBatch(5, base.vocab, base.context), base.context);
    const run = (): void => {
      const { loss, grads } = tfjsGptGrads(base, p, t.tokens, t.targets, t.lossMask);
      [loss, ...Object.values(grads)].forEach((x) => x.dispose());
      tfjsGptLoss(base, p, t.tokens, t.targets).dispose();
    };
    run(); // first call may create its one cached constant
    const before = tf.memory().numTensors;
    run();
    expect(tf.memory().numTensors).toBe(before);
    [t.tokens, t.targets, t.lossMask].forEach((x) => x.dispose());
    disposeParams(p);
  });

  it("the twin rejects a scalar head and a sequence longer than the context", () => {
    const p = initGpt(base, 1);
    const ids = tf.zeros([1, base.context + 1], "int32");
    expect(() => tfjsGptLoss(base, p, ids, ids)).toThrow(/context/);
    expect(() => tfjsGptLoss({ ...base, head: "scalar" }, p, ids, ids)).toThrow(/LM head/);
    ids.dispose();
    disposeParams(p);
  });
});
