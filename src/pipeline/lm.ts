/** The language-modelling objective of a GPT (pretraining and SFT): masked next-token cross-entropy. */
import { variable } from "../dsl/build.js";
import type { Variable } from "../dsl/expr.js";
import { crossEntropy } from "../losses/crossEntropy.js";
import { type GptConfig, gptConstants, gptData, gptForward, gptParams } from "../nn/gpt.js";
import { type LoraOptions, loraParams, withLora } from "../nn/lora.js";
import type { Params } from "../nn/params.js";
import { type Objective, objective } from "../train/objective.js";

export interface LmBatch {
  readonly tokens: Int32Array;
  readonly targets: Int32Array;
  /** 1 where the target counts; all ones when absent. */
  readonly lossMask?: Float32Array;
}

export interface LmObjective {
  /** Loss and parameter gradients for one batch. */
  readonly objective: Objective;
  /** The data inputs of a batch, ready for `objective.run(params, inputs(batch))`. */
  inputs(batch: LmBatch): Record<string, Int32Array | Float32Array | Float64Array>;
  readonly parameters: readonly Variable[];
}

/**
 * `lmObjective(config, 32)`: cross-entropy of a GPT over [batch, context] windows, with a loss
 * mask. With `lora` (src/nn/lora.ts) the projections carry adapters and the gradient is taken for
 * the adapters alone; the base weights are then fed beside them, as data.
 */
export function lmObjective(config: GptConfig, batch: number, lora: LoraOptions | null = null): LmObjective {
  const seq = config.context;
  const data = gptData(config, batch, seq);
  const vars = gptParams(config);
  const adapters = lora === null ? null : loraParams(config, lora);
  const weights = adapters === null || lora === null ? vars : withLora(vars, adapters, lora);
  const parameters = Object.values(adapters ?? vars);
  const targets = variable("targets", { batch, seq });
  const lossMask = variable("lossMask", { batch, seq });
  const loss = crossEntropy({ logits: gptForward(config, weights, data), targets, mask: lossMask });
  const constants = gptConstants(config, seq);
  const ones = new Float32Array(batch * seq).fill(1);
  return {
    objective: objective(loss, parameters),
    parameters,
    inputs: (b) => ({ ...constants, tokens: b.tokens, targets: b.targets, lossMask: b.lossMask ?? ones }),
  };
}

/** Mean loss over batches (each a forward pass). */
export function meanLoss(lm: LmObjective, params: Params, batches: readonly LmBatch[]): number {
  let total = 0;
  for (const b of batches) total += lm.objective.evaluate(params, lm.inputs(b)).loss;
  return total / batches.length;
}
