/** The shared training loop: gradient accumulation, clipping, skipped non-finite steps, determinism. */
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, tf } from "../src/index.js";
import { copyParams, initGpt, type Params } from "../src/nn/params.js";
import { lmObjective } from "../src/pipeline/lm.js";
import { trainLoop } from "../src/train/loop.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fusedAdamW } from "../src/train/fusedStep.js";
import { fusedTrainer, gradientTrainer } from "../src/train/trainer.js";
import { adamW, clipByGlobalNorm } from "../src/train/optimizer.js";
import { makeRng } from "../src/util/random.js";

const config = { vocab: 12, context: 6, dModel: 16, heads: 2, layers: 1 };

beforeAll(async () => {
  await initBackend();
});

function randomBatch(rows: number, seed: number): { tokens: Int32Array; targets: Int32Array } {
  const rng = makeRng(seed);
  const ids = () => Int32Array.from({ length: rows * config.context }, () => Math.floor(rng() * config.vocab));
  return { tokens: ids(), targets: ids() };
}

const maxDiff = (a: Params, b: Params): number =>
  Math.max(...Object.keys(a).map((k) => tf.tidy(() => tf.max(tf.abs(tf.sub(a[k], b[k]))).dataSync()[0])));

describe("trainLoop", () => {
  it("accumulating two half batches gives the same update as one full batch", async () => {
    const full = randomBatch(4, 1);
    const half = (i: number) => ({ tokens: full.tokens.slice(i * 2 * config.context, (i + 1) * 2 * config.context), targets: full.targets.slice(i * 2 * config.context, (i + 1) * 2 * config.context) });
    const lmFull = lmObjective(config, 4);
    const lmHalf = lmObjective(config, 2);
    const a = initGpt(config, 3);
    const b = copyParams(a);
    await trainLoop({ label: "full", steps: 2, trainer: gradientTrainer({ config, params: a, optimizer: adamW(a, { lr: 1e-2 }), clipNorm: 0, microstep: () => lmFull.objective.run(a, lmFull.inputs(full)) }) });
    await trainLoop({
      label: "accumulated", steps: 2,
      trainer: gradientTrainer({ config, params: b, optimizer: adamW(b, { lr: 1e-2 }), clipNorm: 0, accumulate: 2, microstep: (_s, micro) => lmHalf.objective.run(b, lmHalf.inputs(half(micro))) }),
    });
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
    expect(maxDiff(a, initGpt(config, 3))).toBeGreaterThan(1e-3); // the parameters did move
  });

  it("adds nothing to the numbers: the loop's steps equal a hand-written microstep → clip → AdamW loop bit for bit", async () => {
    const lm = lmObjective(config, 4);
    const byLoop = initGpt(config, 12);
    await trainLoop({
      label: "loop", steps: 3,
      trainer: gradientTrainer({ config, params: byLoop, optimizer: adamW(byLoop, { lr: 1e-2 }), clipNorm: 0.05, microstep: (step) => lm.objective.run(byLoop, lm.inputs(randomBatch(4, step))) }),
    });
    const byHand = initGpt(config, 12);
    const optimizer = adamW(byHand, { lr: 1e-2 });
    for (let step = 1; step <= 3; step++) {
      const { grads } = lm.objective.run(byHand, lm.inputs(randomBatch(4, step)));
      const clipped = clipByGlobalNorm(grads, 0.05);
      optimizer.step(clipped.grads);
      [...Object.values(grads), ...Object.values(clipped.grads)].forEach((t) => t.dispose());
    }
    expect(maxDiff(byLoop, byHand)).toBe(0);
  });

  it("records the pre-clip gradient norm, clips to it, and is deterministic", async () => {
    const lm = lmObjective(config, 4);
    const run = async () => {
      const p = initGpt(config, 5);
      const { history } = await trainLoop({
        label: "t", steps: 3, trainer: gradientTrainer({ config, params: p, optimizer: adamW(p, { lr: 1e-2 }), clipNorm: 0.01, microstep: (step) => lm.objective.run(p, lm.inputs(randomBatch(4, step))) }),
      });
      return history;
    };
    const first = await run();
    const second = await run();
    expect(first).toEqual(second);
    for (const r of first) expect(r.gradNorm).toBeGreaterThan(0.01);
  });

  it("a fused step (one compiled call) logs and updates as microstep + clip + adamW do, and a rerun resumes from its checkpoint", async () => {
    const lm = lmObjective(config, 4);
    const a = initGpt(config, 9);
    const separate = adamW(a, { lr: 1e-2 });
    const one = await trainLoop({
      label: "separate", steps: 3, trainer: gradientTrainer({ config, params: a, optimizer: separate, clipNorm: 0.05, microstep: (step) => lm.objective.run(a, lm.inputs(randomBatch(4, step))) }),
    });
    const outDir = mkdtempSync(join(tmpdir(), "ricci-loop-"));
    const fusedRun = (steps: number) => {
      const params = initGpt(config, 9);
      const optimizer = fusedAdamW(lm.objective.loss, lm.parameters, { lr: 1e-2, clipNorm: 0.05 });
      return { params, run: trainLoop({ label: "fused", steps, outDir, checkpointEvery: 1, trainer: fusedTrainer({ config, params, optimizer, batch: (step) => lm.inputs(randomBatch(4, step)) }) }) };
    };
    const two = await fusedRun(2).run;
    // A fresh process would start from the same initial weights and a fresh optimizer: the loop restores both.
    const rerun = fusedRun(3);
    const three = await rerun.run;
    const b = rerun.params;
    expect([two.resumedFrom, three.resumedFrom]).toEqual([0, 2]);
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
    const rows = [...two.history, ...three.history];
    expect(rows.map((r) => r.step)).toEqual([1, 2, 3]);
    rows.forEach((r, i) => {
      expect(r.loss).toBeCloseTo(one.history[i].loss, 5);
      expect(r.gradNorm).toBeCloseTo(one.history[i].gradNorm, 4);
      expect(r.lr).toBe(one.history[i].lr);
    });
  });

  it("skips a step whose loss is not finite instead of corrupting the parameters", async () => {
    const lm = lmObjective(config, 4);
    const p = initGpt(config, 7);
    const before = copyParams(p);
    const { history } = await trainLoop({
      label: "nan", steps: 1,
      trainer: gradientTrainer({
        config, params: p, optimizer: adamW(p, { lr: 1e-2 }),
        microstep: () => {
          const r = lm.objective.run(p, lm.inputs(randomBatch(4, 1)));
          const bad = tf.fill(r.grads.embed.shape, Number.NaN);
          r.grads.embed.dispose();
          return { ...r, grads: { ...r.grads, embed: bad } };
        },
      }),
    });
    expect(history[0].skipped).toBe(1);
    expect(maxDiff(p, before)).toBe(0);
  });
});
