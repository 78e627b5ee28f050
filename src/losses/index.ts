/** Every loss of the post-training pipeline, written in the DSL. */
export { maskedMean, maskedSum } from "./masked.js";
export * from "./crossEntropy.js";
export * from "./rewardModel.js";
export * from "./gae.js";
export * from "./kl.js";
export * from "./ppo.js";
export * from "./grpo.js";
export * from "./dpo.js";
export * from "./trpo.js";
