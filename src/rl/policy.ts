/**
 * A GPT as a policy over response tokens: per-token log-probabilities of the chosen tokens,
 * as DSL expressions (for losses and their gradients) and as a compiled forward pass (for the
 * old policy's and the frozen reference's log-probs, which carry no gradient).
 */
import { variable } from "../dsl/build.js";
import { RicciError } from "../errors.js";
import type { Expr, Variable } from "../dsl/expr.js";
import { tokenLogProbs } from "../losses/crossEntropy.js";
import { type Compiled, compile } from "../lower/compile.js";
import { type GptConfig, type GptParams, gptConstants, gptData, gptForward, gptParams, ropeTables } from "../nn/gpt.js";
import { sharedPrefixData, sharedPrefixForward } from "../nn/sharedPrefix.js";
import type { Params } from "../nn/params.js";
import type { Rollout } from "../sample/generate.js";
import { type GroupedSequences, type PackedSequences, samplerLogprobs } from "./sequences.js";

/** A policy's expressions over batches of kind `B` (packed rows, or groups sharing a prompt). */
export interface PolicyGraph<B = PackedSequences> {
  readonly config: GptConfig;
  readonly params: GptParams;
  readonly parameters: readonly Variable[];
  /** Next-token logits {batch, seq, vocab} (grouped: {group, sample, seq, vocab}). */
  readonly logits: Expr;
  /** log π(target_t | tokens_≤t) {batch, seq} (grouped: {group, sample, seq}). */
  readonly logp: Expr;
  readonly targets: Variable;
  readonly mask: Variable; // like logp: 1 on response tokens
  /** Data inputs of a batch (tokens, targets, mask, attention masks, RoPE tables). */
  inputs(batch: B): Record<string, Int32Array | Float32Array | Float64Array>;
}

/**
 * The policy's expressions for batches of `batch` packed sequences of `seq` positions (default
 * the model's context; a rollout is scored at its longest row, `packedLength`, since nothing
 * after that row's end reaches the loss).
 */
export function policyGraph(config: GptConfig, batch: number, seq: number = config.context): PolicyGraph {
  if (!(Number.isInteger(seq) && seq >= 1 && seq <= config.context)) {
    throw new RicciError(`policyGraph: seq must be an integer in 1…${config.context} (the model's context), got ${seq}`);
  }
  const params = gptParams(config);
  const data = gptData(config, batch, seq);
  const logits = gptForward(config, params, data);
  const targets = variable("targets", { batch, seq });
  const mask = variable("responseMask", { batch, seq });
  const constants = gptConstants(config, seq);
  return policyOf(config, params, logits, targets, mask, (b: PackedSequences) => ({ ...constants, tokens: b.tokens, targets: b.targets, responseMask: b.responseMask }));
}

/** The record both layouts share: the policy's log-probs of `targets` under `logits`, and its data inputs. */
function policyOf<B>(config: GptConfig, params: GptParams, logits: Expr, targets: Variable, mask: Variable, inputs: PolicyGraph<B>["inputs"]): PolicyGraph<B> {
  return { config, params, parameters: Object.values(params), logits, logp: tokenLogProbs(logits, targets), targets, mask, inputs };
}

/**
 * The policy over groups of completions that share their prompt (GRPO's rollouts), with the
 * prompt computed once per group (src/nn/sharedPrefix.ts): `groupedPolicyGraph(config, grouped)`
 * for batches shaped like `grouped` (groups, samples, prefix and own lengths).
 */
export function groupedPolicyGraph(config: GptConfig, shape: Pick<GroupedSequences, "groups" | "samples" | "prefix" | "own">): PolicyGraph<GroupedSequences> {
  const { groups, samples, prefix, own } = shape;
  if (prefix + own > config.context) throw new RicciError(`groupedPolicyGraph: prefix ${prefix} + own ${own} positions exceed the model's context ${config.context}`);
  const params = gptParams(config);
  const data = sharedPrefixData(config, groups, samples, prefix, own);
  const logits = sharedPrefixForward(config, params, data);
  const targets = variable("targets", { group: groups, sample: samples, seq: own });
  const mask = variable("responseMask", { group: groups, sample: samples, seq: own });
  const before = ropeTables(config, 0, prefix);
  const after = ropeTables(config, prefix, own);
  const place = (from: number, count: number): Float32Array => {
    const out = new Float32Array(count * (prefix + own));
    for (let i = 0; i < count; i++) out[i * (prefix + own) + from + i] = 1;
    return out;
  };
  const constants = {
    [data.prefixCos.name]: before.cos, [data.prefixSin.name]: before.sin, [data.cos.name]: after.cos, [data.sin.name]: after.sin,
    [data.placePrefix.name]: place(0, prefix), [data.placeOwn.name]: place(prefix, own),
  };
  return policyOf(config, params, logits, targets, mask, (b: GroupedSequences) => {
      if (b.groups !== groups || b.samples !== samples || b.prefix !== prefix || b.own !== own) {
        throw new RicciError(`groupedPolicyGraph: a batch of ${b.groups}×${b.samples} (prefix ${b.prefix}, own ${b.own}) for a graph of ${groups}×${samples} (prefix ${prefix}, own ${own})`);
      }
      return {
        ...constants,
        [data.prefixTokens.name]: b.prefixTokens, [data.tokens.name]: b.tokens, [data.prefixMask.name]: b.prefixMask, [data.mask.name]: b.mask,
        targets: b.targets, responseMask: b.responseMask,
      };
  });
}

/** Per-token log-probs (laid out like `graph.logp`) of a batch under `params` (no gradient): a Float32Array. */
export function scoreLogprobs<B>(graph: PolicyGraph<B>, params: Params, batch: B): Float32Array {
  const run: Compiled<"logp"> = compile({ logp: graph.logp });
  const out = run.runSync({ ...graph.inputs(batch), ...params });
  const values = out.logp.dataSync() as Float32Array;
  out.logp.dispose();
  return values;
}

/**
 * The sampling policy's log-probs of a rollout's tokens, laid out like `packed` (0 off the
 * response). The sampler's own are of softmax(logits / T), the policy's only at T = 1; at any
 * other temperature the tokens are rescored at T = 1, so a PPO/GRPO ratio compares the policy
 * with itself. `rolloutLogprobs(graph, params, packed, prompts, rollout, 0.7)`.
 */
export function rolloutLogprobs(
  graph: PolicyGraph,
  params: Params,
  packed: PackedSequences,
  prompts: readonly (readonly number[])[],
  rollout: Rollout,
  temperature: number,
): Float32Array {
  return temperature === 1
    ? samplerLogprobs(prompts, rollout.logprobs, rollout.lengths, rollout.maxNewTokens, packed.context)
    : scoreLogprobs(graph, params, packed).map((x, i) => (packed.responseMask[i] === 1 ? x : 0));
}
