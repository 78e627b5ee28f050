/**
 * ricci: named-edge tensor diagrams with symbolic autodiff, lowered to ONNX Runtime or TensorFlow.js.
 *
 *   const W = variable("W", { in: 4, out: 3 });
 *   const x = variable("x", { batch: 8, in: 4 });
 *   const loss = mean(logsumexp(dot(x, W), "out"));
 *   const dW = grad(loss, W);              // an expression with W's edges
 */
export { RicciError } from "./dsl/errors.js";
export type { Edge, EdgeSizes } from "./dsl/edges.js";
export type {
  Expr, Variable, Constant, Delta, OneHot, Product, Sum, Elementwise, EdgeFunction, Rename, StopGradient, Kind,
  EdgeFunctionName,
} from "./dsl/expr.js";
export { topologicalOrder, variablesOf } from "./dsl/expr.js";
export {
  type Operand,
  variable, constant, zeros, ones, delta, oneHot, gather,
  einsum, dot, mul, transpose, linear, add, sub, scale, neg, sum, mean, rename,
  apply, exp, log, sigmoid, softplus, tanh, relu, abs, sign, step, pow, sqrt, square, div,
  minimum, maximum, greater, greaterEqual, less, lessEqual, clip, where,
  softmax, logSoftmax, logsumexp, max, stopGradient,
} from "./dsl/build.js";
export { fn } from "./dsl/userfn.js";
export type { InputValue, NestedArray, TensorLike } from "./dsl/values.js";
export { grad, valueAndGrad, vjp, jvp, hvp, type Wrt, type GradOf } from "./autodiff/transforms.js";
export { evaluate, evaluateAll, type Inputs, type Value64, type EvaluateOptions } from "./reference/evaluate.js";

import type { Expr } from "./dsl/expr.js";
/** The edge names of an expression, in the axis order of its value. */
export function edgesOf(e: Expr): string[] {
  return e.edges.map((d) => d.name);
}
export { compile, type Compiled, type CompileOptions, type TensorInputs, type ArrayOutput } from "./lower/compile.js";
export { tf, initBackend, activeBackend, describeBackend, BACKENDS, type BackendName } from "./lower/backend.js";
export { exportOnnx, type ExportOptions, type ExportedModel } from "./lower/onnx/export.js";
export * from "./losses/index.js";
export { simplify, equal } from "./simplify/simplify.js";
export { toText } from "./print/text.js";
export { toLatex } from "./print/latex.js";
export { toSvg, type SvgOptions } from "./print/svg.js";
export * from "./train/index.js";
export * from "./data/index.js";
export * from "./viz/index.js";
/** Alias of `variable`: a named-edge input tensor, `tensor("x", { batch: 8, in: 4 })`. */
export { variable as tensor } from "./dsl/build.js";
export {
  ppoTrainer, ppoObjective, ppoAdvantages, ppoRollout, ruleRewardFunction, initValueFromPolicy,
  type RewardFunction, type PpoTrainerOptions, type PpoRollout, type PpoAdvantages,
} from "./rl/ppo.js";
export { trpoTrainer, trpoKernels, trpoStep, conjugateGradient, lineSearch, groupBaseline, type TrpoTrainerOptions, type TrpoStepInfo } from "./rl/trpo.js";
export { grpoTrainer, grpoRollout, grpoObjective, groupAdvantages, type GrpoTrainer, type GrpoTrainerOptions, type GrpoRollout, type GrpoObjective } from "./rl/grpo.js";
export {
  packPreferencePairs, encodeResponse, pairSelection, splitPairs, rewardModelConfig, rewardModelFromPolicy, lastTokenScores,
  rewardModelGraph, rewardModelObjective, pairwiseReport, scoreResponses,
  type PackedPairs, type PairSelection, type RewardModelGraph, type RewardModelOptions, type RewardModelObjective, type PairwiseReport,
} from "./rl/rewardModel.js";
export {
  pairLogProbGraph, pairLogProbs, dpoObjective, preferenceReport,
  type PairLogProbGraph, type PairLogProbs, type DpoObjective, type PreferenceReport,
} from "./rl/dpo.js";
export { makeRng, normals, shuffled, subSeed } from "./util/random.js";
export { type GptConfig, type GptParams, type GptData, gptParams, gptData, gptForward, gptTrunk, gptHead, gptConstants, rmsNorm, rope } from "./nn/gpt.js";
export { type Params, initGpt, countParams, copyParams, disposeParams } from "./nn/params.js";
export { exportGpt, type GptExportOptions } from "./nn/export.js";
export { generate, type GenerateOptions, type Rollout } from "./sample/generate.js";
export { chooseToken, type SamplingOptions } from "./sample/logits.js";
export { packSequences, responsesOf, type PackedSequences } from "./rl/sequences.js";
export { policyGraph, scoreLogprobs, type PolicyGraph } from "./rl/policy.js";
export { heldOutScore, type HeldOutScore } from "./rl/evaluate.js";
export { SIZES, type RunSize } from "./pipeline/sizes.js";
export { pretrain, type PretrainSummary, type StageOptions } from "./pipeline/pretrain.js";
export { sft, evalProblems, type SftSummary } from "./pipeline/sft.js";
export { exactMatch, type AccuracyReport } from "./pipeline/accuracy.js";
export { lmObjective, type LmObjective } from "./pipeline/lm.js";
export { pipeline, PIPELINE } from "./pipeline/run.js";
export { stageDir } from "./pipeline/stage.js";
export { rewardModel } from "./pipeline/rm.js";
export { ppo } from "./pipeline/ppo.js";
export { grpo } from "./pipeline/grpo.js";
export { dpo } from "./pipeline/dpo.js";
export { trpo } from "./pipeline/trpo.js";
