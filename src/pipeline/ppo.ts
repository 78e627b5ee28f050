/**
 * PPO stage: RL from the SFT checkpoint with a value model and a reward (src/rl/ppo.ts). The
 * reward is the task's rule reward ("rule") by default; "model" uses the trained reward model of
 * runs/<size>/rm (`npm run ppo -- --reward model`); the rule reward stays the default as the
 * exact signal (README, "How the settings were chosen": a scalar-head reward model was hacked).
 * `npm run ppo -- --size ci`
 * writes runs/<size>/ppo/{checkpoint.ckpt (policy), value.ckpt (value model), metrics.jsonl,
 * summary.json}; a rerun resumes from the last checkpoint pair.
 *
 * One step of this stage is one PPO iteration (a rollout batch and its epochs × minibatches
 * updates), TRL's unit of logging.
 */
import { type ArithmeticProblem, encodePrompt } from "../data/arithmetic.js";
import { type Tokenizer, charTokenizer } from "../data/tokenizer.js";
import type { GptConfig } from "../nn/gpt.js";
import { disposeParams } from "../nn/params.js";
import { REWARD_HEADS, rewardModelConfig, scoreResponses } from "../rl/rewardModel.js";
import { type PpoTrainerOptions, type RewardFunction, initValueFromPolicy, ppoTrainer, ruleRewardFunction, valueConfigOf } from "../rl/ppo.js";
import { configDifferences, loadCheckpoint } from "../train/checkpoint.js";
import { trainLoop } from "../train/loop.js";
import { adamW, warmupCosine } from "../train/optimizer.js";
import { type RunSize, SIZES } from "./sizes.js";
import { evalProblems, finishedSummary, type RlStageSummary, stageDir, stageHistory, type StageOptions, trainSideProblems, writeSummary, rlEvaluation, pick, testResult, labelBudget, upstreamCheckpoint, startingPolicy, loraMeta, loraSummary } from "./stage.js";
import { RicciError } from "../errors.js";
import { type Trainer } from "../train/trainer.js";
import { loraTrainer } from "../train/lora.js";
import type { LoraOptions } from "../nn/lora.js";

/** The trainer's options a run size fixes (src/rl/ppo.ts documents each). */
const TRAINER_SETTINGS = [
  "rolloutBatch", "minibatches", "epochs", "temperature", "klCoef", "klEstimator", "entCoef", "vfCoef", "clipRange", "clipRangeValue", "gamma", "lambda",
] as const;
type PpoTrainerSettings = Required<Pick<PpoTrainerOptions, (typeof TRAINER_SETTINGS)[number]>>;

/** PPO's settings for one run size: the trainer's options, and the stage's own. */
export interface PpoSettings extends PpoTrainerSettings {
  /** PPO iterations (rollout batches). */
  readonly steps: number;
  /** Peak AdamW learning rates of policy and value model (warmup then cosine to minLrRatio), per update. */
  readonly lr: number;
  readonly valueLr: number;
  readonly warmup: number;
  /** The learning rates decay by cosine to this fraction of their peak (1: constant after warmup). */
  readonly minLrRatio: number;
  readonly evalEvery: number;
  /** Held-out problems to score (null: the size's default). */
  readonly evalProblems: number | null;
  /** Train-side problems the prompts are drawn from (the first `sftProblems` are SFT's; see sizes.ts). */
  readonly trainProblems: number;
  /** LoRA adapters on the frozen SFT policy (src/nn/lora.ts; the value model stays full); null (default): full fine-tuning. */
  readonly lora: LoraOptions | null;
}

// Sampling is cheap here and every update row costs a policy plus a value forward/backward, so
// reusing a rollout is no cheaper than drawing a fresh one: rather than TRL's 4 epochs × small
// minibatches, the settings spend the compute on more prompts — 256 per rollout, one pass in 2
// minibatches of 128 — at close to GRPO's lr, with a faster critic (its head starts at zero).
// Full size runs 400 iterations on prompts from 10,000 train-side problems (of the 10,428 the split leaves). The runs behind
// these choices are in the README ("How the settings were chosen").
const common = {
  minibatches: 2, epochs: 1, klCoef: 0.05, klEstimator: "k1", entCoef: 0, vfCoef: 0.1, clipRange: 0.2, clipRangeValue: 0.2,
  gamma: 1, lambda: 0.95, evalProblems: null, temperature: 1, valueLr: 3e-4, warmup: 3, trainProblems: 4000, minLrRatio: 0.1, lora: null,
} as const;

/** PPO's settings per run size. */
export const PPO_SETTINGS: Readonly<Record<RunSize, PpoSettings>> = {
  ci: { ...common, steps: 30, rolloutBatch: 64, lr: 1e-4, evalEvery: 15 },
  full: { ...common, steps: 400, rolloutBatch: 256, lr: 7e-5, evalEvery: 50, trainProblems: 10000 },
};

export interface PpoStageOptions extends StageOptions {
  /** "rule" (default): the task's rule reward; "model": the reward model of runs/<size>/rm (must exist). */
  readonly reward?: "rule" | "model";
  /** A model config other than the size's (tests use tiny models); the SFT checkpoint must match it. */
  readonly model?: GptConfig;
}

export interface PpoSummary extends RlStageSummary {
  readonly stage: "ppo";
  readonly reward: "rule" | "model";
  /** Means over the last 10 iterations: the (tempered) policy's per-token entropy on its responses, and the fraction of tokens clipped. */
  readonly entropy: number;
  readonly clipFraction: number;
}

/**
 * The reward model of the RM stage (runs/<size>/rm/checkpoint.ckpt) as a RewardFunction: its
 * score of [BOS, prompt, response], by the head its config names (a scalar head read at the
 * last token, or the response's log-likelihood). `await loadRewardModel(path, policyConfig)`.
 */
export async function loadRewardModel(rmPath: string, config: GptConfig, tokenizer: Tokenizer = charTokenizer): Promise<RewardFunction> {
  const rm = await loadCheckpoint(rmPath);
  const head = REWARD_HEADS.find((h) => configDifferences(rm.config, rewardModelConfig(config, h)).length === 0);
  if (head === undefined) {
    disposeParams(rm.params);
    throw new RicciError(`ppo: reward model ${rmPath} has config ${JSON.stringify(rm.config)}, which is not a reward model of the policy ${JSON.stringify(config)}`);
  }
  const rmConfig = rewardModelConfig(config, head);
  return (problems, _texts, responseIds) =>
    scoreResponses(rmConfig, rm.params, problems.map((p) => encodePrompt(p.prompt, tokenizer)), responseIds, tokenizer.padId);
}

/** Runs (or resumes) the PPO stage: `await ppo({ size: "ci", root: "runs", reward: "rule" })`. */
export async function ppo(options: PpoStageOptions, overrides: Partial<PpoSettings> = {}): Promise<PpoSummary> {
  const size = SIZES[options.size];
  const s: PpoSettings = { ...PPO_SETTINGS[options.size], ...overrides };
  const config = options.model ?? size.model;
  const seed = options.seed ?? 0;
  const root = options.root ?? "runs";
  const dir = stageDir(root, options.size, "ppo");
  const done = finishedSummary<PpoSummary>(dir, s.steps);
  if (done !== null) return done;
  const sftPath = upstreamCheckpoint(root, options.size, "sft", "ppo");
  const rewardKind = options.reward ?? "rule";
  const reward = rewardKind === "model" ? await loadRewardModel(upstreamCheckpoint(root, options.size, "rm", "ppo --reward model"), config) : ruleRewardFunction();
  const reference = (await loadCheckpoint(sftPath, { expectConfig: config })).params;
  const updatesPerStep = s.epochs * s.minibatches;
  const policySchedule = warmupCosine({ peak: s.lr, warmupSteps: s.warmup * updatesPerStep, totalSteps: s.steps * updatesPerStep, minRatio: s.minLrRatio });
  const valueSchedule = warmupCosine({ peak: s.valueLr, warmupSteps: s.warmup * updatesPerStep, totalSteps: s.steps * updatesPerStep, minRatio: s.minLrRatio });
  // No weight decay (TRL's default): decay would pull the weights toward 0, not toward the reference.
  const { lora, params: policy } = await startingPolicy(config, sftPath, reference, s.lora, seed, "ppo");
  const trained = lora === null ? policy : lora.adapters;
  const optimizer = adamW(trained, { lr: policySchedule, weightDecay: 0 });
  const value = initValueFromPolicy(config, reference);
  const valueOptimizer = adamW(value, { lr: valueSchedule, weightDecay: 0 });
  const trainerOptions: PpoTrainerOptions = { ...pick(s, TRAINER_SETTINGS), reward, seed };
  const problems = trainSideProblems(size.task, s.trainProblems);
  const iterations = ppoTrainer(config, { policy, value, reference }, { policy: optimizer, value: valueOptimizer }, problems, trainerOptions, lora ?? undefined);
  // One step of the loop is one PPO iteration; the policy and its value model are checkpointed together.
  const trainer: Trainer = {
    models: { policy: { config, params: trained, optimizer }, value: { config: valueConfigOf(config), params: value, optimizer: valueOptimizer } },
    step: async (step) => ({ lr: policySchedule(optimizer.stepCount + 1), ...(await iterations.iteration(step - 1)) }),
  };
  const heldOut = (side: "validation" | "test"): ArithmeticProblem[] => evalProblems(options.size, side).slice(0, s.evalProblems ?? undefined);
  const started = performance.now();
  const { lastEval } = await trainLoop({
    label: "ppo",
    steps: s.steps,
    trainer: lora === null ? trainer : loraTrainer(trainer, lora),
    tokensPerStep: s.rolloutBatch * config.context * updatesPerStep,
    show: ["rewardMean", "kl"],
    evaluate: rlEvaluation(config, policy, reference, heldOut("validation"), seed),
    evalEvery: s.evalEvery,
    outDir: dir,
    checkpointEvery: s.evalEvery,
    meta: { seed, size: options.size, task: size.task, reward: rewardKind, ppo: { ...s, lora: loraMeta(s.lora) } },
  });
  const history = stageHistory(dir);
  const start = history.find((r) => r.step === 0) ?? {};
  const test = await testResult(config, policy, heldOut("test"));
  const iterationRows = history.filter((r) => r.step >= 1).slice(-10);
  const lastMean = (key: string): number => iterationRows.reduce((sum, r) => sum + r[key], 0) / iterationRows.length;
  const summary: PpoSummary = {
    ...test,
    stage: "ppo",
    steps: s.steps,
    reward: rewardKind,
    initialAccuracy: start.accuracy ?? Number.NaN,
    accuracy: lastEval.accuracy ?? Number.NaN,
    initialWellFormed: start.wellFormed ?? Number.NaN,
    wellFormed: lastEval.wellFormed ?? Number.NaN,
    klFromReference: lastEval.klFromReference ?? Number.NaN,
    initialRewardMean: history.find((r) => r.step === 1)?.rewardMean ?? Number.NaN,
    rewardMean: history.at(-1)?.rewardMean ?? Number.NaN,
    entropy: lastMean("entropy"),
    clipFraction: lastMean("clipFraction"),
    // The reward model's own labels are its stage's; scoring a rollout with it calls no verifier.
    labels: labelBudget({ verifierCalls: rewardKind === "rule" ? s.steps * s.rolloutBatch : 0 }),
    seconds: (performance.now() - started) / 1000,
    ...loraSummary(config, s.lora),
  };
  writeSummary(dir, { ...summary });
  disposeParams(reference);
  return summary;
}

