/**
 * Prompt + response token sequences packed for scoring and training: left-aligned rows of
 * [BOS, prompt…, response…], next-token targets, and a mask that is 1 exactly where the
 * target is a response token (the tokens the policy chose).
 */
import { RicciError } from "../dsl/errors.js";
import type { Rollout } from "../sample/generate.js";

export interface PackedSequences {
  readonly tokens: Int32Array; // [batch, context]
  readonly targets: Int32Array; // tokens shifted by one
  /** 1 where targets[t] is a response token. */
  readonly responseMask: Float32Array;
  /** Position of each row's last real token (where a scalar head reads its score). */
  readonly lastIndex: Int32Array;
  readonly batch: number;
  readonly context: number;
}

/** Packs `prompts[r]` followed by `responses[r]`: `packSequences(prompts, responses, 24, PAD_ID)`. */
export function packSequences(prompts: readonly (readonly number[])[], responses: readonly (readonly number[])[], context: number, pad: number): PackedSequences {
  if (prompts.length !== responses.length) throw new RicciError(`packSequences: ${prompts.length} prompts but ${responses.length} responses`);
  const batch = prompts.length;
  const tokens = new Int32Array(batch * context).fill(pad);
  const targets = new Int32Array(batch * context).fill(pad);
  const responseMask = new Float32Array(batch * context);
  const lastIndex = new Int32Array(batch);
  prompts.forEach((prompt, r) => {
    const ids = [...prompt, ...responses[r]];
    if (ids.length > context) throw new RicciError(`packSequences: row ${r} has ${ids.length} tokens, more than context ${context}`);
    const base = r * context;
    ids.forEach((id, t) => {
      tokens[base + t] = id;
      if (t + 1 < ids.length) {
        targets[base + t] = ids[t + 1];
        if (t + 1 >= prompt.length) responseMask[base + t] = 1;
      }
    });
    lastIndex[r] = ids.length - 1;
  });
  return { tokens, targets, responseMask, lastIndex, batch, context };
}

/** The generated tokens of each row of a rollout (up to and including its stop token). */
export function responsesOf(rollout: Rollout): number[][] {
  return Array.from({ length: rollout.batch }, (_, r) =>
    Array.from(rollout.tokens.subarray(r * rollout.maxNewTokens, r * rollout.maxNewTokens + rollout.lengths[r])),
  );
}

/** The sampler's per-token log-probs laid out like `packed` (response token j of row r is the target at prompt length − 1 + j). */
export function samplerLogprobs(prompts: readonly (readonly number[])[], logprobs: Float32Array, lengths: readonly number[], maxNewTokens: number, context: number): Float32Array {
  const out = new Float32Array(prompts.length * context);
  prompts.forEach((prompt, r) => {
    const offset = r * context + prompt.length - 1;
    for (let j = 0; j < lengths[r]; j++) out[offset + j] = logprobs[r * maxNewTokens + j];
  });
  return out;
}

/** The rows `rows` of a packed batch, in that order: `selectRows(packed, [0, 4, 8])`. */
export function selectRows(packed: PackedSequences, rows: readonly number[]): PackedSequences {
  const c = packed.context;
  const take = <T extends Int32Array | Float32Array>(a: T, make: (n: number) => T): T => {
    const out = make(rows.length * c);
    rows.forEach((r, i) => {
      if (!(r >= 0 && r < packed.batch)) throw new RicciError(`selectRows: row ${r} of a batch of ${packed.batch}`);
      out.set(a.subarray(r * c, (r + 1) * c), i * c);
    });
    return out;
  };
  return {
    tokens: take(packed.tokens, (n) => new Int32Array(n)),
    targets: take(packed.targets, (n) => new Int32Array(n)),
    responseMask: take(packed.responseMask, (n) => new Float32Array(n)),
    lastIndex: Int32Array.from(rows, (r) => packed.lastIndex[r]),
    batch: rows.length,
    context: c,
  };
}
