/**
 * Prompt + response token sequences packed for scoring and training: left-aligned rows of
 * [BOS, prompt…, response…], next-token targets, and a mask that is 1 exactly where the
 * target is a response token (the tokens the policy chose).
 */
import { RicciError } from "../errors.js";
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

/**
 * The positions a packed batch needs: its longest prompt + response (at most `context`). Scoring
 * at this length instead of the model's context computes the same log-probs of every row (causal
 * attention never looks right) on fewer positions: `packSequences(p, r, packedLength(p, r, 24), PAD)`.
 */
export function packedLength(prompts: readonly (readonly number[])[], responses: readonly (readonly number[])[], context: number): number {
  const longest = Math.max(1, ...prompts.map((p, r) => p.length + (responses[r]?.length ?? 0)));
  if (longest > context) throw new RicciError(`packedLength: a row has ${longest} tokens, more than context ${context}`);
  return longest;
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

/**
 * Groups of completions of one prompt each, laid out for `sharedPrefixForward` (src/nn/sharedPrefix.ts):
 * every prompt but its last token is the group's shared prefix (left-padded to `prefix`); each
 * member's own positions are that last token and its response but the final token (right-padded
 * to `own`), so its targets are exactly the response. Member r = group·samples + sample.
 */
export interface GroupedSequences {
  readonly groups: number;
  readonly samples: number;
  readonly prefix: number;
  readonly own: number;
  readonly prefixTokens: Int32Array; // [group, prefix]
  readonly tokens: Int32Array; // [group, sample, own]
  readonly targets: Int32Array; // [group, sample, own]
  /** 1 where the target is a response token. */
  readonly responseMask: Float32Array; // [group, sample, own]
  /** Additive masks (0 / −1e9): the prefix's causal+padding mask [group, prefix, prefix], the members' [group, own, prefix + own]. */
  readonly prefixMask: Float32Array;
  readonly mask: Float32Array;
  /** Index of each member position's target in the packed layout of the same rows at `packedContext` (−1: none). */
  readonly packedIndex: Int32Array;
}

const MASKED = -1e9;

/**
 * `groupSequences(prompts, responses, 8, 24, PAD)`: `prompts` has one prompt per group, `responses`
 * one response per member (group-major). `packedContext` names the packed layout that
 * `toGrouped` reads (left-aligned rows as `packSequences` makes them).
 */
export function groupSequences(
  prompts: readonly (readonly number[])[],
  responses: readonly (readonly number[])[],
  samples: number,
  packedContext: number,
  pad: number,
): GroupedSequences {
  const groups = prompts.length;
  if (responses.length !== groups * samples) throw new RicciError(`groupSequences: ${responses.length} responses for ${groups} prompts × ${samples} samples`);
  if (prompts.some((p) => p.length === 0)) throw new RicciError("groupSequences: every prompt needs at least one token");
  if (responses.some((r) => r.length === 0)) throw new RicciError("groupSequences: every response needs at least one token");
  const prefix = Math.max(1, ...prompts.map((p) => p.length - 1));
  const own = Math.max(...responses.map((r) => r.length));
  const keys = prefix + own;
  const prefixTokens = new Int32Array(groups * prefix).fill(pad);
  const prefixMask = new Float32Array(groups * prefix * prefix).fill(MASKED);
  const mask = new Float32Array(groups * own * keys).fill(MASKED);
  const members = groups * samples * own;
  const tokens = new Int32Array(members).fill(pad);
  const targets = new Int32Array(members).fill(pad);
  const responseMask = new Float32Array(members);
  const packedIndex = new Int32Array(members).fill(-1);
  prompts.forEach((prompt, g) => {
    const start = prefix - (prompt.length - 1); // first real prefix position
    prefixTokens.set(prompt.slice(0, -1), g * prefix + start);
    for (let q = 0; q < prefix; q++) prefixMask.fill(0, (g * prefix + q) * prefix + start, (g * prefix + q) * prefix + q + 1);
    for (let q = 0; q < own; q++) {
      const row = (g * own + q) * keys;
      mask.fill(0, row + start, row + prefix + q + 1);
    }
    for (let s = 0; s < samples; s++) {
      const r = g * samples + s;
      const response = responses[r];
      const base = r * own;
      tokens[base] = prompt[prompt.length - 1];
      response.forEach((id, j) => {
        if (j + 1 < own) tokens[base + j + 1] = id;
        targets[base + j] = id;
        responseMask[base + j] = 1;
        const at = prompt.length - 1 + j;
        if (at < packedContext) packedIndex[base + j] = r * packedContext + at;
      });
    }
  });
  return { groups, samples, prefix, own, prefixTokens, tokens, targets, responseMask, prefixMask, mask, packedIndex };
}

/** Values laid out like the packed rows (e.g. log-probs {batch, seq}) at the grouped member positions (0 where none). */
export function toGrouped(grouped: GroupedSequences, packed: ArrayLike<number>): Float32Array {
  return Float32Array.from(grouped.packedIndex, (i) => (i < 0 ? 0 : packed[i]));
}

/** The inverse of `toGrouped`: grouped values written into a packed layout of `length` values (0 elsewhere). */
export function fromGrouped(grouped: GroupedSequences, values: ArrayLike<number>, length: number): Float32Array {
  const out = new Float32Array(length);
  grouped.packedIndex.forEach((i, m) => {
    if (i >= 0 && grouped.responseMask[m] === 1) out[i] = values[m];
  });
  return out;
}
