/**
 * Choosing the next token from logits, row by row in plain JS (vocab is small): temperature,
 * top-k, top-p (nucleus) and min-p filtering, then a seeded categorical draw.
 */

export interface SamplingOptions {
  /** 0 means greedy (argmax). Default 1. */
  readonly temperature?: number;
  /** Keep the k most likely tokens (0: off). */
  readonly topK?: number;
  /** Keep the smallest set of tokens whose probability sums to ≥ p (1: off). */
  readonly topP?: number;
  /** Keep tokens with probability ≥ minP · p_max (0: off). */
  readonly minP?: number;
}

/** log softmax of a row, in float64. */
export function logSoftmaxRow(row: ArrayLike<number>, temperature = 1): Float64Array {
  const t = temperature > 0 ? temperature : 1;
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i] / t);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i] / t - m);
  const lse = m + Math.log(s);
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i] / t - lse;
  return out;
}

/**
 * The next token of one row and its log-probability under the policy softmax(logits / T)
 * (the convention RL trainers use; filtering only restricts which tokens can be drawn).
 */
export function chooseToken(row: ArrayLike<number>, options: SamplingOptions, rng: () => number): { token: number; logprob: number } {
  const temperature = options.temperature ?? 1;
  const logp = logSoftmaxRow(row, temperature);
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < logp.length; i++) if (logp[i] > logp[best]) best = i;
    return { token: best, logprob: logp[best] };
  }
  const order = Array.from(logp.keys()).sort((a, b) => logp[b] - logp[a]);
  let keep = order.length;
  if ((options.topK ?? 0) > 0) keep = Math.min(keep, options.topK!);
  const probs = order.map((i) => Math.exp(logp[i]));
  if ((options.topP ?? 1) < 1) {
    let cumulative = 0;
    for (let r = 0; r < keep; r++) {
      cumulative += probs[r];
      if (cumulative >= options.topP!) {
        keep = r + 1;
        break;
      }
    }
  }
  if ((options.minP ?? 0) > 0) {
    const threshold = options.minP! * probs[0];
    let r = 1;
    while (r < keep && probs[r] >= threshold) r++;
    keep = r;
  }
  let total = 0;
  for (let r = 0; r < keep; r++) total += probs[r];
  let u = rng() * total;
  for (let r = 0; r < keep; r++) {
    u -= probs[r];
    if (u <= 0) return { token: order[r], logprob: logp[order[r]] };
  }
  return { token: order[keep - 1], logprob: logp[order[keep - 1]] };
}
