/**
 * One decoding step of the GPT as a DSL expression over a KV cache: attention reads the cache
 * as if the new position's keys and values were written into it with a one-hot position vector,
 *   K' = K + w ⊗ k_new   (each position is written once, into a cache that starts at zero),
 * which by linearity needs no K' at all (see decodeStep); the step returns the new keys and
 * values and the caller writes them in place. A step costs O(context) instead of O(context²).
 * The prompt itself is read in one pass (`prefillStep`): causal attention over its positions,
 * whose keys and values are placed into fresh caches by a {pos, kseq} placement matrix.
 */
import { add, dot, einsum, gather, mul, rename, scale, softmax, variable } from "../dsl/build.js";
import type { Expr, Variable } from "../dsl/expr.js";
import { type AttentionSource, type GptConfig, type GptParams, gptBlocks, gptData, gptHead, headDim } from "../nn/gpt.js";

export interface DecodeStep {
  /**
   * Outputs: `logits` {batch, vocab} (or `score`), and per layer l the new position's keys
   * `new.k{l}` {batch, head, pair, two} and values `new.v{l}` {batch, head, hd}, for the caller
   * to write into the caches at the position.
   */
  readonly outputs: Record<string, Expr>;
  readonly tokens: Variable; // {batch}
  readonly cos: Variable; // {pair}: RoPE at the current position
  readonly sin: Variable;
  readonly write: Variable; // {kseq}: one-hot of the current position
  readonly mask: Variable; // {batch, kseq}: 0 for attended positions, −1e9 elsewhere
  /**
   * Cache variables by layer: keys {batch, head, kseq, pair, two}, values {batch, head, kseq, hd}
   * (head before kseq: the attention products then need no transpose of the cache).
   */
  readonly caches: readonly { readonly k: Variable; readonly v: Variable }[];
}

/** Cache variables per layer for `batch` rows and `length` positions (shared by decode and prefill). */
function cacheVariables(c: GptConfig, batch: number, length: number): DecodeStep["caches"] {
  const hd = headDim(c);
  return Array.from({ length: c.layers }, (_, l) => ({
    k: variable(`cache.k${l}`, { batch, head: c.heads, kseq: length, pair: hd / 2, two: 2 }),
    v: variable(`cache.v${l}`, { batch, head: c.heads, kseq: length, hd }),
  }));
}

export interface PrefillStep {
  /** Outputs: `logits` {batch, vocab} (or `score`) at the last prompt position, and the caches by variable name. */
  readonly outputs: Record<string, Expr>;
  /** Data variables: tokens {batch, seq}, causalMask, ropeCos, ropeSin, keyMask {batch, kseq} (as gptData). */
  readonly data: ReturnType<typeof gptData>;
  /** {pos, kseq}: 1 where prompt position pos is cache position kseq (the identity on the first `prompt` positions). */
  readonly place: Variable;
  /** {seq}: one-hot of the last prompt position. */
  readonly last: Variable;
}

/**
 * The prompt pass for `batch` rows of `prompt` (left-padded) tokens into caches of `length`
 * positions: the caches the decoding steps would have built after `prompt` steps, and the
 * logits at the last prompt position, in one call.
 */
export function prefillStep(c: GptConfig, p: GptParams, batch: number, prompt: number, length: number): PrefillStep {
  const data = gptData(c, batch, prompt, { keyMask: true });
  const caches = cacheVariables(c, batch, length);
  const place = variable("prefill.place", { pos: prompt, kseq: length });
  const last = variable("prefill.last", { seq: prompt });
  const updated: Record<string, Expr> = {};
  const source: AttentionSource = {
    cos: data.ropeCos,
    sin: data.ropeSin,
    mask: add(data.causalMask, data.keyMask!),
    keysValues(l, k, v) {
      const K = rename(k, { seq: "pos" });
      const V = rename(v, { seq: "pos" });
      updated[caches[l].k.name] = einsum([K, place], caches[l].k.edges.map((e) => e.name));
      updated[caches[l].v.name] = einsum([V, place], caches[l].v.edges.map((e) => e.name));
      return { k: rename(k, { seq: "kseq" }), v: rename(v, { seq: "kseq" }) };
    },
  };
  const h = gptBlocks(c, p, gather(p.embed, data.tokens, "vocab"), source);
  const head = gptHead(c, p, dot(h, last));
  return { outputs: { [(c.head ?? "lm") === "scalar" ? "score" : "logits"]: head, ...updated }, data, place, last };
}

/** The decoding step for `batch` rows and a cache of `length` positions. */
export function decodeStep(c: GptConfig, p: GptParams, batch: number, length: number = c.context): DecodeStep {
  const hd = headDim(c);
  const tokens = variable("decode.tokens", { batch });
  const cos = variable("decode.cos", { pair: hd / 2 });
  const sin = variable("decode.sin", { pair: hd / 2 });
  const write = variable("decode.write", { kseq: length });
  const mask = variable("decode.mask", { batch, kseq: length });
  const caches = cacheVariables(c, batch, length);
  const fresh: Record<string, Expr> = {};
  const source: AttentionSource = {
    cos,
    sin,
    mask,
    keysValues: () => {
      throw new Error("decodeStep attends through `attend`");
    },
    attend(l, q, k, v, scaleBy) {
      // Attention over K' = K + w⊗k (and V' alike) without building K': the cache is zero at the
      // new position, so q·K' = q·K + (q·k)⊗w and weights·V' = weights·V + (weights·w)⊗v. The
      // step reads the caches and returns only the new keys and values, which the caller writes
      // into them: O(context) reads, O(1) writes per position.
      fresh[`new.k${l}`] = einsum([k], ["batch", "head", "pair", "two"]);
      fresh[`new.v${l}`] = einsum([v], ["batch", "head", "hd"]);
      const scores = add(scale(add(dot(q, caches[l].k, "pair", "two"), mul(dot(q, k, "pair", "two"), write)), scaleBy), mask);
      const weights = softmax(scores, "kseq"); // {batch, head, kseq}
      return add(dot(weights, caches[l].v, "kseq"), mul(dot(weights, write, "kseq"), v));
    },
  };
  const h = gptBlocks(c, p, gather(p.embed, tokens, "vocab"), source);
  const head = gptHead(c, p, h);
  const outputs = { [(c.head ?? "lm") === "scalar" ? "score" : "logits"]: head, ...fresh };
  return { outputs, tokens, cos, sin, write, mask, caches };
}
