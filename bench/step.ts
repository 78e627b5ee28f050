/**
 * Training-step benchmark (`npm run bench:step`): the GPT of BACKENDS.md (2 layers, d_model
 * 128, 4 heads, context 64, vocab 64, batch 32), same params and batch, in one process:
 * ricci's compiled loss + gradients on ONNX Runtime and on tfjs wasm, the hand-written tfjs twin
 * with tf.grad on wasm (test/helpers/tfjs-gpt.ts), and ricci's whole training step on ONNX
 * Runtime (gradients, global-norm clipping, AdamW), with the optimizer on the tfjs glue and as
 * one fused graph (fusedAdamW). Medians of BENCH_REPEATS (default 7);
 * writes bench/results/step.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { describeBackend, initBackend, tf } from "../src/index.js";
import "@tensorflow/tfjs"; // registers tfjs's gradients for the twin: a peer here, never ricci's path
import { copyParams, initGpt } from "../src/nn/params.js";
import { lmObjective } from "../src/pipeline/lm.js";
import { fusedAdamW } from "../src/train/fusedStep.js";
import { adamW, clipByGlobalNorm } from "../src/train/optimizer.js";
import { makeRng } from "../src/util/random.js";
import { tfjsGptGrads } from "../test/helpers/tfjs-gpt.js";
import { fmt, medianMs } from "./stats.js";

const config = { vocab: 64, context: 64, dModel: 128, heads: 4, layers: 2 };
const batch = 32;
const repeats = Number(process.env.BENCH_REPEATS ?? 7);
const tokensPerStep = batch * config.context;

await initBackend("wasm");
const params = initGpt(config, 1);
const rng = makeRng(2);
const tokens = Int32Array.from({ length: tokensPerStep }, () => Math.floor(rng() * config.vocab));
const targets = Int32Array.from({ length: tokensPerStep }, () => Math.floor(rng() * config.vocab));
const lm = lmObjective(config, batch);
const inputs = lm.inputs({ tokens, targets });

const ricciGrads = (): number => {
  const { loss, grads } = lm.objective.run(params, inputs);
  Object.values(grads).forEach((g) => g.dispose());
  return loss;
};
const tTokens = tf.tensor(tokens, [batch, config.context], "int32");
const tTargets = tf.tensor(targets, [batch, config.context], "int32");
const twinGrads = (): number => {
  const { loss, grads } = tfjsGptGrads(config, params, tTokens, tTargets);
  const value = loss.dataSync()[0];
  loss.dispose();
  Object.values(grads).forEach((g) => g.dispose());
  return value;
};
// The whole step as the training loop runs it, on a copy of the parameters.
const trained = copyParams(params);
const optimizer = adamW(trained, { lr: 1e-4 });
const ricciTrainStep = (): number => {
  const { loss, grads } = lm.objective.run(trained, inputs);
  const clipped = clipByGlobalNorm(grads, 1);
  Object.values(grads).forEach((g) => g.dispose());
  optimizer.step(clipped.grads);
  Object.values(clipped.grads).forEach((g) => g.dispose());
  return loss;
};

// The same step as one compiled graph (loss, gradients, clipping and AdamW in one call).
const fusedParams = copyParams(params);
const fused = fusedAdamW(lm.objective.loss, lm.parameters, { lr: 1e-4 });
const ricciFusedStep = (): number => fused.step(fusedParams, inputs).loss;

async function measure(backend: "onnx" | "wasm", step: () => number): Promise<{ ms: number; loss: number; engine: string }> {
  await initBackend(backend);
  const loss = step();
  return { ms: await medianMs(step, { warmup: 1, repeats }), loss, engine: describeBackend() };
}

console.log(`ricci bench:step: GPT 2 layers, d 128, 4 heads, context 64, vocab 64, batch 32; medians of ${repeats}`);
const onnx = await measure("onnx", ricciGrads);
const onnxTrain = await measure("onnx", ricciTrainStep);
const onnxFused = await measure("onnx", ricciFusedStep);
const wasm = await measure("wasm", ricciGrads);
const twin = await measure("wasm", twinGrads);
const perSecond = (ms: number): number => Math.round(tokensPerStep / (ms / 1000));
const speedup = wasm.ms / onnx.ms;
console.log(`ricci on ${onnx.engine}: ${fmt(onnx.ms)} ms/step loss+gradients (${perSecond(onnx.ms)} tokens/s); whole training step with clipping and AdamW ${fmt(onnxTrain.ms)} ms (${perSecond(onnxTrain.ms)} tokens/s), as one fused graph ${fmt(onnxFused.ms)} ms (${perSecond(onnxFused.ms)} tokens/s)`);
console.log(`ricci on ${wasm.engine}: ${fmt(wasm.ms)} ms/step (${perSecond(wasm.ms)} tokens/s)`);
console.log(`tf.grad twin on ${twin.engine}: ${fmt(twin.ms)} ms/step`);
console.log(`ONNX Runtime vs wasm: ${speedup.toFixed(1)}× (must be ≥ 3×, target 5×); ricci-wasm vs twin ${(wasm.ms / twin.ms).toFixed(2)} (must be ≤ 1.0); losses ${onnx.loss.toFixed(5)} (onnx), ${wasm.loss.toFixed(5)} (wasm), ${twin.loss.toFixed(5)} (twin)`);
mkdirSync("bench/results", { recursive: true });
writeFileSync(
  "bench/results/step.json",
  `${JSON.stringify({
    date: new Date().toISOString(), config, batch, repeats,
    onnx: { engine: onnx.engine, gradsMs: onnx.ms, trainStepMs: onnxTrain.ms, fusedTrainStepMs: onnxFused.ms, tokensPerSecond: perSecond(onnx.ms), loss: onnx.loss },
    wasm: { engine: wasm.engine, gradsMs: wasm.ms, tokensPerSecond: perSecond(wasm.ms), loss: wasm.loss },
    twin: { engine: twin.engine, gradsMs: twin.ms, loss: twin.loss },
    onnxVsWasm: speedup, wasmVsTwin: wasm.ms / twin.ms,
  }, null, 2)}\n`,
);
