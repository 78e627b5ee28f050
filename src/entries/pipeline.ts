/**
 * `ricci/pipeline`: the stages (pretrain → SFT → reward model → PPO, GRPO, DPO, TRPO), the run
 * sizes, the whole pipeline and its report.
 */
export { SIZES, type RunSize } from "../pipeline/sizes.js";
export { evalProblems, stageDir, type StageOptions } from "../pipeline/stage.js";
export { lmObjective, type LmObjective } from "../pipeline/lm.js";
export { pretrain, type PretrainSummary } from "../pipeline/pretrain.js";
export { sft, type SftSummary } from "../pipeline/sft.js";
export { rewardModel } from "../pipeline/rm.js";
export { stagePairs, pairsPath, PAIR_SETTINGS, type PairLabels, type PairSettings, type StagePairs } from "../pipeline/pairs.js";
export { ppo } from "../pipeline/ppo.js";
export { grpo } from "../pipeline/grpo.js";
export { dpo } from "../pipeline/dpo.js";
export { trpo } from "../pipeline/trpo.js";
export { pipeline, PIPELINE } from "../pipeline/run.js";
