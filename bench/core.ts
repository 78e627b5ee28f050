/**
 * Core benchmark (`npm run bench:core`), on the default backend:
 *  1. time to build, differentiate, simplify and compile the loss gradient of a 2-layer GPT
 *     (d_model 128, 4 heads, context 64, vocab 64, batch 32) — target < 2 s;
 *  2. compiled forward+backward of a [512×512]·[512×512]·[512×512] contraction chain vs the
 *     same written in tfjs with tf.grads — ratio target ≤ 1.0.
 * Prints medians of repeated runs and writes bench/results/core.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { activeBackend, compile, describeBackend, dot, gather, grad, initBackend, logSoftmax, mean, scale, simplify, square, tanh, tf, variable } from "../src/index.js";
import { gptData, gptForward, gptParams } from "../src/nn/gpt.js";
import "@tensorflow/tfjs"; // registers tfjs's gradients: tf.grads is a peer here, never ricci's path
import { fmt, medianMs } from "./stats.js";

const config = { vocab: 64, context: 64, dModel: 128, heads: 4, layers: 2 };
const batch = 32;

function buildGptGradient(): { outputs: Record<string, ReturnType<typeof variable>>; nodes: number } {
  const p = gptParams(config);
  const data = gptData(config, batch);
  const targets = variable("targets", { batch, seq: config.context });
  const loss = scale(mean(gather(logSoftmax(gptForward(config, p, data), "vocab"), targets, "vocab")), -1);
  const params = Object.values(p);
  const grads = grad(loss, params).map(simplify);
  const outputs: Record<string, ReturnType<typeof variable>> = { loss: simplify(loss) as never };
  params.forEach((v, i) => (outputs[`d_${v.name}`] = grads[i] as never));
  const step = compile(outputs);
  return { outputs, nodes: step.steps };
}

async function main(): Promise<void> {
  await initBackend();
  console.log(`ricci bench:core on ${describeBackend()} (node ${process.version}); tf.grads on tfjs ${tf.getBackend()}`);

  // 1. Build + differentiate + simplify + compile. Interning would make a second run nearly
  // free, so the first (cold) run is the honest number.
  const t0 = performance.now();
  const { nodes } = buildGptGradient();
  const coldMs = performance.now() - t0;
  console.log(`GPT (2 layers, d 128, 4 heads, ctx 64, vocab 64, batch 32): build+grad+simplify+compile ${fmt(coldMs)} ms cold (${nodes} plan steps); target < 2000 ms`);

  // 2. Contraction chain, forward + backward.
  const n = 512;
  const A = variable("A", { i: n, j: n });
  const B = variable("B", { j: n, k: n });
  const C = variable("C", { k: n, l: n });
  const loss = mean(square(tanh(dot(dot(A, B), C))));
  const [dA, dB, dC] = grad(loss, [A, B, C]);
  const step = compile({ loss, dA, dB, dC });
  const values = { A: tf.randomNormal([n, n], 0, 0.05), B: tf.randomNormal([n, n], 0, 0.05), C: tf.randomNormal([n, n], 0, 0.05) };
  const ricciMs = await medianMs(async () => {
    const out = await step(values);
    await out.dC.data();
    Object.values(out).forEach((t) => t.dispose());
  });
  const peer = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.mean(tf.square(tf.tanh(tf.matMul(tf.matMul(a, b), c)))));
  const peerMs = await medianMs(async () => {
    const out = peer([values.A, values.B, values.C]);
    await out[2].data();
    out.forEach((t) => t.dispose());
  });
  // Same numbers from both (a benchmark of wrong code is worthless).
  const check = await step(values);
  const ref = peer([values.A, values.B, values.C]);
  const diff = tf.max(tf.abs(tf.sub(check.dA, ref[0]))).dataSync()[0] / Math.max(1e-30, tf.max(tf.abs(ref[0])).dataSync()[0]);
  const ratio = ricciMs / peerMs;
  console.log(`chain [512×512]³ fwd+bwd: ricci ${fmt(ricciMs)} ms, tf.grads ${fmt(peerMs)} ms, ratio ${ratio.toFixed(2)} (target ≤ 1.0); max rel diff of dA ${diff.toExponential(1)}`);

  mkdirSync("bench/results", { recursive: true });
  const result = {
    date: new Date().toISOString(), backend: activeBackend(), node: process.version,
    gptBuildGradSimplifyCompileMs: coldMs, gptPlanSteps: nodes,
    chainRicciMs: ricciMs, chainTfGradMs: peerMs, chainRatio: ratio, chainMaxRelDiff: diff,
  };
  writeFileSync("bench/results/core.json", `${JSON.stringify(result, null, 2)}\n`);
}

await main();
