/**
 * The post-training losses against hand computations: every expected number below is worked
 * out in plain JS (Math.exp / Math.log, loops) independently of the DSL, then compared with
 * the float64 evaluator; gradients are checked against central differences.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Expr, type Variable, bradleyTerryLoss, crossEntropy, discountMatrix, discountTensor, dot, dpoLoss, entropyFromLogits, evaluate, gae, grad, grpoAdvantages, grpoLoss, hvp, implicitReward, klPenaltyRewards, mul, perTokenKl, ppoLoss, rewardAccuracy, sequenceLogProbs, shiftMatrix, sum, tokenLogProbs, trpoObjective, variable, whiten, categoricalKl, RicciError } from "../src/index.js";
import { type Inputs64, numericGrad, relativeError, seededValues } from "./helpers/oracle.js";

// --- helpers ------------------------------------------------------------------------------------

const f64 = (xs: readonly number[]): Float64Array => Float64Array.from(xs);

function expectClose(actual: number, expected: number, rel = 1e-12): void {
  expect(Number.isFinite(actual)).toBe(true);
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.abs(expected) + 1e-15);
}

function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expectClose(actual[i], expected[i], rel);
}

function scalarOf(e: Expr, inputs: Inputs64): number {
  const v = evaluate(e, inputs);
  expect(v.shape).toEqual([]);
  return v.data[0];
}

/** Symbolic gradient vs central differences, relative error ≤ 1e-6. */
function expectGradMatches(f: Expr, inputs: Inputs64, v: Variable): Float64Array {
  const symbolic = evaluate(grad(f, v), inputs).data;
  const numeric = numericGrad(f, inputs, v);
  expect(relativeError(symbolic, numeric)).toBeLessThanOrEqual(1e-6);
  return symbolic;
}

const softplusJs = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const logSoftmaxJs = (row: readonly number[]): number[] => {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
  return row.map((x) => x - lse);
};
const rowOf = (data: Float64Array, i: number, n: number): number[] => Array.from(data.subarray(i * n, (i + 1) * n));
const clipJs = (x: number, lo: number, hi: number): number => Math.min(Math.max(x, lo), hi);

// --- 1. cross-entropy ---------------------------------------------------------------------------

describe("crossEntropy", () => {
  const logits = variable("logits", { batch: 2, seq: 3, vocab: 4 });
  const targets = variable("targets", { batch: 2, seq: 3 });
  const mask = variable("mask", { batch: 2, seq: 3 });
  const targetIds = [0, 3, 1, 2, 2, 0];
  const maskValues = [1, 1, 0, 1, 0, 1];
  const inputs = (): Inputs64 => ({ logits: seededValues(24, 11, -2, 2), targets: f64(targetIds), mask: f64(maskValues) });
  const nllByHand = (l: Float64Array): number[] => targetIds.map((id, k) => -logSoftmaxJs(rowOf(l, k, 4))[id]);

  it("matches −log softmax at one written-out token", () => {
    const x = variable("x", { batch: 1, seq: 1, vocab: 3 });
    const y = variable("y", { batch: 1, seq: 1 });
    const expected = -Math.log(Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3)));
    expectClose(scalarOf(crossEntropy({ logits: x, targets: y }), { x: f64([1, 2, 3]), y: f64([2]) }), expected);
  });

  it("is the mean over unmasked tokens (default) or their sum", () => {
    const values = inputs();
    const nll = nllByHand(values.logits);
    const maskedTotal = nll.reduce((s, x, k) => s + maskValues[k] * x, 0);
    expectClose(scalarOf(crossEntropy({ logits, targets, mask }), values), maskedTotal / 4);
    expectClose(scalarOf(crossEntropy({ logits, targets, mask }, { reduction: "sum" }), values), maskedTotal);
    expectClose(scalarOf(crossEntropy({ logits, targets }), values), nll.reduce((s, x) => s + x, 0) / 6);
  });

  it("has the right gradient w.r.t. logits", () => {
    const values = inputs();
    expectGradMatches(crossEntropy({ logits, targets, mask }), values, logits);
    const g = expectGradMatches(crossEntropy({ logits, targets, mask }, { reduction: "sum" }), values, logits);
    // Masked-out tokens get no gradient; an unmasked one gets softmax − onehot.
    expect(Array.from(g.subarray(2 * 4, 3 * 4))).toEqual([0, 0, 0, 0]);
    const p0 = logSoftmaxJs(rowOf(values.logits, 0, 4)).map(Math.exp);
    expectAllClose(g.subarray(0, 4), p0.map((p, v) => p - (v === 0 ? 1 : 0)));
  });

  it("stays finite for huge logits (log-softmax, not log of softmax)", () => {
    const values = inputs();
    const shifted = values.logits.map((x) => 1000 * x);
    const nll = nllByHand(shifted);
    expectClose(scalarOf(crossEntropy({ logits, targets, mask }), { ...values, logits: shifted }), nll.reduce((s, x, k) => s + maskValues[k] * x, 0) / 4);
  });

  it("gives token log-probs, sequence log-probs and entropy", () => {
    const values = inputs();
    const logp = nllByHand(values.logits).map((x) => -x);
    expectAllClose(evaluate(tokenLogProbs(logits, targets), values).data, logp);
    const seqLogp = evaluate(sequenceLogProbs(logits, targets, mask), values);
    expect(seqLogp.edges).toEqual(["batch"]);
    expectAllClose(seqLogp.data, [logp[0] + logp[1], logp[3] + logp[5]]);
    const entropy = [0, 1, 2, 3, 4, 5].map((k) => -logSoftmaxJs(rowOf(values.logits, k, 4)).reduce((s, lp) => s + Math.exp(lp) * lp, 0));
    expectAllClose(evaluate(entropyFromLogits(logits), values).data, entropy);
    expectGradMatches(sum(entropyFromLogits(logits)), values, logits);
  });
});

// --- 2. Bradley–Terry ---------------------------------------------------------------------------

describe("bradleyTerryLoss", () => {
  const chosen = variable("chosen", { batch: 3 });
  const rejected = variable("rejected", { batch: 3 });
  const rw = [1.5, -0.3, 2.0];
  const rl = [0.5, 0.2, 2.5];
  const values = (): Inputs64 => ({ chosen: f64(rw), rejected: f64(rl) });

  it("is −log σ(r_w − r_l − margin), averaged, plus the centring term", () => {
    const margin = 0.25;
    const expected = rw.reduce((s, w, i) => s - Math.log(1 / (1 + Math.exp(-(w - rl[i] - margin)))), 0) / 3;
    expectClose(scalarOf(bradleyTerryLoss({ chosen, rejected, margin }), values()), expected);
    const centring = 0.01 * rw.reduce((s, w, i) => s + (w + rl[i]) ** 2, 0) / 3;
    const centred = bradleyTerryLoss({ chosen, rejected, margin }, { centerCoefficient: 0.01 });
    expectClose(scalarOf(centred, values()), expected + centring);
    expectGradMatches(centred, values(), chosen);
    expectGradMatches(centred, values(), rejected);
  });

  it("takes per-pair margins", () => {
    const margins = variable("margins", { batch: 3 });
    const m = [0, 1, -0.5];
    const expected = rw.reduce((s, w, i) => s + Math.log(1 + Math.exp(-(w - rl[i] - m[i]))), 0) / 3;
    expectClose(scalarOf(bradleyTerryLoss({ chosen, rejected, margin: margins }), { ...values(), margins: f64(m) }), expected);
  });

  it("is log 2 at margin 0 with equal scores", () => {
    const same = f64([0.7, -1.2, 3]);
    expectClose(scalarOf(bradleyTerryLoss({ chosen, rejected }), { chosen: same, rejected: same }), Math.log(2));
  });

  it("stays finite and linear for a huge wrong-way gap", () => {
    const loss = scalarOf(bradleyTerryLoss({ chosen, rejected }), { chosen: f64([-400, 0, 0]), rejected: f64([400, 0, 0]) });
    expectClose(loss, (800 + 2 * Math.log(2)) / 3);
  });

  it("reports the ranking accuracy", () => {
    expectClose(scalarOf(rewardAccuracy(chosen, rejected), values()), 1 / 3);
  });
});

// --- 3. GAE ---------------------------------------------------------------------------------------

/** GAE by the usual backward recursion, one row: the oracle for random cases. */
function gaeByRecursion(r: number[], v: number[], done: number[], bootstrap: number, gamma: number, lambda: number): number[] {
  const steps = r.length;
  const adv = new Array<number>(steps).fill(0);
  let next = 0;
  for (let t = steps - 1; t >= 0; t--) {
    const nextValue = t === steps - 1 ? bootstrap : v[t + 1];
    const delta = r[t] + gamma * (1 - done[t]) * nextValue - v[t];
    next = delta + gamma * lambda * (1 - done[t]) * next;
    adv[t] = next;
  }
  return adv;
}

describe("gae", () => {
  it("builds the discount and shift matrices", () => {
    const d = discountMatrix(3, 0.9, 0.5);
    expectAllClose(d, [1, 0.45, 0.45 * 0.45, 0, 1, 0.45, 0, 0, 1]);
    expect(Array.from(shiftMatrix(3))).toEqual([0, 1, 0, 0, 0, 1, 0, 0, 0]);
    expectAllClose(discountTensor([[0, 1, 0]], 0.9, 0.5), [1, 0.45, 0, 0, 1, 0, 0, 0, 1]);
  });

  it("stops discounting at a termination in the middle of a 5-step window (by hand)", () => {
    const T = 5;
    const rewards = variable("rewards", { batch: 1, t: T });
    const values = variable("values", { batch: 1, t: T });
    const dones = variable("dones", { batch: 1, t: T });
    const bootstrap = variable("bootstrap", { batch: 1 });
    const shift = variable("shift", { t: T, s: T });
    const discount = variable("discount", { batch: 1, t: T, s: T });
    const gamma = 0.9;
    const lambda = 0.8;
    const r = [1, 0.5, -0.2, 2, 0.3];
    const v = [0.4, 0.1, 0.9, -0.3, 0.6];
    const done = [0, 0, 1, 0, 0];
    const inputs: Inputs64 = {
      rewards: f64(r), values: f64(v), dones: f64(done), bootstrap: f64([0.8]),
      shift: shiftMatrix(T), discount: discountTensor([done], gamma, lambda),
    };
    // δ_t = r_t + γ(1 − done_t)V_{t+1} − V_t, with V_5 = bootstrap = 0.8 and done at t = 2.
    const d0 = 1 + 0.9 * 0.1 - 0.4;
    const d1 = 0.5 + 0.9 * 0.9 - 0.1;
    const d2 = -0.2 - 0.9;
    const d3 = 2 + 0.9 * 0.6 + 0.3;
    const d4 = 0.3 + 0.9 * 0.8 - 0.6;
    const gl = 0.72;
    const expected = [d0 + gl * d1 + gl * gl * d2, d1 + gl * d2, d2, d3 + gl * d4, d4];
    const result = gae({ rewards, values, shift, discount, dones, bootstrap }, { gamma });
    const adv = evaluate(result.advantages, inputs);
    expect(adv.edges).toEqual(["batch", "t"]);
    expectAllClose(adv.data, expected);
    expectAllClose(evaluate(result.deltas, inputs).data, [d0, d1, d2, d3, d4]);
    expectAllClose(evaluate(result.returns, inputs).data, expected.map((a, i) => a + v[i]));
  });

  it("matches the backward recursion on a random batch, with gradients", () => {
    const B = 3;
    const T = 6;
    const gamma = 0.97;
    const lambda = 0.9;
    const rewards = variable("rewards", { batch: B, t: T });
    const values = variable("values", { batch: B, t: T });
    const dones = variable("dones", { batch: B, t: T });
    const bootstrap = variable("bootstrap", { batch: B });
    const shift = variable("shift", { t: T, s: T });
    const discount = variable("discount", { batch: B, t: T, s: T });
    const doneRows = [[0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 1, 0], [0, 0, 0, 1, 0, 1]];
    const inputs: Inputs64 = {
      rewards: seededValues(B * T, 3), values: seededValues(B * T, 4), dones: f64(doneRows.flat()), bootstrap: seededValues(B, 5),
      shift: shiftMatrix(T), discount: discountTensor(doneRows, gamma, lambda),
    };
    const result = gae({ rewards, values, shift, discount, dones, bootstrap }, { gamma });
    const expected = doneRows.flatMap((done, b) =>
      gaeByRecursion(rowOf(inputs.rewards, b, T), rowOf(inputs.values, b, T), done, inputs.bootstrap[b], gamma, lambda));
    expectAllClose(evaluate(result.advantages, inputs).data, expected);
    const weights = variable("weights", { batch: B, t: T });
    inputs.weights = seededValues(B * T, 6);
    for (const out of [result.advantages, result.returns]) {
      const f = sum(mul(out, weights));
      for (const x of [rewards, values, bootstrap]) expectGradMatches(f, inputs, x);
    }
  });

  it("accepts a batch-free discount matrix when nothing terminates", () => {
    const rewards = variable("rewards", { batch: 2, t: 4 });
    const values = variable("values", { batch: 2, t: 4 });
    const shift = variable("shift", { t: 4, s: 4 });
    const discount = variable("discount", { t: 4, s: 4 });
    const inputs: Inputs64 = { rewards: seededValues(8, 7), values: seededValues(8, 8), shift: shiftMatrix(4), discount: discountMatrix(4, 1, 0.95) };
    const expected = [0, 1].flatMap((b) => gaeByRecursion(rowOf(inputs.rewards, b, 4), rowOf(inputs.values, b, 4), [0, 0, 0, 0], 0, 1, 0.95));
    expectAllClose(evaluate(gae({ rewards, values, shift, discount }).advantages, inputs).data, expected);
  });
});

// --- KL estimators --------------------------------------------------------------------------------

describe("perTokenKl", () => {
  const logp = variable("logp", { batch: 2, t: 3 });
  const ref = variable("ref", { batch: 2, t: 3 });

  it("computes k1, k2, k3 by their formulas", () => {
    const lp = seededValues(6, 21, -4, 0);
    const rf = seededValues(6, 22, -4, 0);
    const inputs = { logp: lp, ref: rf };
    expectAllClose(evaluate(perTokenKl(logp, ref, "k1"), inputs).data, Array.from(lp, (x, i) => x - rf[i]));
    expectAllClose(evaluate(perTokenKl(logp, ref, "k2"), inputs).data, Array.from(lp, (x, i) => 0.5 * (x - rf[i]) ** 2));
    expectAllClose(evaluate(perTokenKl(logp, ref, "k3"), inputs).data, Array.from(lp, (x, i) => Math.exp(rf[i] - x) - (rf[i] - x) - 1));
    expectGradMatches(sum(perTokenKl(logp, ref, "k3")), inputs, logp);
  });

  it("k3 is non-negative on random inputs", () => {
    const k3 = perTokenKl(logp, ref, "k3");
    const logProb = fc.double({ min: -20, max: 0, noNaN: true });
    fc.assert(
      fc.property(fc.array(logProb, { minLength: 6, maxLength: 6 }), fc.array(logProb, { minLength: 6, maxLength: 6 }), (a, b) => {
        const out = evaluate(k3, { logp: f64(a), ref: f64(b) }).data;
        return out.every((x) => x >= 0);
      }),
      { numRuns: 300, seed: 42 },
    );
  });

  it("categoricalKl is Σ p (log p − log q)", () => {
    const p = variable("p", { batch: 2, vocab: 3 });
    const q = variable("q", { batch: 2, vocab: 3 });
    const inputs = { p: seededValues(6, 23, -2, 2), q: seededValues(6, 24, -2, 2) };
    const expected = [0, 1].map((b) => {
      const lp = logSoftmaxJs(rowOf(inputs.p, b, 3));
      const lq = logSoftmaxJs(rowOf(inputs.q, b, 3));
      return lp.reduce((s, x, v) => s + Math.exp(x) * (x - lq[v]), 0);
    });
    expectAllClose(evaluate(categoricalKl(p, q), inputs).data, expected);
  });
});

// --- 4. PPO ---------------------------------------------------------------------------------------

describe("ppoLoss", () => {
  const B = 2;
  const T = 3;
  const edges = { batch: B, t: T };
  const logp = variable("logp", edges);
  const oldLogp = variable("oldLogp", edges);
  const advantages = variable("advantages", edges);
  const mask = variable("mask", edges);
  const values = variable("values", edges);
  const oldValues = variable("oldValues", edges);
  const returns = variable("returns", edges);
  const logits = variable("logits", { batch: B, t: T, vocab: 4 });
  // Token by token: (0,0) ratio 1.5 > 1.2 with A > 0 (clipped); (0,1) ratio e^{-0.5} < 0.8 with
  // A < 0 (clipped); (0,2) in range; (1,0) ratio e^{0.4} > 1.2 with A < 0 (unclipped side wins);
  // (1,1) ratio e^{-0.3} < 0.8 with A > 0 (unclipped side wins); (1,2) masked out.
  const oldLp = [-1.2, -0.8, -2.0, -1.5, -0.9, -1.1];
  const logRatio = [Math.log(1.5), -0.5, 0.1, 0.4, -0.3, 0.25];
  const adv = [1.0, -0.7, 0.4, -0.5, 0.8, 2.0];
  const m = [1, 1, 1, 1, 1, 0];
  // Values: (0,0) and (0,2), (1,0) beyond the value clip with the clipped error larger; (0,1)
  // inside; (1,1) beyond the clip with the unclipped error larger.
  const v = [0.9, 0.1, 0.6, 0.7, -0.5, 3.0];
  const vOld = [0.5, 0.0, 1.0, 0.2, 0.0, 0.0];
  const ret = [1.0, -0.5, 0.0, 1.5, 0.3, 0.0];
  const inputs = (): Inputs64 => ({
    logp: f64(oldLp.map((x, i) => x + logRatio[i])), oldLogp: f64(oldLp), advantages: f64(adv), mask: f64(m),
    values: f64(v), oldValues: f64(vOld), returns: f64(ret), logits: seededValues(B * T * 4, 31, -2, 2),
  });
  const count = 5;
  const ratio = logRatio.map(Math.exp);
  const policyByHand = ratio.reduce((s, r, i) => s + m[i] * Math.max(-adv[i] * r, -adv[i] * clipJs(r, 0.8, 1.2)), 0) / count;
  const valueByHand = 0.5 * v.reduce((s, x, i) => {
    const clipped = clipJs(x, vOld[i] - 0.2, vOld[i] + 0.2);
    return s + m[i] * Math.max((x - ret[i]) ** 2, (clipped - ret[i]) ** 2);
  }, 0) / count;

  it("matches the hand-computed policy, value, entropy and total losses", () => {
    const values64 = inputs();
    const entropy = [0, 1, 2, 3, 4, 5].map((k) => -logSoftmaxJs(rowOf(values64.logits, k, 4)).reduce((s, lp) => s + Math.exp(lp) * lp, 0));
    const entropyByHand = entropy.reduce((s, h, i) => s + m[i] * h, 0) / count;
    const out = ppoLoss({ logp, oldLogp, advantages, mask, values, oldValues, returns, logits }, { entCoef: 0.01 });
    expectClose(scalarOf(out.policyLoss, values64), policyByHand);
    expectClose(scalarOf(out.valueLoss, values64), valueByHand);
    expectClose(scalarOf(out.entropy, values64), entropyByHand);
    expectClose(scalarOf(out.loss, values64), policyByHand + 0.1 * valueByHand - 0.01 * entropyByHand);
    // |ratio − 1| > 0.2 at (0,0), (0,1), (1,0), (1,1): 4 of the 5 unmasked tokens.
    expectClose(scalarOf(out.clipFraction, values64), 4 / 5);
    expectClose(scalarOf(out.approxKl, values64), 0.5 * logRatio.reduce((s, x, i) => s + m[i] * x * x, 0) / count);
    for (const x of [logp, values, logits]) expectGradMatches(out.loss, values64, x);
  });

  it("has zero gradient where the clip binds: above 1+ε with A > 0 and below 1−ε with A < 0", () => {
    const values64 = inputs();
    const g = evaluate(grad(ppoLoss({ logp, oldLogp, advantages, mask }).loss, logp), values64).data;
    expect(g[0]).toBe(0);
    expect(g[1]).toBe(0);
    // Where the unclipped side wins the gradient is −A·ratio / count, also outside the clip range.
    expectClose(g[3], (-adv[3] * ratio[3]) / count);
    expectClose(g[4], (-adv[4] * ratio[4]) / count);
    expectClose(g[2], (-adv[2] * ratio[2]) / count);
    expect(g[5]).toBe(0);
    const gv = evaluate(grad(ppoLoss({ logp, oldLogp, advantages, mask, values, oldValues, returns }).loss, values), values64).data;
    expect(gv[0]).toBe(0);
    expect(gv[2]).toBe(0);
    expectClose(gv[4], (0.1 * 0.5 * 2 * (v[4] - ret[4])) / count);
  });

  it("treats old log-probs, advantages and returns as data", () => {
    const out = ppoLoss({ logp, oldLogp, advantages, mask, values, oldValues, returns });
    for (const x of [oldLogp, advantages, returns, oldValues]) {
      expect(Array.from(evaluate(grad(out.loss, x), inputs()).data).every((g) => g === 0)).toBe(true);
    }
  });

  it("adds an in-loss k3 KL when asked", () => {
    const refLogp = variable("refLogp", edges);
    const values64: Inputs64 = { ...inputs(), refLogp: seededValues(6, 32, -3, -0.5) };
    const k3 = Array.from(values64.logp, (x, i) => Math.exp(values64.refLogp[i] - x) - (values64.refLogp[i] - x) - 1);
    const klByHand = k3.reduce((s, k, i) => s + m[i] * k, 0) / count;
    const out = ppoLoss({ logp, oldLogp, advantages, mask, refLogp }, { klLossCoef: 0.05 });
    expectClose(scalarOf(out.kl, values64), klByHand);
    expectClose(scalarOf(out.loss, values64), policyByHand + 0.05 * klByHand);
    expectGradMatches(out.loss, values64, logp);
  });

  it("builds TRL's KL-penalised rewards with the score on the last real token", () => {
    const refLogp = variable("refLogp", edges);
    const scores = variable("scores", { batch: B });
    const lastIndex = variable("lastIndex", { batch: B });
    const values64: Inputs64 = { ...inputs(), refLogp: seededValues(6, 33, -3, -0.5), scores: f64([1.5, -0.5]), lastIndex: f64([2, 1]) };
    const rewards = klPenaltyRewards({ scores, logp, refLogp, lastIndex, mask }, { klCoef: 0.05 });
    const expected = Array.from(values64.logp, (x, i) => -0.05 * (x - values64.refLogp[i]) * m[i]);
    expected[2] += 1.5;
    expected[4] += -0.5;
    const out = evaluate(rewards, values64);
    expect(out.edges).toEqual(["batch", "t"]);
    expectAllClose(out.data, expected);
    expect(Array.from(evaluate(grad(sum(rewards), logp), values64).data).every((g) => g === 0)).toBe(true);
  });

  it("whitens advantages with the unbiased masked variance", () => {
    const x = seededValues(6, 34, -2, 2);
    const n = 5;
    const mu = Array.from(x).reduce((s, a, i) => s + m[i] * a, 0) / n;
    const variance = (Array.from(x).reduce((s, a, i) => s + m[i] * (a - mu) ** 2, 0) / n) * (n / (n - 1));
    const values64: Inputs64 = { ...inputs(), advantages: x };
    expectAllClose(evaluate(whiten(advantages, mask), values64).data, Array.from(x, (a) => (a - mu) / Math.sqrt(variance + 1e-8)));
    expectAllClose(evaluate(whiten(advantages, mask, { shiftMean: false }), values64).data, Array.from(x, (a) => (a - mu) / Math.sqrt(variance + 1e-8) + mu));
    const weights = variable("weights", edges);
    expectGradMatches(sum(mul(whiten(advantages, mask), weights)), { ...values64, weights: seededValues(6, 35) }, advantages);
  });
});

// --- 5. GRPO --------------------------------------------------------------------------------------

describe("grpo", () => {
  const G = 2;
  const S = 3;
  const T = 4;
  const rewards = variable("rewards", { group: G, sample: S });
  const tokenEdges = { group: G, sample: S, t: T };
  const logp = variable("logp", tokenEdges);
  const oldLogp = variable("oldLogp", tokenEdges);
  const refLogp = variable("refLogp", tokenEdges);
  const mask = variable("mask", tokenEdges);
  const r = [1, 0, 0.5, 0.7, 0.7, 0.7];
  const lengths = [4, 2, 3, 1, 4, 0];
  const m: number[] = lengths.flatMap((len) => [0, 1, 2, 3].map((t) => (t < len ? 1 : 0)));
  const inputs = (): Inputs64 => {
    const lp = seededValues(G * S * T, 41, -3, -0.1);
    return {
      rewards: f64(r), logp: lp, mask: f64(m),
      oldLogp: lp.map((x, i) => x + seededValues(G * S * T, 42, -0.4, 0.4)[i]),
      refLogp: lp.map((x, i) => x + seededValues(G * S * T, 43, -0.5, 0.5)[i]),
    };
  };

  /** Unbiased std, as torch.std. */
  const stdJs = (xs: number[]): number => {
    const mu = xs.reduce((s, x) => s + x, 0) / xs.length;
    return Math.sqrt(xs.reduce((s, x) => s + (x - mu) ** 2, 0) / (xs.length - 1));
  };
  // Group 0: mean 0.5, unbiased std √((0.25 + 0.25 + 0)/2) = 0.5; group 1: all equal.
  const advByHand = [0.5 / (0.5 + 1e-4), -0.5 / (0.5 + 1e-4), 0, 0, 0, 0];

  it("z-scores rewards within each group (unbiased std, ε = 1e-4)", () => {
    expectClose(stdJs([1, 0, 0.5]), 0.5);
    const out = evaluate(grpoAdvantages(rewards), inputs());
    expect(out.edges).toEqual(["group", "sample"]);
    expectAllClose(out.data, advByHand);
  });

  it("gives exactly 0 advantage, and a finite loss, for a group of equal rewards", () => {
    const values64 = inputs();
    const adv = evaluate(grpoAdvantages(rewards), values64).data;
    expect(Array.from(adv.subarray(3))).toEqual([0, 0, 0]);
    for (const scale of ["batch", "none"] as const) {
      expect(Array.from(evaluate(grpoAdvantages(rewards, { scale }), values64).data.subarray(3))).toEqual([0, 0, 0]);
    }
    const allEqual = { ...values64, rewards: f64([0.3, 0.3, 0.3, 0.3, 0.3, 0.3]) };
    const out = grpoLoss({ logp, oldLogp, refLogp, rewards, mask });
    expect(Array.from(evaluate(out.advantages, allEqual).data)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Number.isFinite(scalarOf(out.loss, allEqual))).toBe(true);
    const g = evaluate(grad(out.loss, logp), allEqual).data;
    expect(g.every((x) => Number.isFinite(x))).toBe(true);
  });

  it("scales by the batch std, or not at all (Dr. GRPO)", () => {
    const batchStd = stdJs(r);
    const centred = [0.5, -0.5, 0, 0, 0, 0];
    expectAllClose(evaluate(grpoAdvantages(rewards, { scale: "batch" }), inputs()).data, centred.map((c) => c / (batchStd + 1e-4)));
    expectAllClose(evaluate(grpoAdvantages(rewards, { scale: "none" }), inputs()).data, centred);
  });

  it("has the right advantage gradients", () => {
    const weights = variable("weights", { group: G, sample: S });
    const values64: Inputs64 = { ...inputs(), rewards: seededValues(6, 44), weights: seededValues(6, 45) };
    for (const scale of ["group", "batch", "none"] as const) {
      expectGradMatches(sum(mul(grpoAdvantages(rewards, { scale }), weights)), values64, rewards);
    }
  });

  /** Per-token loss and its three aggregations, by hand. */
  function lossByHand(values64: Inputs64, beta: number, epsLow: number, epsHigh: number) {
    const perToken = Array.from(values64.logp, (lp, i) => {
      const a = advByHand[Math.floor(i / T)];
      const ratio = Math.exp(lp - values64.oldLogp[i]);
      const surrogate = -Math.min(ratio * a, clipJs(ratio, 1 - epsLow, 1 + epsHigh) * a);
      const x = values64.refLogp[i] - lp;
      return surrogate + beta * (Math.exp(x) - x - 1);
    });
    let sequenceMean = 0;
    for (let q = 0; q < G * S; q++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += m[q * T + t] * perToken[q * T + t];
      sequenceMean += s / Math.max(lengths[q], 1);
    }
    const total = perToken.reduce((s, x, i) => s + m[i] * x, 0);
    const tokens = m.reduce((s, x) => s + x, 0);
    return { sequence: sequenceMean / (G * S), token: total / tokens, drGrpo: total / (G * S * T), drGrpo10: total / (G * S * 10) };
  }

  it("aggregates per sequence, per token, or Dr. GRPO's fixed length", () => {
    const values64 = inputs();
    const byHand = lossByHand(values64, 0.04, 0.2, 0.28);
    const options = { epsilonHigh: 0.28 };
    const base = { logp, oldLogp, refLogp, rewards, mask };
    const sequence = grpoLoss(base, options).loss;
    const token = grpoLoss(base, { ...options, aggregation: "token" }).loss;
    const drGrpo = grpoLoss(base, { ...options, aggregation: "drGrpo" }).loss;
    expectClose(scalarOf(sequence, values64), byHand.sequence);
    expectClose(scalarOf(token, values64), byHand.token);
    expectClose(scalarOf(drGrpo, values64), byHand.drGrpo);
    expectClose(scalarOf(grpoLoss(base, { ...options, aggregation: "drGrpo", maxLength: 10 }).loss, values64), byHand.drGrpo10);
    for (const loss of [sequence, token, drGrpo]) expectGradMatches(loss, values64, logp);
  });

  it("reports the mean k3 KL and the clipped fraction", () => {
    const values64 = inputs();
    const tokens = m.reduce((s, x) => s + x, 0);
    let kl = 0;
    let clipped = 0;
    values64.logp.forEach((lp, i) => {
      const x = values64.refLogp[i] - lp;
      kl += m[i] * (Math.exp(x) - x - 1);
      const ratio = Math.exp(lp - values64.oldLogp[i]);
      clipped += m[i] * (ratio < 0.8 || ratio > 1.2 ? 1 : 0);
    });
    const out = grpoLoss({ logp, oldLogp, refLogp, rewards, mask });
    expectClose(scalarOf(out.kl, values64), kl / tokens);
    expect(clipped).toBeGreaterThan(0);
    expectClose(scalarOf(out.clipFraction, values64), clipped / tokens);
  });

  it("with one update per batch (old = stopGradient(new)) prints ≈ 0 yet has a gradient", () => {
    const values64 = inputs();
    const out = grpoLoss({ logp, rewards, mask }, { beta: 0 });
    expect(Math.abs(scalarOf(out.loss, values64))).toBeLessThan(1e-15);
    const g = evaluate(grad(out.loss, logp), values64).data;
    // Central differences would move the stopped "old" side too, so the oracle is the same
    // loss with old log-probs as a separate input holding equal values.
    const separateOld = grpoLoss({ logp, oldLogp, rewards, mask }, { beta: 0 }).loss;
    expectAllClose(g, expectGradMatches(separateOld, { ...values64, oldLogp: values64.logp.slice() }, logp));
    // ∂/∂logp of −ratio·A at ratio 1 is −A / (length · sequences) on each unmasked token.
    expectClose(g[0], -advByHand[0] / (4 * G * S));
    expectClose(g[4], -advByHand[1] / (2 * G * S));
  });
});

// --- 6. DPO ---------------------------------------------------------------------------------------

describe("dpoLoss", () => {
  const edges = { batch: 3 };
  const policyChosen = variable("policyChosen", edges);
  const policyRejected = variable("policyRejected", edges);
  const referenceChosen = variable("referenceChosen", edges);
  const referenceRejected = variable("referenceRejected", edges);
  const pc = [-10.2, -7.5, -12.0];
  const pr = [-11.0, -7.1, -15.5];
  const rc = [-10.5, -7.6, -11.0];
  const rr = [-10.8, -7.4, -15.0];
  const inputs = (): Inputs64 => ({ policyChosen: f64(pc), policyRejected: f64(pr), referenceChosen: f64(rc), referenceRejected: f64(rr) });
  const h = pc.map((_, i) => pc[i] - rc[i] - (pr[i] - rr[i]));
  const all = { policyChosen, policyRejected, referenceChosen, referenceRejected };

  it("is mean −log σ(β·h) for the sigmoid loss, with label smoothing", () => {
    const beta = 0.1;
    const expected = h.reduce((s, x) => s - Math.log(1 / (1 + Math.exp(-beta * x))), 0) / 3;
    const out = dpoLoss(all);
    expectClose(scalarOf(out.loss, inputs()), expected);
    const flipped = h.reduce((s, x) => s - Math.log(1 / (1 + Math.exp(beta * x))), 0) / 3;
    expectClose(scalarOf(dpoLoss(all, { labelSmoothing: 0.1 }).loss, inputs()), 0.9 * expected + 0.1 * flipped);
    expectGradMatches(out.loss, inputs(), policyChosen);
    expectGradMatches(out.loss, inputs(), policyRejected);
    expect(Array.from(evaluate(grad(out.loss, referenceChosen), inputs()).data)).toEqual([0, 0, 0]);
  });

  it("is mean (h − 1/(2β))² for IPO", () => {
    const beta = 0.5;
    const out = dpoLoss(all, { variant: "ipo", beta });
    expectClose(scalarOf(out.loss, inputs()), h.reduce((s, x) => s + (x - 1 / (2 * beta)) ** 2, 0) / 3);
    expectGradMatches(out.loss, inputs(), policyChosen);
    expectGradMatches(out.loss, inputs(), policyRejected);
  });

  it("is log 2 when policy and reference agree", () => {
    const same = { policyChosen: f64(rc), policyRejected: f64(rr), referenceChosen: f64(rc), referenceRejected: f64(rr) };
    expectClose(scalarOf(dpoLoss(all).loss, same), Math.log(2));
  });

  it("stays finite for a huge log-ratio gap", () => {
    const far = { ...inputs(), policyChosen: f64([-5000, -7.5, -12.0]) };
    const gap = far.policyChosen[0] - rc[0] - (pr[0] - rr[0]);
    const expected = (softplusJs(-0.1 * gap) + softplusJs(-0.1 * h[1]) + softplusJs(-0.1 * h[2])) / 3;
    expectClose(scalarOf(dpoLoss(all).loss, far), expected);
  });

  it("reports implicit rewards, margin and accuracy", () => {
    const out = dpoLoss(all);
    const chosenRewards = pc.map((x, i) => 0.1 * (x - rc[i]));
    const rejectedRewards = pr.map((x, i) => 0.1 * (x - rr[i]));
    expectAllClose(evaluate(out.chosenRewards, inputs()).data, chosenRewards);
    expectAllClose(evaluate(out.rejectedRewards, inputs()).data, rejectedRewards);
    expectClose(scalarOf(out.rewardMargin, inputs()), chosenRewards.reduce((s, c, i) => s + c - rejectedRewards[i], 0) / 3);
    expectClose(scalarOf(out.rewardAccuracy, inputs()), chosenRewards.filter((c, i) => c > rejectedRewards[i]).length / 3);
    expectAllClose(evaluate(implicitReward(policyChosen, referenceChosen, 0.5), inputs()).data, pc.map((x, i) => 0.5 * (x - rc[i])));
  });
});

// --- 7. TRPO --------------------------------------------------------------------------------------

describe("trpoObjective", () => {
  const B = 2;
  const T = 2;
  const I = 3;
  const V = 4;
  const x = variable("x", { batch: B, t: T, in: I });
  const W = variable("W", { in: I, vocab: V });
  const U = variable("U", { in: I, vocab: V });
  const oldLogits = variable("oldLogits", { batch: B, t: T, vocab: V });
  const actions = variable("actions", { batch: B, t: T });
  const advantages = variable("advantages", { batch: B, t: T });
  const mask = variable("mask", { batch: B, t: T });
  const logits = dot(x, W);
  const ids = [2, 0, 3, 1];
  const adv = [0.7, -1.1, 0.3, 5.0];
  const m = [1, 1, 1, 0];
  const inputs = (): Inputs64 => ({
    x: seededValues(B * T * I, 51), W: seededValues(I * V, 52), U: seededValues(I * V, 53), oldLogits: seededValues(B * T * V, 54, -1.5, 1.5),
    actions: f64(ids), advantages: f64(adv), mask: f64(m),
  });
  /** z = x·W per token, by hand. */
  const logitsByHand = (values64: Inputs64, n: number): number[] =>
    [0, 1, 2, 3].slice(0, V).map((v) => [0, 1, 2].reduce((s, i) => s + values64.x[n * I + i] * values64.W[i * V + v], 0));

  it("gives the surrogate mean(ratio·A) and the old→new KL, by hand", () => {
    const values64 = inputs();
    let surrogate = 0;
    let kl = 0;
    for (let n = 0; n < B * T; n++) {
      const lNew = logSoftmaxJs(logitsByHand(values64, n));
      const lOld = logSoftmaxJs(rowOf(values64.oldLogits, n, V));
      surrogate += m[n] * Math.exp(lNew[ids[n]] - lOld[ids[n]]) * adv[n];
      kl += m[n] * lOld.reduce((s, lo, v) => s + Math.exp(lo) * (lo - lNew[v]), 0);
    }
    const out = trpoObjective({ logits, actions, advantages, mask, oldLogits });
    expectClose(scalarOf(out.surrogate, values64), surrogate / 3);
    expectClose(scalarOf(out.loss, values64), -surrogate / 3);
    expectClose(scalarOf(out.kl, values64), kl / 3);
    expectGradMatches(out.surrogate, values64, W);
    expectGradMatches(out.kl, values64, W);
  });

  it("at the current point: ratio 1, KL 0, and hvp(kl) is the Fisher-vector product", () => {
    const values64 = inputs();
    const out = trpoObjective({ logits, actions, advantages, mask });
    expectClose(scalarOf(out.surrogate, values64), (adv[0] + adv[1] + adv[2]) / 3);
    expect(Math.abs(scalarOf(out.kl, values64))).toBeLessThan(1e-15);
    // F·U = mean over tokens of xᵀ (diag p − p pᵀ)(x·U), for logits z = x·W.
    const expected = new Float64Array(I * V);
    for (let n = 0; n < B * T; n++) {
      if (m[n] === 0) continue;
      const p = logSoftmaxJs(logitsByHand(values64, n)).map(Math.exp);
      const dz = [0, 1, 2, 3].map((v) => [0, 1, 2].reduce((s, i) => s + values64.x[n * I + i] * values64.U[i * V + v], 0));
      const pdz = p.reduce((s, pv, v) => s + pv * dz[v], 0);
      const fdz = p.map((pv, v) => pv * dz[v] - pv * pdz);
      for (let i = 0; i < I; i++) for (let v = 0; v < V; v++) expected[i * V + v] += (values64.x[n * I + i] * fdz[v]) / 3;
    }
    const fvp = evaluate(hvp(out.kl, W, U), values64);
    expect(fvp.edges).toEqual(["in", "vocab"]);
    expectAllClose(fvp.data, expected, 1e-11);
  });
});

// --- validation -------------------------------------------------------------------------------------

describe("input validation", () => {
  it("throws RicciError naming the edges for mismatched inputs", () => {
    const logp = variable("logp", { batch: 2, t: 3 });
    const wrongMask = variable("wrongMask", { batch: 2, t: 4 });
    const rewards = variable("rewards", { group: 1, sample: 2 });
    const logits = variable("logits", { batch: 2, seq: 3, vocab: 4 });
    expect(() => ppoLoss({ logp, oldLogp: logp, advantages: logp, mask: wrongMask })).toThrow(RicciError);
    expect(() => ppoLoss({ logp, oldLogp: logp, advantages: logp, mask: wrongMask })).toThrow(/t: 4/);
    expect(() => ppoLoss({ logp, oldLogp: logp, advantages: logp }, { entCoef: 0.1 })).toThrow(/entCoef/);
    expect(() => crossEntropy({ logits, targets: variable("ids", { batch: 2, seq: 3 }) }, { vocab: "tokens" })).toThrow(/"tokens"/);
    const tokenLogp = variable("tokenLogp", { group: 1, sample: 2, t: 3 });
    expect(() => grpoLoss({ logp: tokenLogp, rewards })).toThrow(/refLogp/);
    expect(() => grpoLoss({ logp: tokenLogp }, { beta: 0 })).toThrow(/rewards and advantages/);
    expect(() => bradleyTerryLoss({ chosen: logp, rejected: wrongMask })).toThrow(RicciError);
  });
});
