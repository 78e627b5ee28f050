/**
 * `ricci/nn`: the model and what feeds it — the GPT in the DSL (and over groups sharing a
 * prompt), parameters, ONNX export, the tokenizer and datasets, sampling, seeded randomness.
 */
export {
  type GptConfig, type GptParams, type GptData, gptParams, gptData, gptForward, gptTrunk, gptHead, gptConstants, rmsNorm, rope,
} from "../nn/gpt.js";
export { type Params, initGpt, countParams, copyParams, disposeParams } from "../nn/params.js";
export { exportGpt, type GptExportOptions } from "../nn/export.js";
export { type SharedPrefixData, sharedPrefixData, sharedPrefixForward, sharedPrefixTrunk } from "../nn/sharedPrefix.js";
export * from "../data/index.js";
export { generate, type GenerateOptions, type Rollout } from "../sample/generate.js";
export { chooseToken, type SamplingOptions } from "../sample/logits.js";
export { makeRng, normals, shuffled, subSeed } from "../util/random.js";
