/**
 * LoRA adapters (src/nn/lora.ts): the gradient with respect to A and B, derived by ricci's
 * autodiff, matches float64 central differences; at init (B = 0) the adapted model is the base
 * model exactly; training moves the adapters only (the base stays bit-identical) and the merged
 * weights reproduce the adapted forward; SFT and GRPO run end to end with LoRA, learn, write a
 * merged policy checkpoint and an adapter checkpoint, and resume.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { charTokenizer } from "../src/data/tokenizer.js";
import { evaluate, initBackend } from "../src/index.js";
import { tf } from "../src/lower/backend.js";
import { type GptConfig, gptParams } from "../src/nn/gpt.js";
import { type LoraOptions, initLora, loraModel, loraParams, loraSizes, mergeLora } from "../src/nn/lora.js";
import { type Params, copyParams, initGpt } from "../src/nn/params.js";
import { type LmBatch, lmObjective } from "../src/pipeline/lm.js";
import { dpo } from "../src/pipeline/dpo.js";
import { grpo } from "../src/pipeline/grpo.js";
import { ppo } from "../src/pipeline/ppo.js";
import { describeTrained, writeReport } from "../src/pipeline/report.js";
import { SIZES } from "../src/pipeline/sizes.js";
import { sft } from "../src/pipeline/sft.js";
import { loadCheckpoint, saveCheckpoint } from "../src/train/checkpoint.js";
import { fusedOptimizer } from "../src/train/fusedStep.js";
import { loraTrainer } from "../src/train/lora.js";
import { trainLoop } from "../src/train/loop.js";
import { fusedTrainer } from "../src/train/trainer.js";
import { numericGrad, relativeError, seededValues } from "./helpers/oracle.js";

const tiny: GptConfig = { vocab: charTokenizer.vocabSize, context: 8, dModel: 8, heads: 2, layers: 1 };
const lora: LoraOptions = { rank: 2, alpha: 3 };

beforeAll(async () => {
  await initBackend();
});

/** A seeded batch of `count` random token windows (targets: the next token), half the positions in the loss. */
function tinyBatch(count: number): LmBatch {
  const n = count * tiny.context;
  const ids = Array.from(seededValues(n + 1, 5, 0, tiny.vocab), Math.floor);
  return { tokens: Int32Array.from(ids.slice(0, n)), targets: Int32Array.from(ids.slice(1)), lossMask: Float32Array.from({ length: n }, (_, i) => i % 2) };
}

const float64 = async (params: Params): Promise<Record<string, Float64Array>> =>
  Object.fromEntries(await Promise.all(Object.entries(params).map(async ([k, t]) => [k, Float64Array.from((await t.data()) as Float32Array)] as const)));

const same = async (a: tf.Tensor, b: tf.Tensor): Promise<boolean> => {
  const [x, y] = [(await a.data()) as Float32Array, (await b.data()) as Float32Array];
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
};

describe("LoRA adapters", () => {
  it("have the edges of their projection split at the rank, and count far fewer parameters", () => {
    const vars = loraParams(tiny, { rank: 2 });
    const edges = (n: string): string => vars[n].edges.map((e) => `${e.name}:${e.size}`).join(",");
    expect(edges("layer0.wq.loraA")).toBe("d:8,lora:2");
    expect(edges("layer0.wq.loraB")).toBe("lora:2,head:2,pair:2,two:2");
    expect(edges("layer0.wo.loraA")).toBe("head:2,hd:4,lora:2");
    expect(edges("layer0.wo.loraB")).toBe("lora:2,out:8");
    expect(edges("layer0.w2.loraA")).toBe("ff:24,lora:2");
    expect(Object.keys(loraParams(tiny, { rank: 2, targets: ["wq", "wv"] }))).toEqual(["layer0.wq.loraA", "layer0.wq.loraB", "layer0.wv.loraA", "layer0.wv.loraB"]);
    const sizes = loraSizes(SIZES.ci.model, { rank: 8 });
    expect(sizes.trainable).toBeLessThan(sizes.full / 4);
    expect(sizes.optimizerFloats).toBe(2 * sizes.trainable);
    expect(() => loraParams(tiny, { rank: 0 })).toThrow(/rank/);
  });

  it("gradient with respect to A and B = float64 central differences", async () => {
    const lm = lmObjective(tiny, 2, lora);
    expect(lm.parameters.every((v) => /\.lora[AB]$/.test(v.name))).toBe(true);
    const base = await float64(initGpt(tiny, 1));
    // B ≠ 0, so that the gradient of A is not zero too.
    const adapters = Object.fromEntries(Object.values(loraParams(tiny, lora)).map((v, i) => [v.name, seededValues(v.edges.reduce((k, e) => k * e.size, 1), 100 + i, -0.3, 0.3)]));
    const data = Object.fromEntries(Object.entries(lm.inputs(tinyBatch(2))).map(([k, v]) => [k, Float64Array.from(v)]));
    const inputs = { ...data, ...base, ...adapters };
    const compiled = lm.objective.run(
      Object.fromEntries(Object.entries({ ...base, ...adapters }).map(([k, v]) => [k, tf.tensor(Float32Array.from(v), initShape(k))])),
      lm.inputs(tinyBatch(2)),
    );
    for (const name of ["layer0.wq.loraA", "layer0.wk.loraB", "layer0.wv.loraA", "layer0.wo.loraA", "layer0.wo.loraB", "layer0.w1.loraB", "layer0.w2.loraA", "layer0.w3.loraA"]) {
      const variable = lm.parameters.find((v) => v.name === name)!;
      const symbolic = evaluate(lm.objective.gradients[name], inputs).data;
      const numeric = numericGrad(lm.objective.loss, inputs, variable, 1e-5);
      expect(Math.max(...Array.from(numeric, Math.abs)), name).toBeGreaterThan(1e-4);
      expect(relativeError(symbolic, numeric), name).toBeLessThan(1e-6);
      expect(relativeError(await compiled.grads[name].data(), symbolic), `${name} compiled in float32`).toBeLessThan(1e-3);
    }
  });

  it("start as the base model exactly (B = 0), train only the adapters, and merge into weights that reproduce the adapted model", async () => {
    // A base whose logits depend on its projections (at GPT-2 init the tiny unembedding flattens them).
    const init = initGpt(tiny, 4);
    const base: Params = { ...init, unembed: tf.mul(init.unembed, 30) };
    const frozen = copyParams(base);
    const model = loraModel(tiny, base, lora, 9);
    const plain = lmObjective(tiny, 4);
    const adapted = lmObjective(tiny, 4, lora);
    const batch = plain.inputs(tinyBatch(4));
    const start = plain.objective.evaluate(base, batch).loss;
    expect(adapted.objective.evaluate(model.inputs(), batch).loss).toBe(start);
    for (const [name, t] of Object.entries(mergeLora(tiny, base, initLora(tiny, lora, 9), lora))) expect(await same(t, base[name]), name).toBe(true);

    const optimizer = fusedOptimizer(adapted.objective, { lr: 5e-2, weightDecay: 0 });
    const trainer = loraTrainer(fusedTrainer({ config: tiny, params: model.adapters, optimizer, batch: () => ({ ...batch, ...model.base }) }), model);
    expect(Object.keys(trainer.models).sort()).toEqual(["lora", "policy"]);
    const { history } = await trainLoop({ label: "lora", steps: 30, trainer });
    expect(history[29].loss).toBeLessThan(history[0].loss - 0.1);
    for (const [name, t] of Object.entries(base)) expect(await same(t, frozen[name]), `${name} frozen`).toBe(true);
    expect(Math.max(...Array.from((await model.adapters["layer0.w2.loraB"].data()) as Float32Array, Math.abs))).toBeGreaterThan(0);

    const viaAdapters = adapted.objective.evaluate(model.inputs(), batch).loss;
    const viaMerged = plain.objective.evaluate(model.merged, batch).loss;
    expect(viaAdapters).toBeLessThan(start - 0.1);
    expect(Math.abs(viaMerged - viaAdapters)).toBeLessThan(1e-5);
    // Targets differ from the base after training, everything else is the base's value.
    expect(await same(model.merged["layer0.wq"], base["layer0.wq"])).toBe(false);
    expect(await same(model.merged.embed, base.embed)).toBe(true);
  });
});

/** The shape of a tiny-model parameter or adapter by name. */
function initShape(name: string): number[] {
  const vars = { ...gptParams(tiny), ...loraParams(tiny, lora) };
  return vars[name].edges.map((e) => e.size);
}

describe("stages with LoRA", () => {
  it("SFT with rank-8 adapters lowers the held-out loss, checkpoints the merged model and the adapters, and resumes", async () => {
    const root = mkdtempSync(join(tmpdir(), "ricci-lora-sft-"));
    const config = SIZES.ci.model;
    mkdirSync(join(root, "ci", "pretrain"), { recursive: true });
    const start = initGpt(config, 3);
    await saveCheckpoint(join(root, "ci", "pretrain", "checkpoint.ckpt"), { config, params: start, step: 0 });
    const settings = { lora: { rank: 8 }, lr: 1e-2, warmup: 2, evalEvery: 10 };
    const first = await sft({ size: "ci", root }, { ...settings, steps: 10 });
    expect(first.lora?.trainable).toBe(loraSizes(config, { rank: 8 }).trainable);
    const dir = join(root, "ci", "sft");
    const records = (): Record<string, number>[] => readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
    expect(records()[0].step).toBe(0);
    expect(first.heldOutLoss).toBeLessThan(records()[0].heldOutLoss - 0.3);
    // checkpoint.ckpt is a plain GPT (what GRPO, DPO, … load); lora.ckpt the adapters with AdamW's moments.
    const merged = await loadCheckpoint(join(dir, "checkpoint.ckpt"), { expectConfig: config });
    expect(merged.lora).toBeUndefined();
    expect(await same(merged.params.embed, start.embed)).toBe(true);
    expect(await same(merged.params["layer1.w2"], start["layer1.w2"])).toBe(false);
    const adapters = await loadCheckpoint(join(dir, "lora.ckpt"), { expectConfig: config });
    expect(adapters.lora).toEqual({ rank: 8 });
    expect(adapters.optimizer?.step).toBe(10);
    const resumed = await sft({ size: "ci", root }, { ...settings, steps: 20 });
    expect(records().map((r) => r.step)).toEqual([0, ...Array.from({ length: 20 }, (_, i) => i + 1)]);
    expect(resumed.heldOutLoss).toBeLessThan(first.heldOutLoss);
  });

  const adapters = { rank: 4, targets: ["wq", "wv"] as const };
  const common = { evalEvery: 2, warmup: 1, lr: 1e-2, lora: adapters };
  const stages = [
    // GRPO's groups all tie at a random start (every reward 0): no advantage, no step, adapters stay at B = 0.
    { name: "GRPO", dir: "grpo", helpers: [], moves: false, run: (root: string, steps: number) => grpo({ size: "ci", root }, { ...common, promptsPerStep: 2, groupSize: 4, steps }) },
    { name: "PPO", dir: "ppo", helpers: ["value.ckpt"], moves: true, run: (root: string, steps: number) => ppo({ size: "ci", root }, { ...common, rolloutBatch: 4, minibatches: 2, evalProblems: 8, steps }) },
    { name: "DPO", dir: "dpo", helpers: [], moves: true, run: (root: string, steps: number) => dpo({ size: "ci", root }, { ...common, labels: "gold", pairs: 2, heldOutPairs: 8, evalProblems: 8, steps }) },
  ] as const;
  for (const stage of stages) {
    it(`${stage.name} with adapters runs end to end from an SFT checkpoint, keeps the SFT weights as its frozen reference, and resumes`, async () => {
      const root = mkdtempSync(join(tmpdir(), `ricci-lora-${stage.dir}-`));
      const config = SIZES.ci.model;
      mkdirSync(join(root, "ci", "sft"), { recursive: true });
      const start = initGpt(config, 3);
      await saveCheckpoint(join(root, "ci", "sft", "checkpoint.ckpt"), { config, params: start, step: 0 });
      const first = await stage.run(root, 2);
      expect(first.lora?.trainable).toBe(loraSizes(config, adapters).trainable);
      const dir = join(root, "ci", stage.dir);
      for (const f of ["checkpoint.ckpt", "lora.ckpt", "metrics.jsonl", "summary.json", ...stage.helpers]) expect(existsSync(join(dir, f)), f).toBe(true);
      expect(Number.isFinite(first.klFromReference)).toBe(true);
      const merged = await loadCheckpoint(join(dir, "checkpoint.ckpt"), { expectConfig: config });
      const stored = await loadCheckpoint(join(dir, "lora.ckpt"), { expectConfig: config });
      expect(stored.lora).toEqual(adapters);
      expect(stored.optimizer?.step).toBeGreaterThanOrEqual(2);
      // Only the targets can move: the rest of the policy is the SFT start, bit for bit.
      for (const name of ["embed", "layer0.wk", "layer0.wo", "layer1.w2", "unembed"]) expect(await same(merged.params[name], start[name]), name).toBe(true);
      // And the policy checkpoint is the merge of the SFT weights and the stored adapters.
      const remerged = mergeLora(config, start, stored.params, adapters);
      expect(relativeError(await merged.params["layer1.wv"].data(), await remerged["layer1.wv"].data())).toBeLessThan(1e-7);
      expect(await same(merged.params["layer1.wv"], start["layer1.wv"])).toBe(!stage.moves);
      const resumed = await stage.run(root, 4);
      expect(resumed.steps).toBe(4);
      const steps = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { step: number }).step);
      expect(steps).toEqual([0, 1, 2, 3, 4]);
    });
  }
});

describe("LoRA in the report and on the command line", () => {
  it("the report says which weights each stage trained", () => {
    expect(describeTrained(undefined)).toBe("all");
    expect(describeTrained({ rank: 8, alpha: 16, trainable: 19328 })).toBe("LoRA rank 8, α 16 (19,328 params)");
    const root = mkdtempSync(join(tmpdir(), "ricci-lora-report-"));
    mkdirSync(join(root, "ci"), { recursive: true });
    const path = writeReport(root, "ci", [
      { stage: "sft", summary: { testAccuracy: 0.5 } },
      { stage: "grpo", summary: { testAccuracy: 0.6, lora: { rank: 4, alpha: 8, trainable: 1234 } } },
    ], { backend: "test", seconds: 1, jobs: 1 });
    const text = readFileSync(path, "utf8");
    expect(text).toContain("| labels used | weights trained |");
    expect(text).toMatch(/\| sft \| 50\.0% \|.*\| all \|/);
    expect(text).toMatch(/\| grpo \| 60\.0% \|.*\| LoRA rank 4, α 8 \(1,234 params\) \|/);
  });

  it("`--lora RANK` is refused for a stage without adapters and for a rank that is not a positive integer", () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { encoding: "utf8" });
    const wrongStage = cli("rm", "--size", "ci", "--lora", "8");
    expect(wrongStage.status).toBe(1);
    expect(wrongStage.stderr).toContain("--lora applies to sft, ppo, grpo, dpo, not rm");
    const wrongRank = cli("sft", "--size", "ci", "--lora", "0.5");
    expect(wrongRank.status).toBe(1);
    expect(wrongRank.stderr).toContain(`--lora must be a positive integer (the adapters' rank), got "0.5"`);
  });
});

