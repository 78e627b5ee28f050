/**
 * Offline post-training: the reward model (scalar head read at the last token, Bradley–Terry
 * training) and DPO (sequence log-probs of packed pairs, loss at initialisation, training), and
 * both stages end to end at a tiny size with resume.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { arithmeticProblems, encodePrompt, makeProblem } from "../src/data/arithmetic.js";
import { type PreferencePair, REJECTION_KINDS, preferenceDataset, preferencePairs, rejectionKindOf } from "../src/data/preferences.js";
import { arithmeticVerifier, pairsFromSamples, samplePreferencePairs } from "../src/rl/sampledPreferences.js";
import { charTokenizer } from "../src/data/tokenizer.js";
import { variable } from "../src/dsl/build.js";
import { evaluate } from "../src/reference/evaluate.js";
import { initBackend, tf } from "../src/lower/backend.js";
import { compile } from "../src/lower/compile.js";
import { type GptConfig, gptConstants, gptData, gptForward, gptParams } from "../src/nn/gpt.js";
import { type Params, copyParams, initGpt } from "../src/nn/params.js";
import { dpo } from "../src/pipeline/dpo.js";
import { rewardModel } from "../src/pipeline/rm.js";
import { checkpointPath, epochOf, stageDir } from "../src/pipeline/stage.js";
import { pairsPath } from "../src/pipeline/pairs.js";
import { dpoObjective, pairLogProbs, preferenceReport } from "../src/rl/dpo.js";
import {
  encodeResponse, lastTokenScores, packPreferencePairs, pairwiseReport, rewardModelConfig, rewardModelFromPolicy,
  rewardHeadOf, rewardModelGraph, rewardModelObjective, scoreResponses,
} from "../src/rl/rewardModel.js";
import { policyGraph } from "../src/rl/policy.js";
import { saveCheckpoint } from "../src/train/checkpoint.js";
import { trainSteps } from "./helpers/train.js";
import { makeRng, normals, subSeed } from "../src/util/random.js";

const tiny: GptConfig = { vocab: charTokenizer.vocabSize, context: 24, dModel: 16, heads: 2, layers: 1 };
const tinyRm = rewardModelConfig(tiny);
const pairs: PreferencePair[] = preferenceDataset("default", 0).train.slice(0, 16);

beforeAll(async () => {
  await initBackend();
});

/** A reward model with a random (not zero) value head, so scores differ per position. */
function randomRewardModel(seed: number): Params {
  const params = initGpt(tinyRm, seed);
  params.valueHead.dispose();
  params.valueHead = tf.tensor(normals(tiny.dModel, makeRng(seed + 1), 1), [tiny.dModel]);
  return params;
}

const float64 = (params: Params): Record<string, Float64Array> =>
  Object.fromEntries(Object.entries(params).map(([k, t]) => [k, Float64Array.from(t.dataSync())]));


describe("reward model", () => {
  it("reads the scalar head at each row's last token (EOS)", () => {
    const params = randomRewardModel(3);
    const texts = ["=42", "=1", "=1234"];
    const prompts = [encodePrompt("what is 40+2?", charTokenizer), encodePrompt("what is 0+1?", charTokenizer), encodePrompt("what is 2*617?", charTokenizer)];
    const responses = texts.map((t) => encodeResponse(t));
    const rows = prompts.length;
    const data = gptData(tinyRm, rows);
    const lastIndex = variable("lastIndex", { batch: rows });
    const tokens = new Float64Array(rows * tiny.context);
    const last = prompts.map((p, r) => {
      [...p, ...responses[r]].forEach((id, t) => (tokens[r * tiny.context + t] = id));
      return p.length + responses[r].length - 1; // by hand: the EOS position
    });
    const inputs = { ...gptConstants(tinyRm), ...float64(params), tokens, lastIndex: Float64Array.from(last) };
    const full = evaluate(gptForward(tinyRm, gptParams(tinyRm), data), inputs); // {batch, seq}
    expect(full.edges).toEqual(["batch", "seq"]);
    const picked = last.map((t, r) => full.data[r * tiny.context + t]);
    const read = evaluate(lastTokenScores(tinyRm, gptParams(tinyRm), data, lastIndex), inputs);
    expect(read.edges).toEqual(["batch"]);
    for (let r = 0; r < rows; r++) expect(read.data[r]).toBeCloseTo(picked[r], 10);
    // The score is not position-blind: a neighbouring position reads something else.
    expect(Math.abs(full.data[last[0] - 1] - picked[0])).toBeGreaterThan(1e-6);
    // PPO's entry point, compiled in float32, agrees.
    const scores = scoreResponses(tinyRm, params, prompts, responses);
    for (let r = 0; r < rows; r++) expect(scores[r]).toBeCloseTo(picked[r], 4);
  });

  it("splits packed pairs into chosen (even rows) and rejected (odd rows) scores", () => {
    const params = randomRewardModel(5);
    const batch = packPreferencePairs(pairs.slice(0, 4), tiny.context);
    const graph = rewardModelGraph(tinyRm, 4);
    const out = compile({ scores: graph.scores, chosen: graph.chosen, rejected: graph.rejected }).runSync({ ...graph.inputs(batch), ...params });
    const scores = out.scores.dataSync();
    const chosen = out.chosen.dataSync();
    const rejected = out.rejected.dataSync();
    for (let i = 0; i < 4; i++) {
      expect(chosen[i]).toBe(scores[2 * i]);
      expect(rejected[i]).toBe(scores[2 * i + 1]);
    }
    // Row 2i + 1 holds the rejected text of pair i, ending in EOS at lastIndex.
    const row = 1;
    const ids = Array.from(batch.packed.tokens.subarray(row * tiny.context, row * tiny.context + batch.packed.lastIndex[row] + 1));
    expect(charTokenizer.decode(ids)).toBe(`<bos>${pairs[0].prompt}${pairs[0].rejected}<eos>`);
    Object.values(out).forEach((t) => t.dispose());
  });

  it("starts from the SFT trunk: same tensors by name, LM head dropped, a small random value head", () => {
    const sftParams = initGpt(tiny, 11);
    const embed = Array.from(sftParams.embed.dataSync());
    const unembed = sftParams.unembed;
    const rm = rewardModelFromPolicy(sftParams, tinyRm, 1);
    expect(Object.keys(rm).sort()).toEqual(Object.keys(gptParams(tinyRm)).sort());
    expect(rm.unembed).toBeUndefined();
    expect(unembed.isDisposed).toBe(true);
    expect(Array.from(rm.embed.dataSync())).toEqual(embed);
    const head = Array.from(rm.valueHead.dataSync());
    expect(head.some((v) => v !== 0)).toBe(true);
    expect(Math.max(...head.map(Math.abs))).toBeLessThan(0.1);
  });

  it("the likelihood head scores a response by its log-likelihood and keeps the LM head", () => {
    const likelihoodRm = rewardModelConfig(tiny, "likelihood");
    expect(rewardHeadOf(likelihoodRm)).toBe("likelihood");
    expect(rewardHeadOf(tinyRm)).toBe("lastToken");
    const sftParams = initGpt(tiny, 12);
    const unembed = Array.from(sftParams.unembed.dataSync());
    const params = rewardModelFromPolicy(sftParams, likelihoodRm, 1);
    expect(Object.keys(params).sort()).toEqual(Object.keys(gptParams(tiny)).sort());
    expect(Array.from(params.unembed.dataSync())).toEqual(unembed);
    const part = pairs.slice(0, 3);
    const logps = pairLogProbs(tiny, params, part); // DPO's sequence log-probs, checked by hand below
    const graph = rewardModelGraph(likelihoodRm, 3);
    const out = compile({ chosen: graph.chosen, rejected: graph.rejected }).runSync({ ...graph.inputs(packPreferencePairs(part, tiny.context)), ...params });
    const chosen = out.chosen.dataSync();
    const rejected = out.rejected.dataSync();
    part.forEach((_, i) => {
      expect(chosen[i]).toBeCloseTo(logps.chosen[i], 4);
      expect(rejected[i]).toBeCloseTo(logps.rejected[i], 4);
    });
    Object.values(out).forEach((t) => t.dispose());
    // PPO's entry point reads the same head.
    const prompts = part.map((p) => encodePrompt(p.prompt, charTokenizer));
    const scores = scoreResponses(likelihoodRm, params, prompts, part.map((p) => encodeResponse(p.chosen)));
    part.forEach((_, i) => expect(scores[i]).toBeCloseTo(logps.chosen[i], 4));
  });

  it("the NLL term adds α·(per-token NLL of the chosen responses), and needs the likelihood head", () => {
    const likelihoodRm = rewardModelConfig(tiny, "likelihood");
    const params = initGpt(tiny, 13);
    const part = pairs.slice(0, 4);
    const inputs = rewardModelGraph(likelihoodRm, 4).inputs(packPreferencePairs(part, tiny.context));
    const plain = rewardModelObjective(likelihoodRm, 4, { centerCoefficient: 0 }).objective.evaluate(params, inputs).loss;
    const logps = pairLogProbs(tiny, params, part);
    let bt = 0;
    for (let i = 0; i < 4; i++) bt += Math.log1p(Math.exp(-(logps.chosen[i] - logps.rejected[i]))) / 4;
    expect(plain).toBeCloseTo(bt, 4);
    const tokens = part.reduce((n, p) => n + encodeResponse(p.chosen).length, 0);
    const nll = -logps.chosen.reduce((a, b) => a + b, 0) / tokens;
    const withNll = rewardModelObjective(likelihoodRm, 4, { centerCoefficient: 0, nllCoefficient: 0.5 }).objective.evaluate(params, inputs);
    expect(withNll.loss).toBeCloseTo(bt + 0.5 * nll, 4);
    expect(withNll.metrics.chosenNll).toBeCloseTo(nll, 4);
    expect(() => rewardModelObjective(tinyRm, 4, { nllCoefficient: 0.5 })).toThrow(/needs the likelihood head/);
  });

  it("a few Bradley–Terry steps raise pairwise accuracy on a toy set", () => {
    const params = rewardModelFromPolicy(initGpt(tiny, 2), tinyRm, 2);
    const before = pairwiseReport(tinyRm, params, pairs);
    const rm = rewardModelObjective(tinyRm, pairs.length, { centerCoefficient: 0.01 });
    const inputs = rm.graph.inputs(packPreferencePairs(pairs, tiny.context));
    const first = rm.objective.evaluate(params, inputs).loss;
    trainSteps(params, 120, 1e-2, (p) => rm.objective.run(p, inputs));
    const after = pairwiseReport(tinyRm, params, pairs);
    expect(after.accuracy).toBeGreaterThanOrEqual(0.9);
    expect(after.accuracy).toBeGreaterThan(before.accuracy);
    expect(after.loss).toBeLessThan(before.loss - 0.2);
    expect(rm.objective.evaluate(params, inputs).loss).toBeLessThan(first);
  });
});

/** Σ log softmax(logits)[next token] over the response tokens (EOS included) of row r, by hand in float64. */
function handSequenceLogProb(logits: Float32Array, tokens: Int32Array, promptLength: number, length: number, r: number): number {
  const { context, vocab } = tiny;
  let total = 0;
  for (let t = promptLength - 1; t < length - 1; t++) {
    const row = logits.subarray((r * context + t) * vocab, (r * context + t + 1) * vocab);
    const m = Math.max(...row);
    const logZ = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    total += row[tokens[r * context + t + 1]] - logZ;
  }
  return total;
}

describe("preference pairs without gold answers", () => {
  const [p42] = [makeProblem(40, "+", 2)];
  const p7 = makeProblem(9, "-", 2);

  it("pair an accepted and a rejected finished sample of the same prompt, and count every sample as a verifier call", () => {
    const { pairs: made, verifierCalls, prompts } = pairsFromSamples(
      [p42, p7, p42],
      [
        ["=41<eos>", "=42", "=42<eos>", "=24<eos>"], // truncated "=42" is not chosen; the first finished rejection is
        ["=7<eos>", "=7<eos>"], // all accepted: no pair
        ["=42<eos>", "=37<eos>"],
      ],
    );
    expect(prompts).toBe(3);
    expect(verifierCalls).toBe(8);
    expect(made).toEqual([
      { prompt: p42.prompt, chosen: "=42", rejected: "=41", rejectedKind: "offByOne" },
      { prompt: p42.prompt, chosen: "=42", rejected: "=37", rejectedKind: "otherWrong" },
    ]);
  });

  it("the task's verifier needs the exact format and an EOS; rejected responses are classed by kind", () => {
    expect(arithmeticVerifier(p42, "=42<eos>")).toBe(true);
    expect(arithmeticVerifier(p42, "=42")).toBe(false);
    expect(arithmeticVerifier(p42, "42<eos>")).toBe(false);
    expect(arithmeticVerifier(p42, "=43<eos>")).toBe(false);
    const kinds = ["=43", "=52", "=24", "=80", "42", "=17"].map((r) => rejectionKindOf(p42, r));
    expect(kinds).toEqual(["offByOne", "offByTen", "digitSwap", "wrongOperator", "malformed", "otherWrong"]);
    expect(() => pairsFromSamples([p42], [])).toThrow(/1 problems but 0 response lists/);
  });

  it("sampling asks for at least two samples per prompt and a positive temperature", async () => {
    const params = initGpt(tiny, 3);
    await expect(samplePreferencePairs(tiny, params, [p42], { samplesPerPrompt: 1, temperature: 1, seed: 0 })).rejects.toThrow(/samplesPerPrompt must be an integer ≥ 2, got 1/);
    await expect(samplePreferencePairs(tiny, params, [p42], { samplesPerPrompt: 2, temperature: 0, seed: 0 })).rejects.toThrow(/temperature must be positive, got 0/);
    const drawn = await samplePreferencePairs(tiny, params, [p42, p7], { samplesPerPrompt: 3, temperature: 1, seed: 0, verify: () => true });
    expect(drawn.verifierCalls).toBe(6);
    expect(drawn.pairs).toEqual([]); // everything accepted: nothing to reject
  });
});

describe("DPO", () => {
  it("sequence log-probs of packed pairs sum the response tokens' log-probs", () => {
    const params = initGpt(tiny, 4);
    const part = pairs.slice(0, 3);
    const batch = packPreferencePairs(part, tiny.context);
    const graph = policyGraph(tiny, batch.packed.batch);
    const out = compile({ logits: graph.logits }).runSync({ ...graph.inputs(batch.packed), ...params });
    const logits = out.logits.dataSync() as Float32Array;
    out.logits.dispose();
    const logps = pairLogProbs(tiny, params, part);
    part.forEach((pair, i) => {
      const promptLength = encodePrompt(pair.prompt, charTokenizer).length;
      const lengthOf = (text: string): number => promptLength + encodeResponse(text).length;
      expect(logps.chosen[i]).toBeCloseTo(handSequenceLogProb(logits, batch.packed.tokens, promptLength, lengthOf(pair.chosen), 2 * i), 3);
      expect(logps.rejected[i]).toBeCloseTo(handSequenceLogProb(logits, batch.packed.tokens, promptLength, lengthOf(pair.rejected), 2 * i + 1), 3);
    });
  });

  it("the loss is log 2 when the policy is the reference", () => {
    const params = initGpt(tiny, 6);
    const reference = copyParams(params);
    const o = dpoObjective(tiny, 8, { beta: 0.1 });
    const part = pairs.slice(0, 8);
    const { loss, metrics } = o.objective.evaluate(params, o.inputs(packPreferencePairs(part, tiny.context), pairLogProbs(tiny, reference, part)));
    expect(loss).toBeCloseTo(Math.log(2), 5);
    expect(metrics.rewardMargin).toBeCloseTo(0, 5);
    // RPO adds α·(per-token NLL of the chosen completions), counted by hand from the texts.
    const rpo = dpoObjective(tiny, 8, { beta: 0.1, rpoAlpha: 0.5 });
    const ref = pairLogProbs(tiny, reference, part);
    const tokens = part.reduce((n, p) => n + encodeResponse(p.chosen).length, 0);
    const nll = -ref.chosen.reduce((a, b) => a + b, 0) / tokens;
    const withNll = rpo.objective.evaluate(params, rpo.inputs(packPreferencePairs(part, tiny.context), ref)).loss;
    expect(withNll).toBeCloseTo(Math.log(2) + 0.5 * nll, 4);
  });

  it("a few steps raise the implicit-reward preference accuracy on the training pairs", () => {
    const params = initGpt(tiny, 7);
    const reference = copyParams(params);
    const beta = 0.1;
    const o = dpoObjective(tiny, pairs.length, { beta });
    const refLogps = pairLogProbs(tiny, reference, pairs);
    const inputs = o.inputs(packPreferencePairs(pairs, tiny.context), refLogps);
    const before = preferenceReport(pairLogProbs(tiny, params, pairs), refLogps, beta);
    expect(before.implicitRewardAccuracy).toBe(0.5); // every pair a tie
    trainSteps(params, 15, 3e-3, (p) => o.objective.run(p, inputs));
    const policyLogps = pairLogProbs(tiny, params, pairs);
    const after = preferenceReport(policyLogps, refLogps, beta);
    expect(after.implicitRewardAccuracy).toBeGreaterThanOrEqual(0.9);
    // The compiled loss matches −log σ(β·h) computed by hand from the sequence log-probs.
    let hand = 0;
    for (let i = 0; i < pairs.length; i++) {
      const h = policyLogps.chosen[i] - refLogps.chosen[i] - (policyLogps.rejected[i] - refLogps.rejected[i]);
      hand += Math.log1p(Math.exp(-beta * h)) / pairs.length;
    }
    const loss = o.objective.evaluate(params, inputs).loss;
    expect(loss).toBeCloseTo(hand, 4);
    expect(loss).toBeLessThan(Math.log(2) - 0.05);
  });
});

describe("offline stages end to end (tiny model)", () => {
  const root = mkdtempSync(join(tmpdir(), "ricci-rl-offline-"));

  beforeAll(async () => {
    mkdirSync(stageDir(root, "ci", "sft"), { recursive: true });
    await saveCheckpoint(checkpointPath(stageDir(root, "ci", "sft")), { config: tiny, params: initGpt(tiny, 9), step: 0 });
  });

  // The tiny random model answers nothing right: this stand-in verifier accepts responses of even
  // length, so that sampled prompts have accepted and rejected responses both.
  const sampled = { model: tiny, pairs: { trainProblems: 160, heldOutProblems: 96, samplesPerPrompt: 8 }, verify: (_: unknown, r: string) => r.length % 2 === 0 };

  it("rm trains on the policy's sampled pairs (no gold answers), writes its artefacts and a rerun resumes without training", async () => {
    const overrides = { steps: 4, pairs: 4, warmup: 1, evalEvery: 2, heldOutPairs: 20 };
    const summary = await rewardModel({ size: "ci", root }, overrides, sampled);
    const file = JSON.parse(readFileSync(pairsPath(root, "ci"), "utf8")) as { train: PreferencePair[]; trainVerifierCalls: number };
    expect(summary.labels).toEqual({ goldAnswers: 0, verifierCalls: 160 * 8, preferencePairs: file.train.length });
    expect(file.train.length).toBeGreaterThan(16);
    for (const pair of file.train) {
      expect(`${pair.chosen}<eos>`.length % 2).toBe(0);
      expect(`${pair.rejected}<eos>`.length % 2).toBe(1);
    }
    expect(summary.stage).toBe("rm");
    expect(summary.steps).toBe(4);
    for (const k of ["pairwiseAccuracy", "initialPairwiseAccuracy", "heldOutLoss", "seconds"] as const) expect(Number.isFinite(summary[k]), k).toBe(true);
    const dir = stageDir(root, "ci", "rm");
    for (const f of ["checkpoint.ckpt", "metrics.jsonl", "summary.json"]) expect(existsSync(join(dir, f)), f).toBe(true);
    const metrics = readFileSync(join(dir, "metrics.jsonl"), "utf8");
    expect(metrics.trim().split("\n")).toHaveLength(5); // step 0 evaluation + 4 steps
    const again = await rewardModel({ size: "ci", root }, overrides, sampled);
    expect(again).toEqual(summary);
    expect(readFileSync(join(dir, "metrics.jsonl"), "utf8")).toBe(metrics);
  });

  it("rm with the likelihood head, the NLL term and fresh rejections each epoch", async () => {
    const other = mkdtempSync(join(tmpdir(), "ricci-rl-offline-lik-"));
    mkdirSync(stageDir(other, "ci", "sft"), { recursive: true });
    await saveCheckpoint(checkpointPath(stageDir(other, "ci", "sft")), { config: tiny, params: initGpt(tiny, 9), step: 0 });
    // 8 problems in batches of 4: epoch 0 is steps 1–2, epoch 1 steps 3–4.
    const overrides = { labels: "gold", steps: 4, pairs: 4, warmup: 1, evalEvery: 2, heldOutPairs: 20, head: "likelihood", nllCoefficient: 0.5, freshRejections: true, trainProblems: 8 } as const;
    const summary = await rewardModel({ size: "ci", root: other }, overrides, { model: tiny });
    expect(summary.head).toBe("likelihood");
    expect(summary.labels).toEqual({ goldAnswers: 8, verifierCalls: 0, preferencePairs: 16 });
    expect(summary.initialPairwiseAccuracy).toBeGreaterThan(0); // the SFT likelihood's ranking, not a coin flip by construction
    for (const kind of Object.keys(summary.accuracyByKind)) expect(REJECTION_KINDS).toContain(kind);
    const records = readFileSync(join(stageDir(other, "ci", "rm"), "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
    expect(records.slice(1).every((r) => Number.isFinite(r.chosenNll))).toBe(true);
    expect(epochOf(8, 4, 1)).toBe(0);
    expect(epochOf(8, 4, 2)).toBe(1);
    // Fresh rejections: the same problems get other rejected responses in another epoch.
    const problems = arithmeticProblems("default").train.slice(0, 50);
    const a = preferencePairs(problems, subSeed(0, "rm/rejections/0")).map((p) => p.rejected);
    const b = preferencePairs(problems, subSeed(0, "rm/rejections/1")).map((p) => p.rejected);
    expect(a).not.toEqual(b);
  });

  it("dpo trains on the reward model's sampled pairs, writes its artefacts and a rerun resumes without training", async () => {
    const overrides = { steps: 4, pairs: 4, warmup: 1, evalEvery: 2, heldOutPairs: 20, evalProblems: 8 };
    const pairsBefore = readFileSync(pairsPath(root, "ci"), "utf8");
    const summary = await dpo({ size: "ci", root }, overrides, sampled);
    expect(readFileSync(pairsPath(root, "ci"), "utf8")).toBe(pairsBefore); // read back, not sampled again
    const rmSummary = JSON.parse(readFileSync(join(stageDir(root, "ci", "rm"), "summary.json"), "utf8")) as { labels: unknown };
    expect(summary.labels).toEqual(rmSummary.labels);
    expect(summary.stage).toBe("dpo");
    expect(summary.initialPreferenceAccuracy).toBe(0.5);
    for (const k of ["initialAccuracy", "accuracy", "wellFormed", "klFromReference", "preferenceAccuracy", "seconds"] as const) {
      expect(Number.isFinite(summary[k]), k).toBe(true);
    }
    const dir = stageDir(root, "ci", "dpo");
    const metrics = readFileSync(join(dir, "metrics.jsonl"), "utf8");
    expect(metrics.trim().split("\n")).toHaveLength(5);
    const again = await dpo({ size: "ci", root }, overrides, sampled);
    expect(again).toEqual(summary);
    expect(readFileSync(join(dir, "metrics.jsonl"), "utf8")).toBe(metrics);
  });
});
