/**
 * A small GPT written in the DSL: token embedding, RMSNorm, causal multi-head self-attention
 * with rotary position embeddings (RoPE), SwiGLU MLP, residuals, final norm and an LM head
 * (or a scalar head for reward and value models). Edges name every axis:
 *   batch, seq (query position), kseq (key position), d (model width), head, pair/two (the
 *   head dimension split into rotation pairs), ff (MLP width), vocab.
 * Data tensors the model reads (token ids, the causal mask, RoPE's cos/sin tables) are
 * variables too; `gptConstants` computes their values.
 */
import {
  add, constant, delta, dot, gather, mean, mul, oneHot, ones, pow, rename, scale, sigmoid, softmax, sub, variable,
} from "../dsl/build.js";
import type { Expr, Variable } from "../dsl/expr.js";
import { RicciError } from "../errors.js";

export interface GptConfig {
  readonly vocab: number;
  readonly context: number;
  readonly dModel: number;
  readonly heads: number;
  readonly layers: number;
  /** SwiGLU hidden width (default: 4·dModel rounded to a multiple of 8 of 2/3 of that, like LLaMA). */
  readonly ff?: number;
  /** Share the embedding matrix with the LM head. */
  readonly tiedHead?: boolean;
  /** "lm" for next-token logits, "scalar" for a reward/value head. */
  readonly head?: "lm" | "scalar";
  readonly normEps?: number;
  readonly ropeBase?: number;
}

/**
 * The weights the forward contracts, by parameter name: the variables of `gptParams`, or
 * expressions in their place (LoRA's W + s·A·B, src/nn/lora.ts) with the same edges.
 */
export interface GptParams {
  readonly [name: string]: Expr;
}

/** The model's inputs that are data, not parameters. */
export interface GptData {
  readonly tokens: Variable; // {batch, seq} integer ids
  readonly causalMask: Variable; // {seq, kseq}: 0 where k ≤ q, −1e9 elsewhere
  readonly ropeCos: Variable; // {seq, pair}
  readonly ropeSin: Variable; // {seq, pair}
  /** Optional additive padding mask {batch, kseq} (0 or −1e9), for left-padded prompts. */
  readonly keyMask?: Variable;
}

export const ffWidth = (c: GptConfig): number => c.ff ?? Math.max(8, Math.round((((8 * c.dModel) / 3) | 0) / 8) * 8);
export const headDim = (c: GptConfig): number => c.dModel / c.heads;

/** Parameter variables by name, e.g. `layer0.wq` with edges {d, head, pair, two}. */
export function gptParams(c: GptConfig): Record<string, Variable> {
  if (c.dModel % c.heads !== 0 || headDim(c) % 2 !== 0) {
    throw new RicciError(`gpt: dModel ${c.dModel} must split into ${c.heads} heads of even size`);
  }
  const d = c.dModel;
  const hd = headDim(c);
  const ff = ffWidth(c);
  const qk = { d, head: c.heads, pair: hd / 2, two: 2 };
  const p: Record<string, Variable> = { embed: variable("embed", { vocab: c.vocab, d }) };
  for (let l = 0; l < c.layers; l++) {
    p[`layer${l}.norm1`] = variable(`layer${l}.norm1`, { d });
    p[`layer${l}.wq`] = variable(`layer${l}.wq`, qk);
    p[`layer${l}.wk`] = variable(`layer${l}.wk`, qk);
    p[`layer${l}.wv`] = variable(`layer${l}.wv`, { d, head: c.heads, hd });
    p[`layer${l}.wo`] = variable(`layer${l}.wo`, { head: c.heads, hd, out: d });
    p[`layer${l}.norm2`] = variable(`layer${l}.norm2`, { d });
    p[`layer${l}.w1`] = variable(`layer${l}.w1`, { d, ff });
    p[`layer${l}.w3`] = variable(`layer${l}.w3`, { d, ff });
    p[`layer${l}.w2`] = variable(`layer${l}.w2`, { ff, out: d });
  }
  p.normF = variable("normF", { d });
  if ((c.head ?? "lm") === "scalar") p.valueHead = variable("valueHead", { d });
  else if (!c.tiedHead) p.unembed = variable("unembed", { d, vocab: c.vocab });
  return p;
}

/** Data variables for a batch of `batch` sequences of length `seq` (≤ context). */
export function gptData(c: GptConfig, batch: number, seq: number = c.context, options: { keyMask?: boolean } = {}): GptData {
  const pair = headDim(c) / 2;
  return {
    tokens: variable("tokens", { batch, seq }),
    causalMask: variable("causalMask", { seq, kseq: seq }),
    ropeCos: variable("ropeCos", { seq, pair }),
    ropeSin: variable("ropeSin", { seq, pair }),
    ...(options.keyMask ? { keyMask: variable("keyMask", { batch, kseq: seq }) } : {}),
  };
}

/** RMSNorm along d: x / √(mean_d x² + ε) · g. */
export function rmsNorm(x: Expr, gain: Expr, eps = 1e-5): Expr {
  return mul(x, pow(add(mean(mul(x, x), "d"), eps), -0.5), gain);
}

/** The unit vector e_i along a new edge: `unitVector("two", 2, 0)` is [1, 0]. */
const unitVector = (edge: string, size: number, i: number): Expr => oneHot(constant(i), { [edge]: size });

/**
 * Rotary embedding of a {…, seq, pair, two} tensor: each pair (x0, x1) rotated by its
 * position's angle, (x0·cos − x1·sin, x1·cos + x0·sin), written as
 *   x·cos + swap(x)·(sign·sin),  swap = the 2×2 exchange matrix (ones − δ), sign = (−1, 1),
 * i.e. two elementwise products and one tiny contraction over `two`.
 */
export function rope(x: Expr, cos: Expr, sin: Expr): Expr {
  const exchange = sub(ones({ two_: 2, two: 2 }), delta({ two_: 2, two: 2 }));
  const swapped = dot(rename(x, { two: "two_" }), exchange);
  const sign = sub(unitVector("two", 2, 1), unitVector("two", 2, 0));
  return add(mul(x, cos), mul(swapped, mul(sin, sign)));
}

/**
 * Where attention reads keys and values: the sequence itself (training, `sequenceAttention`)
 * or a KV cache (decoding one position at a time, src/sample/kvcache.ts).
 */
export interface AttentionSource {
  /** RoPE tables at the positions being computed ({seq, pair} or {pair}). */
  readonly cos: Expr;
  readonly sin: Expr;
  /** Additive attention mask (0 or −1e9) with a kseq edge. */
  readonly mask: Expr;
  /** Keys/values of the positions being computed → keys/values over all attended positions (edge kseq). */
  keysValues(layer: number, k: Expr, v: Expr): { readonly k: Expr; readonly v: Expr };
  /**
   * Optional: the whole attention of queries `q` given the new keys and values, for sources that
   * can do better than softmax over keysValues (a KV cache that is read, never rewritten).
   */
  attend?(layer: number, q: Expr, k: Expr, v: Expr, scale: number): Expr;
}

/** Attention over the sequence itself, causally masked (plus an optional padding mask). */
export function sequenceAttention(data: GptData): AttentionSource {
  return {
    cos: data.ropeCos,
    sin: data.ropeSin,
    mask: data.keyMask === undefined ? data.causalMask : add(data.causalMask, data.keyMask),
    keysValues: (_layer, k, v) => ({ k: rename(k, { seq: "kseq" }), v: rename(v, { seq: "kseq" }) }),
  };
}

function attention(c: GptConfig, p: GptParams, source: AttentionSource, x: Expr, l: number): Expr {
  const q = rope(dot(x, p[`layer${l}.wq`]), source.cos, source.sin); // {batch, seq, head, pair, two}
  const kNew = rope(dot(x, p[`layer${l}.wk`]), source.cos, source.sin);
  const vNew = dot(x, p[`layer${l}.wv`]);
  const scale_ = 1 / Math.sqrt(headDim(c));
  const mixed = source.attend !== undefined ? source.attend(l, q, kNew, vNew, scale_) : attend(source, l, q, kNew, vNew, scale_);
  return rename(dot(mixed, p[`layer${l}.wo`]), { out: "d" });
}

/** softmax(q·k / √hd + mask) · v over the keys and values the source gives: {batch, seq, head, hd}. */
function attend(source: AttentionSource, l: number, q: Expr, kNew: Expr, vNew: Expr, scaleBy: number): Expr {
  const { k, v } = source.keysValues(l, kNew, vNew);
  const scores = add(scale(dot(q, k, "pair", "two"), scaleBy), source.mask);
  const weights = softmax(scores, "kseq"); // {batch, seq, head, kseq}
  return dot(weights, v, "kseq");
}

function mlp(p: GptParams, x: Expr, l: number): Expr {
  const a = dot(x, p[`layer${l}.w1`]);
  const gate = mul(a, sigmoid(a)); // SiLU
  const h = mul(gate, dot(x, p[`layer${l}.w3`]));
  return rename(dot(h, p[`layer${l}.w2`]), { out: "d" });
}

/** The transformer blocks and final norm applied to embeddings `x` (edge d). */
export function gptBlocks(c: GptConfig, p: GptParams, x0: Expr, source: AttentionSource): Expr {
  const eps = c.normEps ?? 1e-5;
  let x = x0;
  for (let l = 0; l < c.layers; l++) {
    x = add(x, attention(c, p, source, rmsNorm(x, p[`layer${l}.norm1`], eps), l));
    x = add(x, mlp(p, rmsNorm(x, p[`layer${l}.norm2`], eps), l));
  }
  return rmsNorm(x, p.normF, eps);
}

/** The residual stream after the final norm: {batch, seq, d}. */
export function gptTrunk(c: GptConfig, p: GptParams, data: GptData): Expr {
  return gptBlocks(c, p, gather(p.embed, data.tokens, "vocab"), sequenceAttention(data));
}

/** The output head on the final hidden state: logits along vocab (LM) or a scalar score. */
export function gptHead(c: GptConfig, p: GptParams, h: Expr): Expr {
  if ((c.head ?? "lm") === "scalar") return dot(h, p.valueHead);
  return dot(h, c.tiedHead ? p.embed : p.unembed);
}

/** Next-token logits {batch, seq, vocab} (LM head) or scalar scores {batch, seq} (scalar head). */
export function gptForward(c: GptConfig, p: GptParams, data: GptData): Expr {
  return gptHead(c, p, gptTrunk(c, p, data));
}

/** RoPE cos/sin tables {position, pair} for positions `from` … `from + count − 1`. */
export function ropeTables(c: GptConfig, from: number, count: number): { cos: Float64Array; sin: Float64Array } {
  const pair = headDim(c) / 2;
  const base = c.ropeBase ?? 10000;
  const cos = new Float64Array(count * pair);
  const sin = new Float64Array(count * pair);
  for (let t = 0; t < count; t++) {
    for (let i = 0; i < pair; i++) {
      const angle = (from + t) / Math.pow(base, (2 * i) / (2 * pair));
      cos[t * pair + i] = Math.cos(angle);
      sin[t * pair + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/** Values of the data variables other than tokens: causal mask and RoPE tables. */
export function gptConstants(c: GptConfig, seq: number = c.context): Record<string, Float64Array> {
  const mask = new Float64Array(seq * seq);
  for (let q = 0; q < seq; q++) for (let k = q + 1; k < seq; k++) mask[q * seq + k] = -1e9;
  const { cos, sin } = ropeTables(c, 0, seq);
  return { causalMask: mask, ropeCos: cos, ropeSin: sin };
}
