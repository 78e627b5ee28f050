/**
 * A GPT as a policy over response tokens: per-token log-probabilities of the chosen tokens,
 * as DSL expressions (for losses and their gradients) and as a compiled forward pass (for the
 * old policy's and the frozen reference's log-probs, which carry no gradient).
 */
import { variable } from "../dsl/build.js";
import type { Expr, Variable } from "../dsl/expr.js";
import { tokenLogProbs } from "../losses/crossEntropy.js";
import { type Compiled, compile } from "../lower/compile.js";
import { type GptConfig, type GptParams, gptConstants, gptData, gptForward, gptParams } from "../nn/gpt.js";
import type { Params } from "../nn/params.js";
import type { Rollout } from "../sample/generate.js";
import { type PackedSequences, samplerLogprobs } from "./sequences.js";

export interface PolicyGraph {
  readonly config: GptConfig;
  readonly params: GptParams;
  readonly parameters: readonly Variable[];
  /** Next-token logits {batch, seq, vocab}. */
  readonly logits: Expr;
  /** log π(target_t | tokens_≤t) {batch, seq}. */
  readonly logp: Expr;
  readonly targets: Variable;
  readonly mask: Variable; // {batch, seq}: response tokens
  /** Data inputs of a packed batch (tokens, targets, mask, causal mask, RoPE tables). */
  inputs(batch: PackedSequences): Record<string, Int32Array | Float32Array | Float64Array>;
}

/** The policy's expressions for batches of `batch` packed sequences. */
export function policyGraph(config: GptConfig, batch: number): PolicyGraph {
  const seq = config.context;
  const params = gptParams(config);
  const data = gptData(config, batch, seq);
  const logits = gptForward(config, params, data);
  const targets = variable("targets", { batch, seq });
  const mask = variable("responseMask", { batch, seq });
  const constants = gptConstants(config, seq);
  return {
    config,
    params,
    parameters: Object.values(params),
    logits,
    logp: tokenLogProbs(logits, targets),
    targets,
    mask,
    inputs: (b) => ({ ...constants, tokens: b.tokens, targets: b.targets, responseMask: b.responseMask }),
  };
}

/** Per-token log-probs {batch, seq} of a packed batch under `params` (no gradient): a Float32Array. */
export function scoreLogprobs(graph: PolicyGraph, params: Params, batch: PackedSequences): Float32Array {
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
