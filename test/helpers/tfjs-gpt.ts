/**
 * A hand-written TensorFlow.js twin of src/nn/gpt.ts: the same GPT (gather-free embedding,
 * RMSNorm, causal multi-head attention with interleaved RoPE, SwiGLU, residuals, final norm,
 * untied or tied LM head) in plain tf ops, differentiated by tfjs's own tape. It is a test
 * oracle and a benchmark peer only — never on ricci's training path.
 *
 * Written for speed on the wasm backend (see ../shared/BACKENDS.md):
 *  - every matmul is 2-D or 3-D, tensors stay at rank ≤ 4, transposes are explicit;
 *  - matmuls go through `matMulFlagFree`, whose backward also uses explicit transposes
 *    instead of tfjs's transposeA/transposeB flags (10–15× slower on wasm);
 *  - the embedding is oneHot·matMul (gather's gradient needs UnsortedSegmentSum, absent on wasm);
 *  - RoPE is x·cos + swap(x)·sin with swap (x0, x1) ↦ (−x1, x0) done as a [N·C/2, 2]·[2, 2]
 *    matmul: column slices, split and concat along the last axis are slow on wasm, so q, k, v
 *    (and w1, w3) are separate matmuls rather than one fused matmul that is split afterwards;
 *  - the 1/√headDim score scale is folded into q's cos/sin tables.
 * It reads the layouts of src/nn/params.ts (`Params`) but builds its own mask and RoPE tables
 * from the textbook formulas, so a slip in `gptConstants` would show up as a mismatch.
 */
import { tf } from "../../src/index.js";
import type { GptConfig } from "../../src/nn/gpt.js";
import type { Params } from "../../src/nn/params.js";

/** Model sizes the twin needs, read from the config and the parameter shapes. */
interface Dims {
  readonly vocab: number;
  readonly d: number;
  readonly heads: number;
  readonly headDim: number;
}

function dimsOf(config: GptConfig, params: Params): Dims {
  if ((config.head ?? "lm") !== "lm") throw new Error("tfjs twin: only the LM head has a cross-entropy loss");
  const [vocab, d] = params.embed.shape;
  return { vocab, d, heads: config.heads, headDim: d / config.heads };
}

/**
 * a·b with no transpose flags, forward or backward: `matMulFlagFree(x, w)`. 2-D or batched 3-D.
 * The backward is dA = dy·bᵀ, dB = aᵀ·dy with the transposes done as separate ops.
 */
const matMulFlagFree = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved;
      const swapLast = (t: tf.Tensor): tf.Tensor => tf.transpose(t, t.rank === 2 ? [1, 0] : [0, 2, 1]);
      return [tf.matMul(dy, swapLast(sb)), tf.matMul(swapLast(sa), dy)];
    },
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** x / √(mean_d x² + ε) · g, rows of x = [N, D]. */
function rmsNorm(x: tf.Tensor, gain: tf.Tensor, eps: number): tf.Tensor {
  const meanSquare = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, eps))), gain);
}

/**
 * RoPE tables [seq, D] for the flattened (head, pair, two) axis: position t, pair i turns by
 * t·base^(−2i/headDim) (both members of a pair share the angle), scaled by `scale`.
 */
function ropeTables(dims: Dims, seq: number, base: number, scale: number): { cos: tf.Tensor; sin: tf.Tensor } {
  const cos = new Float32Array(seq * dims.d);
  const sin = new Float32Array(seq * dims.d);
  for (let t = 0; t < seq; t++) {
    for (let c = 0; c < dims.d; c++) {
      const pair = (c % dims.headDim) >> 1;
      const angle = t * Math.pow(base, (-2 * pair) / dims.headDim);
      cos[t * dims.d + c] = Math.cos(angle) * scale;
      sin[t * dims.d + c] = Math.sin(angle) * scale;
    }
  }
  return { cos: tf.tensor2d(cos, [seq, dims.d]), sin: tf.tensor2d(sin, [seq, dims.d]) };
}

/** Additive causal mask [seq, seq]: 0 where key ≤ query, −1e9 above the diagonal. */
function causalMask(seq: number): tf.Tensor {
  const m = new Float32Array(seq * seq);
  for (let q = 0; q < seq; q++) for (let k = q + 1; k < seq; k++) m[q * seq + k] = -1e9;
  return tf.tensor2d(m, [seq, seq]);
}

/** [[0, 1], [−1, 0]]: a row (x0, x1) times it is (−x1, x0). */
let swapMatrix: tf.Tensor | null = null;

/**
 * Every pair (x0, x1) along the last axis of [N, C] replaced by (−x1, x0), as one [N·C/2, 2]·[2, 2]
 * matmul (column slices are slow on wasm). The map is antisymmetric, so its backward is −swap.
 */
const swapPairs = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as tf.Tensor;
  swapMatrix ??= tf.keep(tf.tensor2d([[0, 1], [-1, 0]]));
  const swap = (t: tf.Tensor): tf.Tensor => tf.reshape(tf.matMul(tf.reshape(t, [-1, 2]), swapMatrix!), t.shape);
  return { value: swap(x), gradFunc: (dy: tf.Tensor) => tf.neg(swap(dy)) };
}) as (x: tf.Tensor) => tf.Tensor;

interface Batch {
  readonly batch: number;
  readonly seq: number;
  readonly cos: tf.Tensor; // [seq, D], scaled by 1/√headDim for q
  readonly sin: tf.Tensor;
  readonly kCos: tf.Tensor; // [seq, D], unscaled for k
  readonly kSin: tf.Tensor;
  readonly mask: tf.Tensor; // [seq, seq]
}

/** [N, D] → [batch·heads, seq, headDim] (with `keysLast`, [batch·heads, headDim, seq]). */
function splitHeads(x: tf.Tensor, b: Batch, dims: Dims, keysLast = false): tf.Tensor {
  const x4 = tf.reshape(x, [b.batch, b.seq, dims.heads, dims.headDim]);
  if (keysLast) return tf.reshape(tf.transpose(x4, [0, 2, 3, 1]), [b.batch * dims.heads, dims.headDim, b.seq]);
  return tf.reshape(tf.transpose(x4, [0, 2, 1, 3]), [b.batch * dims.heads, b.seq, dims.headDim]);
}

function attention(p: Params, l: number, h: tf.Tensor, b: Batch, dims: Dims): tf.Tensor {
  const { d } = dims;
  const project = (name: string): tf.Tensor => matMulFlagFree(h, tf.reshape(p[`layer${l}.${name}`], [d, d]));
  // (x0, x1) ↦ (x0·cos − x1·sin, x0·sin + x1·cos) is x·cos + swap(x)·sin, tables broadcast over batch.
  const rotate = (x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor =>
    tf.reshape(tf.add(tf.mul(tf.reshape(x, [b.batch, b.seq, d]), cos), tf.mul(tf.reshape(swapPairs(x), [b.batch, b.seq, d]), sin)), [-1, d]);
  const [qa, ka, v] = [project("wq"), project("wk"), project("wv")];
  const q = splitHeads(rotate(qa, b.cos, b.sin), b, dims);
  const kT = splitHeads(rotate(ka, b.kCos, b.kSin), b, dims, true);
  const scores = tf.add(matMulFlagFree(q, kT), b.mask); // [B·H, seq, kseq]
  const mixed = matMulFlagFree(tf.softmax(scores), splitHeads(v, b, dims)); // [B·H, seq, hd]
  const merged = tf.reshape(tf.transpose(tf.reshape(mixed, [b.batch, dims.heads, b.seq, dims.headDim]), [0, 2, 1, 3]), [-1, d]);
  return matMulFlagFree(merged, tf.reshape(p[`layer${l}.wo`], [d, d]));
}

function mlp(p: Params, l: number, h: tf.Tensor): tf.Tensor {
  const [a, g] = [matMulFlagFree(h, p[`layer${l}.w1`]), matMulFlagFree(h, p[`layer${l}.w3`])];
  return matMulFlagFree(tf.mul(tf.mul(a, tf.sigmoid(a)), g), p[`layer${l}.w2`]);
}

/** Next-token logits [batch·seq, vocab] for int32 tokens [batch, seq]. */
function logitsOf(config: GptConfig, p: Params, tokens: tf.Tensor, dims: Dims, b: Batch): tf.Tensor {
  const eps = config.normEps ?? 1e-5;
  const ids = tf.cast(tf.reshape(tokens, [-1]), "int32");
  let x = matMulFlagFree(tf.cast(tf.oneHot(ids, dims.vocab), "float32"), p.embed); // [N, D]
  for (let l = 0; l < config.layers; l++) {
    x = tf.add(x, attention(p, l, rmsNorm(x, p[`layer${l}.norm1`], eps), b, dims));
    x = tf.add(x, mlp(p, l, rmsNorm(x, p[`layer${l}.norm2`], eps)));
  }
  const h = rmsNorm(x, p.normF, eps);
  return matMulFlagFree(h, config.tiedHead ? tf.transpose(p.embed) : p.unembed);
}

/** Σ mask·(−log p(target)) / max(Σ mask, 1), or the plain mean without a mask. */
function maskedCrossEntropy(logits: tf.Tensor, targets: tf.Tensor, vocab: number, lossMask?: tf.Tensor): tf.Scalar {
  const picked = tf.cast(tf.oneHot(tf.cast(tf.reshape(targets, [-1]), "int32"), vocab), "float32");
  const nll = tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), picked), -1)); // [N]
  if (lossMask === undefined) return tf.mean(nll);
  const m = tf.reshape(lossMask, [-1]);
  return tf.div(tf.sum(tf.mul(nll, m)), tf.maximum(tf.sum(m), 1));
}

function batchOf(config: GptConfig, dims: Dims, tokens: tf.Tensor): Batch {
  const [batch, seq] = tokens.shape;
  if (seq > config.context) throw new Error(`tfjs twin: sequence length ${seq} exceeds the context ${config.context}`);
  const base = config.ropeBase ?? 10000;
  const q = ropeTables(dims, seq, base, 1 / Math.sqrt(dims.headDim));
  const k = ropeTables(dims, seq, base, 1);
  return { batch, seq, cos: q.cos, sin: q.sin, kCos: k.cos, kSin: k.sin, mask: causalMask(seq) };
}

/**
 * Mean masked next-token cross-entropy of the GPT in plain tfjs:
 * `tfjsGptLoss(config, initGpt(config, 0), tokens, targets)` with int32 [batch, seq] ids.
 */
export function tfjsGptLoss(config: GptConfig, params: Params, tokens: tf.Tensor, targets: tf.Tensor, lossMask?: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const dims = dimsOf(config, params);
    const logits = logitsOf(config, params, tokens, dims, batchOf(config, dims, tokens));
    return maskedCrossEntropy(logits, targets, dims.vocab, lossMask);
  });
}

/**
 * The loss and its gradient for every parameter, by tfjs's tape (needs `import "@tensorflow/tfjs"`
 * for the gradient registry): `const { loss, grads } = tfjsGptGrads(config, params, tokens, targets)`.
 * The caller owns (and disposes) the returned tensors.
 */
export function tfjsGptGrads(
  config: GptConfig, params: Params, tokens: tf.Tensor, targets: tf.Tensor, lossMask?: tf.Tensor,
): { loss: tf.Scalar; grads: Params } {
  const names = Object.keys(params);
  const dims = dimsOf(config, params);
  const b = batchOf(config, dims, tokens);
  try {
    const f = (...xs: tf.Tensor[]): tf.Scalar => {
      const p: Params = Object.fromEntries(names.map((n, i) => [n, xs[i]]));
      return maskedCrossEntropy(logitsOf(config, p, tokens, dims, b), targets, dims.vocab, lossMask);
    };
    const { value, grads } = tf.valueAndGrads(f)(names.map((n) => params[n]));
    return { loss: value, grads: Object.fromEntries(names.map((n, i) => [n, grads[i]])) };
  } finally {
    for (const t of [b.cos, b.sin, b.kCos, b.kSin, b.mask]) t.dispose();
  }
}
