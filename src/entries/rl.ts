/**
 * `ricci/rl`: the post-training algorithms on a GPT policy — rollouts and their packing,
 * policy log-probs, the reward model, PPO, GRPO, DPO and TRPO, held-out scoring.
 */
export {
  ppoTrainer, ppoObjective, ppoAdvantages, ppoRollout, ruleRewardFunction, initValueFromPolicy,
  type RewardFunction, type PpoTrainerOptions, type PpoRollout, type PpoAdvantages,
} from "../rl/ppo.js";
export { trpoTrainer, trpoKernels, trpoStep, conjugateGradient, lineSearch, groupBaseline, type TrpoTrainerOptions, type TrpoStepInfo } from "../rl/trpo.js";
export { grpoTrainer, grpoRollout, grpoObjective, groupAdvantages, type GrpoTrainer, type GrpoTrainerOptions, type GrpoRollout, type GrpoObjective } from "../rl/grpo.js";
export {
  packPreferencePairs, encodeResponse, pairSelection, splitPairs, rewardModelConfig, rewardModelFromPolicy, lastTokenScores,
  rewardModelGraph, rewardModelObjective, pairwiseReport, scoreResponses,
  type PackedPairs, type PairSelection, type RewardModelGraph, type RewardModelOptions, type RewardModelObjective, type PairwiseReport,
} from "../rl/rewardModel.js";
export {
  pairLogProbGraph, pairLogProbs, dpoObjective, preferenceReport,
  type PairLogProbGraph, type PairLogProbs, type DpoObjective, type PreferenceReport,
} from "../rl/dpo.js";
export {
  packSequences, packedLength, groupSequences, toGrouped, fromGrouped, responsesOf, type PackedSequences, type GroupedSequences,
} from "../rl/sequences.js";
export { policyGraph, groupedPolicyGraph, scoreLogprobs, type PolicyGraph } from "../rl/policy.js";
export { samplePreferencePairs, pairsFromSamples, arithmeticVerifier, type Verifier, type SampledPairs, type SamplePairsOptions } from "../rl/sampledPreferences.js";
export { heldOutScore, exactMatch, passAtK, type HeldOutScore, type AccuracyReport } from "../rl/evaluate.js";
export {
  digitTask, digitShare, digitShareReward, digitShareRewardFunction, heldOutDigitShare, rise, digitPairs, sampleResponses, DIGIT_RESPONSE_TOKENS,
  type DigitTask, type Direction, type SampledMean,
} from "../rl/digitTask.js";
