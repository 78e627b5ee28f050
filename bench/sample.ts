/**
 * Sampling benchmark (`npm run bench:sample`): 64 new tokens at batch 32 for the BACKENDS.md
 * model (2 layers, d_model 128, 4 heads, vocab 64), greedy. In one process: the KV cache on
 * ONNX Runtime vs on tfjs wasm (target ≥ 3×, identical tokens), and the KV cache vs recomputing
 * the full sequence per token on ONNX Runtime (target ≥ 5×, identical tokens). Medians of 5.
 * Writes bench/results/sample.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { describeBackend, initBackend } from "../src/index.js";
import { initGpt } from "../src/nn/params.js";
import { generate, type Rollout } from "../src/sample/generate.js";
import { fmt, medianMs } from "./stats.js";

const config = { vocab: 64, context: 80, dModel: 128, heads: 4, layers: 2 };
const batch = 32;
const maxNewTokens = 64;
const repeats = Number(process.env.BENCH_REPEATS ?? 5);

await initBackend("wasm");
const params = initGpt(config, 1);
const prompts = Array.from({ length: batch }, (_, r) => Array.from({ length: 8 + (r % 8) }, (_, i) => (r * 7 + i * 3) % 64));
const run = (kvCache: boolean): Promise<Rollout> => generate(config, params, prompts, { maxNewTokens, temperature: 0, kvCache });
const sameTokens = (a: Rollout, b: Rollout): boolean => a.tokens.every((t, i) => t === b.tokens[i]);

async function timed(backend: "onnx" | "wasm", kvCache: boolean): Promise<{ ms: number; rollout: Rollout; engine: string }> {
  await initBackend(backend);
  const rollout = await run(kvCache);
  const ms = await medianMs(async () => void (await run(kvCache)), { warmup: 1, repeats: kvCache ? repeats : 3 });
  return { ms, rollout, engine: describeBackend() };
}

console.log(`ricci bench:sample: batch ${batch}, ${maxNewTokens} new tokens, prompts of 8–15 tokens, greedy; medians of ${repeats}`);
const onnxCached = await timed("onnx", true);
const onnxFull = await timed("onnx", false);
const wasmCached = await timed("wasm", true);
const tokens = batch * maxNewTokens;
const backendRatio = wasmCached.ms / onnxCached.ms;
const cacheRatio = onnxFull.ms / onnxCached.ms;
const identicalAcrossBackends = sameTokens(onnxCached.rollout, wasmCached.rollout);
const identicalCacheVsFull = sameTokens(onnxCached.rollout, onnxFull.rollout);
console.log(`KV cache on ${onnxCached.engine}: ${fmt(onnxCached.ms)} ms (${fmt((tokens / onnxCached.ms) * 1000)} tokens/s)`);
console.log(`KV cache on ${wasmCached.engine}: ${fmt(wasmCached.ms)} ms (${fmt((tokens / wasmCached.ms) * 1000)} tokens/s)`);
console.log(`ONNX Runtime vs wasm: ${backendRatio.toFixed(1)}× (target ≥ 3×); greedy tokens identical: ${identicalAcrossBackends}`);
console.log(`full recompute on ONNX Runtime: ${fmt(onnxFull.ms)} ms; KV cache speed-up ${cacheRatio.toFixed(1)}× (target ≥ 5×); greedy tokens identical: ${identicalCacheVsFull}`);
mkdirSync("bench/results", { recursive: true });
writeFileSync(
  "bench/results/sample.json",
  `${JSON.stringify({
    date: new Date().toISOString(), batch, maxNewTokens, repeats, onnx: onnxCached.engine, wasm: wasmCached.engine,
    onnxCachedMs: onnxCached.ms, wasmCachedMs: wasmCached.ms, backendRatio, identicalAcrossBackends,
    onnxFullMs: onnxFull.ms, cacheRatio, identicalCacheVsFull,
  }, null, 2)}\n`,
);
if (!identicalAcrossBackends || !identicalCacheVsFull) process.exitCode = 1;
