/**
 * A GPT as a policy over response tokens: per-token log-probabilities of the chosen tokens,
 * as DSL expressions (for losses and their gradients) and as a compiled forward pass (for the
 * old policy's and the frozen reference's log-probs, which carry no gradient).
 *
 * Temperature (TRL's and verl's convention): a policy graph built for sampling temperature T
 * divides the logits by T before the softmax, so π_θ is the tempered policy softmax(logits/T)
 * the rollouts were drawn from. Its log-probs are then what the sampler recorded (the ratio
 * starts at 1 at any T), and the frozen reference scored through a graph of the same T is
 * tempered too (TRL divides the reference model's logits by the temperature as well), so the
 * KL compares like with like. At T = 1 the graph is the plain model (no extra node).
 */
import { scale, variable } from "../dsl/build.js";
import { RicciError } from "../errors.js";
import type { Expr, Variable } from "../dsl/expr.js";
import { entropyFromLogits, tokenLogProbs } from "../losses/crossEntropy.js";
import { type Compiled, compile } from "../lower/compile.js";
import { type GptConfig, type GptParams, gptConstants, gptData, gptForward, gptParams, ropeTables } from "../nn/gpt.js";
import { type LoraOptions, loraParams, withLora } from "../nn/lora.js";
import { sharedPrefixData, sharedPrefixForward } from "../nn/sharedPrefix.js";
import type { Params } from "../nn/params.js";
import type { Rollout } from "../sample/generate.js";
import { type GroupedSequences, type PackedSequences, samplerLogprobs } from "./sequences.js";

/** A policy's expressions over batches of kind `B` (packed rows, or groups sharing a prompt). */
export interface PolicyGraph<B = PackedSequences> {
  readonly config: GptConfig;
  /** The base model's variables by name (fed, never trained, under LoRA). */
  readonly params: Readonly<Record<string, Variable>>;
  /** The variables the gradient is taken for: the base's, or under LoRA the adapters' alone. */
  readonly parameters: readonly Variable[];
  /** The sampling temperature T the graph's policy is tempered at (1: the plain model). */
  readonly temperature: number;
  /** Next-token logits divided by T, {batch, seq, vocab} (grouped: {group, sample, seq, vocab}). */
  readonly logits: Expr;
  /** log π(target_t | tokens_≤t) under softmax(logits/T), {batch, seq} (grouped: {group, sample, seq}). */
  readonly logp: Expr;
  /** Entropy of softmax(logits/T) over the vocabulary at each position, laid out like logp. */
  readonly entropy: Expr;
  readonly targets: Variable;
  readonly mask: Variable; // like logp: 1 on response tokens
  /** Data inputs of a batch (tokens, targets, mask, attention masks, RoPE tables). */
  inputs(batch: B): Record<string, Int32Array | Float32Array | Float64Array>;
}

/** The weights the forward reads and the variables trained: the base's, or with `lora` W + s·A·B and the adapters. */
function trainedWeights(config: GptConfig, lora: LoraOptions | null): { params: Record<string, Variable>; weights: GptParams; parameters: Variable[] } {
  const params = gptParams(config);
  if (lora === null) return { params, weights: params, parameters: Object.values(params) };
  const adapters = loraParams(config, lora);
  return { params, weights: withLora(params, adapters, lora), parameters: Object.values(adapters) };
}

/**
 * The policy's expressions for batches of `batch` packed sequences of `seq` positions (default
 * the model's context; a rollout is scored at its longest row, `packedLength`, since nothing
 * after that row's end reaches the loss), tempered at `temperature` (default 1):
 * `policyGraph(config, 32, 18, 0.7).logp` is log softmax(logits/0.7) of the targets. With `lora`
 * the projections carry adapters (src/nn/lora.ts) and only those are `parameters`.
 */
export function policyGraph(config: GptConfig, batch: number, seq: number = config.context, temperature = 1, lora: LoraOptions | null = null): PolicyGraph {
  if (!(Number.isInteger(seq) && seq >= 1 && seq <= config.context)) {
    throw new RicciError(`policyGraph: seq must be an integer in 1…${config.context} (the model's context), got ${seq}`);
  }
  const { params, weights, parameters } = trainedWeights(config, lora);
  const data = gptData(config, batch, seq);
  const logits = gptForward(config, weights, data);
  const targets = variable("targets", { batch, seq });
  const mask = variable("responseMask", { batch, seq });
  const constants = gptConstants(config, seq);
  return policyOf(config, params, parameters, logits, temperature, targets, mask, (b: PackedSequences) => ({ ...constants, tokens: b.tokens, targets: b.targets, responseMask: b.responseMask }));
}

/** The record both layouts share: the policy's log-probs of `targets` under softmax(logits/T), and its data inputs. */
function policyOf<B>(
  config: GptConfig, params: Record<string, Variable>, parameters: readonly Variable[], raw: Expr, temperature: number, targets: Variable, mask: Variable, inputs: PolicyGraph<B>["inputs"],
): PolicyGraph<B> {
  if (!(temperature > 0 && Number.isFinite(temperature))) throw new RicciError(`policyGraph: temperature must be a positive number, got ${temperature}`);
  const logits = temperature === 1 ? raw : scale(raw, 1 / temperature);
  return {
    config, params, parameters, temperature, logits, logp: tokenLogProbs(logits, targets), entropy: entropyFromLogits(logits), targets, mask, inputs,
  };
}

/**
 * The policy over groups of completions that share their prompt (GRPO's rollouts), with the
 * prompt computed once per group (src/nn/sharedPrefix.ts): `groupedPolicyGraph(config, grouped)`
 * for batches shaped like `grouped` (groups, samples, prefix and own lengths), tempered at
 * `temperature` (default 1) and with LoRA adapters (`lora`) as `policyGraph` is.
 */
export function groupedPolicyGraph(
  config: GptConfig, shape: Pick<GroupedSequences, "groups" | "samples" | "prefix" | "own">, temperature = 1, lora: LoraOptions | null = null,
): PolicyGraph<GroupedSequences> {
  const { groups, samples, prefix, own } = shape;
  if (prefix + own > config.context) throw new RicciError(`groupedPolicyGraph: prefix ${prefix} + own ${own} positions exceed the model's context ${config.context}`);
  const { params, weights, parameters } = trainedWeights(config, lora);
  const data = sharedPrefixData(config, groups, samples, prefix, own);
  const logits = sharedPrefixForward(config, weights, data);
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
  return policyOf(config, params, parameters, logits, temperature, targets, mask, (b: GroupedSequences) => {
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
 * response): the sampler's own, of softmax(logits/T), which are the old log-probs for a policy
 * graph built at the same T (the convention above; before it, samples drawn at T ≠ 1 were
 * rescored at T = 1). `rolloutLogprobs(packed, prompts, rollout)`.
 */
export function rolloutLogprobs(packed: PackedSequences, prompts: readonly (readonly number[])[], rollout: Rollout): Float32Array {
  return samplerLogprobs(prompts, rollout.logprobs, rollout.lengths, rollout.maxNewTokens, packed.context);
}
