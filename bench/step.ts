/**
 * Training-step benchmark (`npm run bench:step`): one forward+backward of the GPT in
 * BACKENDS.md (2 layers, d_model 128, 4 heads, context 64, vocab 64, batch 32) with ricci's
 * compiled symbolic gradients vs the hand-written tfjs twin with tf.grad (test/helpers/
 * tfjs-gpt.ts), same backend, same params and batch. Prints medians, their ratio and tokens/s,
 * and writes bench/results/step.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { activeBackend, initBackend, tf } from "../src/index.js";
import "@tensorflow/tfjs"; // registers tfjs's gradients for the twin: a peer here, never ricci's path
import { initGpt } from "../src/nn/params.js";
import { lmObjective } from "../src/pipeline/lm.js";
import { makeRng } from "../src/util/random.js";
import { tfjsGptGrads } from "../test/helpers/tfjs-gpt.js";
import { fmt, medianMs } from "./stats.js";

const config = { vocab: 64, context: 64, dModel: 128, heads: 4, layers: 2 };
const batch = 32;
const backend = await initBackend();
console.log(`ricci bench:step on backend "${backend}": GPT 2 layers, d 128, 4 heads, context 64, vocab 64, batch 32`);

const params = initGpt(config, 1);
const rng = makeRng(2);
const tokens = Int32Array.from({ length: batch * config.context }, () => Math.floor(rng() * config.vocab));
const targets = Int32Array.from({ length: batch * config.context }, () => Math.floor(rng() * config.vocab));
const lm = lmObjective(config, batch);
const inputs = lm.inputs({ tokens, targets });

const ricciStep = (): number => {
  const { loss, grads } = lm.objective.run(params, inputs);
  Object.values(grads).forEach((g) => g.dispose());
  return loss;
};
const tTokens = tf.tensor(tokens, [batch, config.context], "int32");
const tTargets = tf.tensor(targets, [batch, config.context], "int32");
const twinStep = (): number => {
  const { loss, grads } = tfjsGptGrads(config, params, tTokens, tTargets);
  const value = loss.dataSync()[0];
  loss.dispose();
  Object.values(grads).forEach((g) => g.dispose());
  return value;
};

const lossRicci = ricciStep();
const lossTwin = twinStep();
const repeats = Number(process.env.BENCH_REPEATS ?? 7);
const ricciMs = await medianMs(ricciStep, { warmup: 1, repeats });
const twinMs = await medianMs(twinStep, { warmup: 1, repeats });
const ratio = ricciMs / twinMs;
const tokensPerSecond = (batch * config.context) / (ricciMs / 1000);
console.log(`ricci ${fmt(ricciMs)} ms/step (${Math.round(tokensPerSecond)} tokens/s); tf.grad twin ${fmt(twinMs)} ms/step; ratio ${ratio.toFixed(2)} (must be ≤ 1.0, target ≤ 0.5); losses ${lossRicci.toFixed(5)} vs ${lossTwin.toFixed(5)}`);
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/step.json", `${JSON.stringify({ date: new Date().toISOString(), backend: activeBackend(), config, batch, ricciMs, twinMs, ratio, tokensPerSecond, lossRicci, lossTwin, repeats }, null, 2)}\n`);
