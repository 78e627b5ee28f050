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
  add, constant, dot, gather, mean, mul, oneHot, pow, rename, scale, sigmoid, softmax, sub, variable,
} from "../dsl/build.js";
import type { Expr, Variable } from "../dsl/expr.js";

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

export interface GptParams {
  readonly [name: string]: Variable;
}

/** The model's inputs that are data, not parameters. */
export interface GptData {
  readonly tokens: Variable; // {batch, seq} integer ids
  readonly causalMask: Variable; // {seq, kseq}: 0 where k ≤ q, −1e9 elsewhere
  readonly ropeCos: Variable; // {seq, pair}
  readonly ropeSin: Variable; // {seq, pair}
}

export const ffWidth = (c: GptConfig): number => c.ff ?? Math.max(8, Math.round((((8 * c.dModel) / 3) | 0) / 8) * 8);
const headDim = (c: GptConfig): number => c.dModel / c.heads;

/** Parameter variables by name, e.g. `layer0.wq` with edges {d, head, pair, two}. */
export function gptParams(c: GptConfig): GptParams {
  if (c.dModel % c.heads !== 0 || headDim(c) % 2 !== 0) {
    throw new Error(`gpt: dModel ${c.dModel} must split into ${c.heads} heads of even size`);
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
export function gptData(c: GptConfig, batch: number, seq: number = c.context): GptData {
  const pair = headDim(c) / 2;
  return {
    tokens: variable("tokens", { batch, seq }),
    causalMask: variable("causalMask", { seq, kseq: seq }),
    ropeCos: variable("ropeCos", { seq, pair }),
    ropeSin: variable("ropeSin", { seq, pair }),
  };
}

/** RMSNorm along d: x / √(mean_d x² + ε) · g. */
export function rmsNorm(x: Expr, gain: Expr, eps = 1e-5): Expr {
  return mul(x, pow(add(mean(mul(x, x), "d"), eps), -0.5), gain);
}

/** The unit vector e_i along a new edge: `unitVector("two", 2, 0)` is [1, 0]. */
const unitVector = (edge: string, size: number, i: number): Expr => oneHot(constant(i), { [edge]: size });

/** Rotary embedding of a {…, seq, pair, two} tensor: each pair (x0, x1) rotated by its position's angle. */
export function rope(x: Expr, cos: Expr, sin: Expr): Expr {
  const [e0, e1] = [unitVector("two", 2, 0), unitVector("two", 2, 1)];
  const x0 = dot(x, e0);
  const x1 = dot(x, e1);
  // (x0, x1) ↦ (x0·cos − x1·sin, x0·sin + x1·cos)
  const r0 = sub(mul(x0, cos), mul(x1, sin));
  const r1 = add(mul(x0, sin), mul(x1, cos));
  return add(mul(r0, e0), mul(r1, e1));
}

function attention(c: GptConfig, p: GptParams, data: GptData, x: Expr, l: number): Expr {
  const q = rope(dot(x, p[`layer${l}.wq`]), data.ropeCos, data.ropeSin); // {batch, seq, head, pair, two}
  const kAtSeq = rope(dot(x, p[`layer${l}.wk`]), data.ropeCos, data.ropeSin);
  const k = rename(kAtSeq, { seq: "kseq" });
  const v = rename(dot(x, p[`layer${l}.wv`]), { seq: "kseq" }); // {batch, kseq, head, hd}
  const scores = add(scale(dot(q, k, "pair", "two"), 1 / Math.sqrt(headDim(c))), data.causalMask);
  const weights = softmax(scores, "kseq"); // {batch, seq, head, kseq}
  const mixed = dot(weights, v, "kseq"); // {batch, seq, head, hd}
  return rename(dot(mixed, p[`layer${l}.wo`]), { out: "d" });
}

function mlp(p: GptParams, x: Expr, l: number): Expr {
  const a = dot(x, p[`layer${l}.w1`]);
  const gate = mul(a, sigmoid(a)); // SiLU
  const h = mul(gate, dot(x, p[`layer${l}.w3`]));
  return rename(dot(h, p[`layer${l}.w2`]), { out: "d" });
}

/** The residual stream after the final norm: {batch, seq, d}. */
export function gptTrunk(c: GptConfig, p: GptParams, data: GptData): Expr {
  const eps = c.normEps ?? 1e-5;
  let x = gather(p.embed, data.tokens, "vocab");
  for (let l = 0; l < c.layers; l++) {
    x = add(x, attention(c, p, data, rmsNorm(x, p[`layer${l}.norm1`], eps), l));
    x = add(x, mlp(p, rmsNorm(x, p[`layer${l}.norm2`], eps), l));
  }
  return rmsNorm(x, p.normF, eps);
}

/** Next-token logits {batch, seq, vocab} (LM head) or scalar scores {batch, seq} (scalar head). */
export function gptForward(c: GptConfig, p: GptParams, data: GptData): Expr {
  const h = gptTrunk(c, p, data);
  if ((c.head ?? "lm") === "scalar") return dot(h, p.valueHead);
  return dot(h, c.tiedHead ? p.embed : p.unembed);
}

/** Values of the data variables other than tokens: causal mask and RoPE tables. */
export function gptConstants(c: GptConfig, seq: number = c.context): Record<string, Float64Array | readonly number[]> {
  const pair = headDim(c) / 2;
  const base = c.ropeBase ?? 10000;
  const mask = new Float64Array(seq * seq);
  for (let q = 0; q < seq; q++) for (let k = q + 1; k < seq; k++) mask[q * seq + k] = -1e9;
  const cos = new Float64Array(seq * pair);
  const sin = new Float64Array(seq * pair);
  for (let t = 0; t < seq; t++) {
    for (let i = 0; i < pair; i++) {
      const angle = t / Math.pow(base, (2 * i) / (2 * pair));
      cos[t * pair + i] = Math.cos(angle);
      sin[t * pair + i] = Math.sin(angle);
    }
  }
  return { causalMask: mask, ropeCos: cos, ropeSin: sin };
}
