/**
 * Training through LoRA adapters (src/nn/lora.ts): a trainer whose gradients and optimizer cover
 * the adapters alone is wrapped so that, after every step, the merged weights are refreshed.
 * The loop then checkpoints two roles: "policy" (checkpoint.ckpt), the merged weights — an
 * ordinary GPT that later stages and evaluation load knowing nothing of LoRA — and "lora"
 * (lora.ckpt), the adapters with their optimizer state, which a rerun resumes from.
 */
import type { LoraModel } from "../nn/lora.js";
import type { Trainer } from "./trainer.js";

/**
 * `loraTrainer(gradientTrainer({ config, params: model.adapters, optimizer: adamW(model.adapters, …), microstep }), model)`:
 * `inner` trains `model.adapters` (its "policy" role); the result names the merged weights as
 * the policy and the adapters as "lora".
 */
export function loraTrainer(inner: Trainer, model: LoraModel): Trainer {
  const trained = inner.models.policy;
  if (trained === undefined || trained.params !== model.adapters) throw new Error("loraTrainer: the inner trainer's policy must be the LoRA model's adapters");
  return {
    models: {
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
