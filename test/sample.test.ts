/** Sampling: logit filters, seeded draws, stop tokens and masks, and the KV cache against full recomputation. */
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/index.js";
import { initGpt } from "../src/nn/params.js";
import { generate } from "../src/sample/generate.js";
import { chooseToken, logSoftmaxRow } from "../src/sample/logits.js";
import { makeRng } from "../src/util/random.js";

beforeAll(async () => {
  await initBackend();
});

/** Empirical token frequencies of 4000 seeded draws. */
function frequencies(row: number[], options: Parameters<typeof chooseToken>[1]): number[] {
  const rng = makeRng(3);
  const counts = new Array(row.length).fill(0);
  for (let i = 0; i < 4000; i++) counts[chooseToken(row, options, rng).token]++;
  return counts.map((c) => c / 4000);
}

describe("choosing tokens from logits", () => {
  const logits = [Math.log(0.5), Math.log(0.25), Math.log(0.15), Math.log(0.1)];

  it("greedy picks the argmax and reports its log-probability", () => {
    const { token, logprob } = chooseToken([0.1, 2, -1, 1.5], { temperature: 0 }, makeRng(1));
    expect(token).toBe(1);
    const z = Math.log(Math.exp(0.1) + Math.exp(2) + Math.exp(-1) + Math.exp(1.5));
    expect(logprob).toBeCloseTo(2 - z, 12);
  });

  it("plain sampling follows softmax(logits / T)", () => {
    const f = frequencies(logits, { temperature: 1 });
    [0.5, 0.25, 0.15, 0.1].forEach((p, i) => expect(Math.abs(f[i] - p)).toBeLessThan(0.03));
    const hot = frequencies(logits, { temperature: 2 });
    const expected = Array.from(logSoftmaxRow(logits, 2)).map(Math.exp);
    expected.forEach((p, i) => expect(Math.abs(hot[i] - p)).toBeLessThan(0.03));
  });

  it("top-k, top-p and min-p only draw from the allowed tokens, renormalised", () => {
    expect(frequencies(logits, { topK: 2 }).slice(2)).toEqual([0, 0]);
    const k2 = frequencies(logits, { topK: 2 });
    expect(Math.abs(k2[0] - 2 / 3)).toBeLessThan(0.03);
    // top-p 0.7: 0.5 + 0.25 ≥ 0.7 → tokens 0 and 1.
    expect(frequencies(logits, { topP: 0.7 }).slice(2)).toEqual([0, 0]);
    // min-p 0.4: keep p ≥ 0.2 → tokens 0 and 1.
    expect(frequencies(logits, { minP: 0.4 }).slice(2)).toEqual([0, 0]);
    expect(frequencies(logits, { minP: 0.25 })[3]).toBe(0); // 0.1 < 0.125
    expect(frequencies(logits, { minP: 0.25 })[2]).toBeGreaterThan(0); // 0.15 ≥ 0.125
  });

  it("reports the policy log-probability even when filtering", () => {
    const { token, logprob } = chooseToken(logits, { topK: 1, temperature: 1 }, makeRng(5));
    expect(token).toBe(0);
    expect(logprob).toBeCloseTo(Math.log(0.5), 12);
  });
});

describe("generate", () => {
  const config = { vocab: 20, context: 24, dModel: 16, heads: 2, layers: 2 };
  const prompts = [[1, 2, 3], [4, 5, 6, 7, 8], [9]];

  it("with the KV cache equals full recomputation, token for token (greedy and sampled)", async () => {
    const params = initGpt(config, 11);
    for (const options of [{ temperature: 0 }, { temperature: 1, topK: 5, seed: 9 }]) {
      const cached = await generate(config, params, prompts, { maxNewTokens: 12, ...options });
      const full = await generate(config, params, prompts, { maxNewTokens: 12, kvCache: false, ...options });
      expect(Array.from(cached.tokens)).toEqual(Array.from(full.tokens));
      cached.logprobs.forEach((lp, i) => expect(Math.abs(lp - full.logprobs[i])).toBeLessThan(1e-4));
    }
  });

  it("is reproducible for a seed and differs across seeds", async () => {
    const params = initGpt(config, 11);
    const a = await generate(config, params, prompts, { maxNewTokens: 10, seed: 1, temperature: 1.5 });
    const b = await generate(config, params, prompts, { maxNewTokens: 10, seed: 1, temperature: 1.5 });
    const c = await generate(config, params, prompts, { maxNewTokens: 10, seed: 2, temperature: 1.5 });
    expect(Array.from(a.tokens)).toEqual(Array.from(b.tokens));
    expect(Array.from(a.tokens)).not.toEqual(Array.from(c.tokens));
  });

  it("stops rows at a stop token, pads after it, and masks exactly the generated tokens", async () => {
    const params = initGpt(config, 11);
    const free = await generate(config, params, prompts, { maxNewTokens: 10, seed: 4, temperature: 2 });
    const stop = free.tokens[2]; // the third token row 0 drew: make it a stop token
    const out = await generate(config, params, prompts, { maxNewTokens: 10, seed: 4, temperature: 2, stopTokens: [stop], padToken: 0 });
    for (let r = 0; r < prompts.length; r++) {
      const row = Array.from(out.tokens.slice(r * 10, r * 10 + 10));
      const mask = Array.from(out.mask.slice(r * 10, r * 10 + 10));
      const at = row.indexOf(stop);
      expect(out.finished[r]).toBe(at >= 0 && at < out.lengths[r]);
      expect(mask.filter((m) => m === 1).length).toBe(out.lengths[r]);
      expect(mask.slice(0, out.lengths[r]).every((m) => m === 1)).toBe(true);
      if (out.finished[r]) {
        expect(out.lengths[r]).toBe(at + 1);
        expect(row.slice(at + 1).every((t) => t === 0)).toBe(true);
        expect(Array.from(out.logprobs.slice(r * 10 + at + 1, r * 10 + 10)).every((x) => x === 0)).toBe(true);
      }
    }
    expect(out.finished[0]).toBe(true);
    expect(out.lengths[0]).toBe(3);
  });

  it("rejects a request longer than the context", async () => {
    const params = initGpt(config, 11);
    await expect(generate(config, params, prompts, { maxNewTokens: 20 })).rejects.toThrow(/prompt length 5 \+ maxNewTokens 20 = 25 exceeds the model context 24/);
  });
});
