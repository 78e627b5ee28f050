/**
 * The fused training step (loss, gradients, clipping and AdamW as one compiled graph) against
 * the separate path the training loop takes (objective → clipByGlobalNorm → adamW): the same
 * parameters after three steps, within float32 tolerance, with clipping active and not.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/index.js";
import { copyParams, disposeParams, initGpt } from "../src/entries/nn.js";
import { fusedAdamW } from "../src/entries/train.js";
import { lmObjective } from "../src/entries/pipeline.js";
import { adamW, clipByGlobalNorm } from "../src/train/optimizer.js";
import { makeRng } from "../src/util/random.js";
import { firstMismatch } from "./helpers/oracle.js";

beforeAll(async () => {
  await initBackend();
});

const config = { vocab: 16, context: 8, dModel: 16, heads: 2, layers: 2 };

describe("fusedAdamW", () => {
  for (const clipNorm of [0.05, 10]) {
    it(`matches objective + clipByGlobalNorm + adamW over 3 steps (clip ${clipNorm})`, () => {
      const lm = lmObjective(config, 4);
      const rng = makeRng(7);
      const batches = Array.from({ length: 3 }, () => {
        const ids = Int32Array.from({ length: 4 * config.context }, () => Math.floor(rng() * config.vocab));
        return lm.inputs({ tokens: ids, targets: ids.map((t) => (t + 1) % config.vocab) });
      });
      const lr = (t: number): number => 0.01 * t;
      const separate = initGpt(config, 3);
      const fusedParams = copyParams(separate);
      const optimizer = adamW(separate, { lr, weightDecay: 0.1 });
      const fused = fusedAdamW(lm.objective.loss, lm.parameters, { lr, weightDecay: 0.1, clipNorm });
      for (const data of batches) {
        const { loss, grads } = lm.objective.run(separate, data);
        const clipped = clipByGlobalNorm(grads, clipNorm);
        Object.values(grads).forEach((g) => g.dispose());
        optimizer.step(clipped.grads);
        Object.values(clipped.grads).forEach((g) => g.dispose());
        const result = fused.step(fusedParams, data);
        expect(result.skipped).toBe(false);
        expect(Math.abs(result.loss - loss)).toBeLessThan(1e-5);
        expect(Math.abs(result.gradNorm - clipped.norm) / clipped.norm).toBeLessThan(1e-4);
      }
      expect(fused.stepCount).toBe(3);
      for (const name of Object.keys(separate)) {
        expect(firstMismatch(fusedParams[name].dataSync(), separate[name].dataSync(), 1e-4), name).toBeNull();
      }
      const [a, b] = [optimizer.state(), fused.state()];
      for (const name of Object.keys(separate)) expect(firstMismatch(b.v[name], a.v[name], 1e-4), `v of ${name}`).toBeNull();
      disposeParams(separate);
      disposeParams(fusedParams);
      fused.dispose();
    });
  }

  it("skips a step whose loss is not finite and leaves the parameters as they were", () => {
    const lm = lmObjective(config, 4);
    const params = initGpt(config, 3);
    const before = Float32Array.from(params.embed.dataSync());
    const fused = fusedAdamW(lm.objective.loss, lm.parameters, { lr: 0.01 });
    const ids = new Int32Array(4 * config.context);
    const data = { ...lm.inputs({ tokens: ids, targets: ids }), lossMask: new Float32Array(4 * config.context).fill(Number.NaN) };
    const result = fused.step(params, data);
    expect(result.skipped).toBe(true);
    expect(fused.stepCount).toBe(0);
    expect(Array.from(params.embed.dataSync())).toEqual(Array.from(before));
    disposeParams(params);
    fused.dispose();
  });

  it("hands its state to a fresh fused step, and rejects a state for other parameters by name", () => {
    const lm = lmObjective(config, 4);
    const params = initGpt(config, 3);
    const ids = new Int32Array(4 * config.context).map((_, i) => i % config.vocab);
    const data = lm.inputs({ tokens: ids, targets: ids });
    const first = fusedAdamW(lm.objective.loss, lm.parameters, { lr: 0.01 });
    first.step(params, data);
    const state = first.state();
    const second = fusedAdamW(lm.objective.loss, lm.parameters, { lr: 0.01 });
    second.loadState(state);
    expect(second.stepCount).toBe(1);
    expect(firstMismatch(second.state().m.embed, state.m.embed, 0)).toBeNull();
    const { embed: _, ...withoutEmbed } = state.m;
    expect(() => second.loadState({ ...state, m: withoutEmbed })).toThrow(/fusedAdamW.loadState: state.m does not match the parameters; missing: embed/);
    disposeParams(params);
    first.dispose();
    second.dispose();
  });
});
