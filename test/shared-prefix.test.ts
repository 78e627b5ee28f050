/**
 * Groups sharing a prompt (src/nn/sharedPrefix.ts, `groupSequences`): the grouped policy's
 * log-probs and their gradients equal the packed policy's on the same rows, prompts of unequal
 * length included; the packed ↔ grouped index maps round-trip; bad shapes are named.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { grad } from "../src/autodiff/transforms.js";
import { mul, sum } from "../src/dsl/build.js";
import { initBackend } from "../src/lower/backend.js";
import { compile } from "../src/lower/compile.js";
import type { GptConfig } from "../src/nn/gpt.js";
import { initGpt } from "../src/nn/params.js";
import { evaluate } from "../src/reference/evaluate.js";
import { groupedPolicyGraph, policyGraph, scoreLogprobs } from "../src/rl/policy.js";
import { fromGrouped, groupSequences, packSequences, packedLength, toGrouped } from "../src/rl/sequences.js";
import { makeRng } from "../src/util/random.js";
import { relativeError } from "./helpers/oracle.js";

const tiny: GptConfig = { vocab: 12, context: 16, dModel: 8, heads: 2, layers: 2 };
const PAD = 0;

beforeAll(async () => {
  await initBackend();
});

/** Two groups of three: prompts of 5 and 3 tokens, responses of 1–4 tokens. */
function example(): { prompts: number[][]; responses: number[][]; rows: number[][] } {
  const rng = makeRng(7);
  const token = (): number => 1 + Math.floor(rng() * (tiny.vocab - 1));
  const prompts = [[1, 5, 7, 2, 9], [1, 3, 4]];
  const lengths = [1, 4, 2, 3, 3, 1];
  const responses = lengths.map((n) => Array.from({ length: n }, token));
  const rows = responses.map((_, r) => prompts[Math.floor(r / 3)]);
  return { prompts, responses, rows };
}

describe("groups sharing a prompt", () => {
  it("score every response token as the packed rows do", () => {
    const params = initGpt(tiny, 3);
    const { prompts, responses, rows } = example();
    const packed = packSequences(rows, responses, packedLength(rows, responses, tiny.context), PAD);
    const grouped = groupSequences(prompts, responses, 3, packed.context, PAD);
    expect([grouped.prefix, grouped.own]).toEqual([4, 4]);
    const fromPacked = scoreLogprobs(policyGraph(tiny, 6, packed.context), params, packed);
    const own = scoreLogprobs(groupedPolicyGraph(tiny, grouped), params, grouped);
    let compared = 0;
    grouped.packedIndex.forEach((i, m) => {
      if (grouped.responseMask[m] === 0) return;
      expect(packed.responseMask[i]).toBe(1);
      expect(own[m]).toBeCloseTo(fromPacked[i], 5);
      compared++;
    });
    expect(compared).toBe(responses.reduce((n, r) => n + r.length, 0));
    const back = fromGrouped(grouped, toGrouped(grouped, fromPacked), fromPacked.length);
    fromPacked.forEach((x, i) => expect(back[i]).toBe(packed.responseMask[i] === 1 ? x : 0));
  });

  it("give the packed rows' parameter gradients (compiled, and in float64)", async () => {
    const params = initGpt(tiny, 4);
    const { prompts, responses, rows } = example();
    const packed = packSequences(rows, responses, packedLength(rows, responses, tiny.context), PAD);
    const grouped = groupSequences(prompts, responses, 3, packed.context, PAD);
    const flat = policyGraph(tiny, 6, packed.context);
    const shared = groupedPolicyGraph(tiny, grouped);
    const names = ["embed", "layer0.wq", "layer0.wk", "layer1.wv", "layer1.w2", "unembed"];
    const gradsOf = async (graph: typeof flat | typeof shared, inputs: Record<string, ArrayLike<number>>): Promise<Float32Array[]> => {
      const loss = sum(mul(graph.logp, graph.mask));
      const grads = grad(loss, names.map((n) => graph.params[n]));
      const run = compile(Object.fromEntries(names.map((n, i) => [n, grads[i]])));
      const out = run.runSync({ ...inputs, ...params } as never) as Record<string, { data(): Promise<unknown> }>;
      return Promise.all(names.map(async (n) => (await out[n].data()) as Float32Array));
    };
    const a = await gradsOf(flat, flat.inputs(packed));
    const b = await gradsOf(shared, shared.inputs(grouped));
    names.forEach((_, i) => expect(relativeError(b[i], a[i])).toBeLessThan(1e-4));
    // The grouped expression in float64 (the reference evaluator) against its compiled value.
    const values: Record<string, Float64Array> = {};
    for (const [k, v] of Object.entries({ ...shared.inputs(grouped) })) values[k] = Float64Array.from(v);
    for (const [k, t] of Object.entries(params)) values[k] = Float64Array.from((await t.data()) as Float32Array);
    const loss64 = evaluate(sum(mul(shared.logp, shared.mask)), values).data[0];
    const loss32 = scoreLogprobs(shared, params, grouped).reduce((s, x, m) => s + x * grouped.responseMask[m], 0);
    expect(Math.abs(loss64 - loss32)).toBeLessThan(1e-4 * Math.abs(loss64));
  });

  it("name what is wrong with a batch", () => {
    const { prompts, responses } = example();
    expect(() => groupSequences(prompts, responses.slice(1), 3, 16, PAD)).toThrow(/5 responses for 2 prompts × 3 samples/);
    expect(() => groupSequences(prompts, [...responses.slice(1), []], 3, 16, PAD)).toThrow(/every response needs at least one token/);
    const grouped = groupSequences(prompts, responses, 3, 16, PAD);
    const other = groupedPolicyGraph(tiny, { ...grouped, own: grouped.own + 1 });
    expect(() => other.inputs(grouped)).toThrow(/a batch of 2×3 \(prefix 4, own 4\) for a graph of 2×3 \(prefix 4, own 5\)/);
    expect(() => groupedPolicyGraph(tiny, { ...grouped, own: 13 })).toThrow(/prefix 4 \+ own 13 positions exceed the model's context 16/);
  });
});
