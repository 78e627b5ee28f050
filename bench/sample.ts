/**
 * Sampling benchmark (`npm run bench:sample`): 64 new tokens at batch 32 for the BACKENDS.md
 * model (2 layers, d_model 128, 4 heads, vocab 64), with the KV cache vs recomputing the full
 * sequence per token; checks both give the same greedy tokens. Writes bench/results/sample.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { activeBackend, initBackend } from "../src/index.js";
import { initGpt } from "../src/nn/params.js";
import { generate } from "../src/sample/generate.js";
import { fmt, medianMs } from "./stats.js";

const config = { vocab: 64, context: 80, dModel: 128, heads: 4, layers: 2 };
const batch = 32;
const maxNewTokens = 64;

const backend = await initBackend();
console.log(`ricci bench:sample on backend "${backend}": batch ${batch}, ${maxNewTokens} new tokens, prompts of 8–15 tokens`);
const params = initGpt(config, 1);
const prompts = Array.from({ length: batch }, (_, r) => Array.from({ length: 8 + (r % 8) }, (_, i) => (r * 7 + i * 3) % 64));
const run = (kvCache: boolean) => generate(config, params, prompts, { maxNewTokens, temperature: 0, kvCache });

const cached = await run(true);
const full = await run(false);
const same = cached.tokens.every((t, i) => t === full.tokens[i]);
const cachedMs = await medianMs(async () => void (await run(true)), { warmup: 1, repeats: 3 });
const fullMs = await medianMs(async () => void (await run(false)), { warmup: 0, repeats: 3 });
const tokens = batch * maxNewTokens;
console.log(`KV cache: ${fmt(cachedMs)} ms (${fmt((tokens / cachedMs) * 1000)} tokens/s); full recompute: ${fmt(fullMs)} ms; speed-up ${(fullMs / cachedMs).toFixed(1)}× (target ≥ 5×); greedy tokens identical: ${same}`);
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/sample.json", `${JSON.stringify({ date: new Date().toISOString(), backend: activeBackend(), batch, maxNewTokens, cachedMs, fullMs, speedup: fullMs / cachedMs, identical: same }, null, 2)}\n`);
if (!same) process.exitCode = 1;
