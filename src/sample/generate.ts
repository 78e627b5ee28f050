/**
 * Batched generation for a GPT: prompts are left-padded to a common length (padding keys are
 * masked out; RoPE makes attention depend only on relative positions, so the shift is
 * harmless), then tokens are drawn one position at a time. Returns what RL rollouts need:
 * response tokens, their log-probabilities under the sampling policy, and masks.
 */
import { RicciError } from "../errors.js";
import { tf } from "../lower/backend.js";
import { compile } from "../lower/compile.js";
import { type GptConfig, gptConstants, gptData, gptForward, gptParams, ropeTables } from "../nn/gpt.js";
import type { Params } from "../nn/params.js";
import { makeRng } from "../util/random.js";
import { decodeStep, prefillStep } from "./kvcache.js";
import { type SamplingOptions, chooseToken } from "./logits.js";

export interface GenerateOptions extends SamplingOptions {
  readonly maxNewTokens: number;
  /** Generation stops in a row once it emits one of these (the stop token is kept). */
  readonly stopTokens?: readonly number[];
  /** Token used for padding (prompts and finished rows). Default 0. */
  readonly padToken?: number;
  readonly seed?: number;
  /** Use the KV cache (default true); false recomputes the whole sequence per token. */
  readonly kvCache?: boolean;
}

export interface Rollout {
  /** Response tokens, row-major [batch, maxNewTokens], padded after a stop token. */
  readonly tokens: Int32Array;
  /** log π(token) under softmax(logits / temperature), 0 on padding. */
  readonly logprobs: Float32Array;
  /** 1 on generated tokens (up to and including the stop token), 0 after. */
  readonly mask: Float32Array;
  /** Number of generated tokens per row. */
  readonly lengths: number[];
  /** Whether each row stopped with a stop token (false: truncated at maxNewTokens). */
  readonly finished: boolean[];
  readonly batch: number;
  readonly maxNewTokens: number;
}

const NEG = -1e9;

/** Samples continuations of `prompts` (token id arrays) from the model: `await generate(cfg, params, prompts, { maxNewTokens: 8 })`. */
export async function generate(c: GptConfig, params: Params, prompts: readonly (readonly number[])[], options: GenerateOptions): Promise<Rollout> {
  const batch = prompts.length;
  const promptLength = Math.max(...prompts.map((p) => p.length));
  if (batch === 0) throw new RicciError("generate: no prompts");
  if (prompts.some((p) => p.length === 0)) throw new RicciError("generate: every prompt needs at least one token");
  const total = promptLength + options.maxNewTokens;
  if (total > c.context) {
    throw new RicciError(`generate: prompt length ${promptLength} + maxNewTokens ${options.maxNewTokens} = ${total} exceeds the model context ${c.context}`);
  }
  const pad = options.padToken ?? 0;
  const stops = new Set(options.stopTokens ?? []);
  const rng = makeRng(options.seed ?? 0);
  // Left-padded token buffer [batch, total]; row r's real tokens start at start[r].
  const sequence = new Int32Array(batch * total).fill(pad);
  const start = prompts.map((p) => promptLength - p.length);
  prompts.forEach((p, r) => p.forEach((t, i) => (sequence[r * total + start[r] + i] = t)));

  const rollout = {
    tokens: new Int32Array(batch * options.maxNewTokens).fill(pad),
    logprobs: new Float32Array(batch * options.maxNewTokens),
    mask: new Float32Array(batch * options.maxNewTokens),
    lengths: new Array<number>(batch).fill(0),
    finished: new Array<boolean>(batch).fill(false),
    batch,
    maxNewTokens: options.maxNewTokens,
  };
  const nextLogits = options.kvCache === false ? await uncachedModel(c, params, batch, total, start, sequence) : await cachedModel(c, params, batch, start, sequence, total);
  for (let pos = promptLength - 1; pos < total - 1; pos++) {
    const logits = nextLogits(pos);
    const vocab = logits.length / batch;
    const step = pos - (promptLength - 1);
    for (let r = 0; r < batch; r++) {
      const done = rollout.finished[r];
      let token = pad;
      if (!done) {
        const chosen = chooseToken(logits.subarray(r * vocab, (r + 1) * vocab), options, rng);
        token = chosen.token;
        rollout.tokens[r * options.maxNewTokens + step] = token;
        rollout.logprobs[r * options.maxNewTokens + step] = chosen.logprob;
        rollout.mask[r * options.maxNewTokens + step] = 1;
        rollout.lengths[r]++;
        if (stops.has(token)) rollout.finished[r] = true;
      }
      sequence[r * total + pos + 1] = token;
    }
    if (rollout.finished.every(Boolean)) break;
  }
  return rollout;
}

/** The logits of every row at position `pos`, [batch, vocab] row-major (positions asked in order). */
type LogitsAt = (pos: number) => Float32Array;

/**
 * The KV-cache model: the prompt block in one prefill pass (its caches and the logits at its
 * last position), then one compiled decode step per position, whose new keys and values are
 * written into the caches (plain arrays, laid out {batch, head, kseq, …}) in place.
 */
async function cachedModel(c: GptConfig, params: Params, batch: number, start: readonly number[], sequence: Int32Array, total: number): Promise<LogitsAt> {
  const step = decodeStep(c, gptParams(c), batch, total);
  const run = compile(step.outputs);
  await tf.ready();
  const caches: Record<string, Float32Array> = {};
  for (const { k, v } of step.caches) {
    caches[k.name] = new Float32Array(k.edges.reduce((n, e) => n * e.size, 1));
    caches[v.name] = new Float32Array(v.edges.reduce((n, e) => n * e.size, 1));
  }
  /** Writes a new position's values {batch, head, width} into a cache {batch, head, kseq, width}. */
  const writeAt = (cache: Float32Array, values: ArrayLike<number>, position: number): void => {
    const width = values.length / (batch * c.heads);
    for (let row = 0; row < batch * c.heads; row++) {
      for (let i = 0; i < width; i++) cache[(row * total + position) * width + i] = values[row * width + i];
    }
  };
  let computed = -1; // positions fed so far
  const prefill = (prompt: number): Float32Array => {
    const pass = prefillStep(c, gptParams(c), batch, prompt, total);
    const place = new Float32Array(prompt * total);
    for (let i = 0; i < prompt; i++) place[i * total + i] = 1;
    const last = new Float32Array(prompt);
    last[prompt - 1] = 1;
    const keyMask = new Float32Array(batch * prompt);
    for (let r = 0; r < batch; r++) keyMask.fill(NEG, r * prompt, r * prompt + Math.min(start[r], prompt));
    const tokens = new Int32Array(batch * prompt);
    for (let r = 0; r < batch; r++) tokens.set(sequence.subarray(r * total, r * total + prompt), r * prompt);
    const out = compile(pass.outputs).runArrays({
      ...params, ...gptConstants(c, prompt), [pass.data.tokens.name]: tokens, [pass.data.keyMask!.name]: keyMask, [pass.place.name]: place, [pass.last.name]: last,
    });
    for (const name of Object.keys(caches)) caches[name] = Float32Array.from(out[name].data);
    computed = prompt - 1;
    return Float32Array.from(out.logits.data);
  };
  const logitsAt = (pos: number): Float32Array => {
    let logits: Float32Array | null = computed < 0 && pos > 0 ? prefill(pos + 1) : null;
    while (computed < pos) {
      const p = ++computed;
      const { cos, sin } = ropeTables(c, p, 1);
      const write = new Float32Array(total);
      write[p] = 1;
      const mask = new Float32Array(batch * total).fill(NEG);
      for (let r = 0; r < batch; r++) for (let k = start[r]; k <= p; k++) mask[r * total + k] = 0;
      const tokens = Int32Array.from({ length: batch }, (_, r) => sequence[r * total + p]);
      const out = run.runArrays({ ...params, ...caches, [step.tokens.name]: tokens, [step.cos.name]: cos, [step.sin.name]: sin, [step.write.name]: write, [step.mask.name]: mask });
      step.caches.forEach(({ k, v }, l) => {
        writeAt(caches[k.name], out[`new.k${l}`].data, p);
        writeAt(caches[v.name], out[`new.v${l}`].data, p);
      });
      logits = Float32Array.from(out.logits.data);
    }
    return logits!;
  };
  return logitsAt;
}

/** The reference model without a cache: the full (padded) sequence through the network per token. */
async function uncachedModel(c: GptConfig, params: Params, batch: number, total: number, start: readonly number[], sequence: Int32Array): Promise<LogitsAt> {
  const data = gptData(c, batch, total, { keyMask: true });
  const run = compile({ logits: gptForward(c, gptParams(c), data) });
  await tf.ready();
  const constants = gptConstants(c, total);
  const keyMask = new Float32Array(batch * total);
  for (let r = 0; r < batch; r++) for (let k = 0; k < start[r]; k++) keyMask[r * total + k] = NEG;
  const logitsAt = (pos: number): Float32Array => {
    const out = run.runSync({ ...params, ...constants, tokens: sequence.slice(), keyMask });
    const all = out.logits.dataSync() as Float32Array;
    out.logits.dispose();
    const vocab = all.length / (batch * total);
    const rows = new Float32Array(batch * vocab);
    for (let r = 0; r < batch; r++) rows.set(all.subarray((r * total + pos) * vocab, (r * total + pos + 1) * vocab), r * vocab);
    return rows;
  };
  return logitsAt;
}
