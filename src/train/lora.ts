/**
 * Training through LoRA adapters (src/nn/lora.ts): a trainer whose gradients and optimizer cover
 * the adapters alone is wrapped so that, after every step, the merged weights are refreshed.
 * The loop then checkpoints two roles: "policy" (checkpoint.ckpt), the merged weights — an
 * ordinary GPT that later stages and evaluation load knowing nothing of LoRA — and "lora"
 * (lora.ckpt), the adapters with their optimizer state, which a rerun resumes from.
 */
import type { LoraModel } from "../nn/lora.js";
import { type FusedTrainerOptions, type Trainer, fusedTrainer } from "./trainer.js";

/**
 * `loraTrainer(gradientTrainer({ config, params: model.adapters, optimizer: adamW(model.adapters, …), microstep }), model)`:
 * `inner` trains `model.adapters` (its "policy" role); the result names the merged weights as
 * the policy and the adapters as "lora". Other roles (PPO's value model) pass through.
 */
export function loraTrainer(inner: Trainer, model: LoraModel): Trainer {
  const trained = inner.models.policy;
  if (trained === undefined || trained.params !== model.adapters) throw new Error("loraTrainer: the inner trainer's policy must be the LoRA model's adapters");
  return {
    models: {
      ...inner.models,
      policy: { config: model.config, params: model.merged },
      lora: { ...trained, lora: model.lora },
    },
    async step(step) {
      const metrics = await inner.step(step);
      model.merge();
      return metrics;
    },
  };
}

/**
 * The trainer of a fused-step stage (SFT, DPO) with or without adapters:
 * `fusedStageTrainer({ config, params, optimizer, batch }, lora)`. With `lora`, `params` must be
 * `lora.merged`; `optimizer` (built on the LoRA objective) trains the adapters, and every batch
 * gets the frozen base weights beside it.
 */
export function fusedStageTrainer(o: FusedTrainerOptions, lora: LoraModel | null): Trainer {
  if (lora === null) return fusedTrainer(o);
  if (o.params !== lora.merged) throw new Error("fusedStageTrainer: with LoRA, params must be the LoRA model's merged weights");
  return loraTrainer(fusedTrainer({ ...o, params: lora.adapters, batch: (step) => ({ ...o.batch(step), ...lora.base }) }), lora);
}
