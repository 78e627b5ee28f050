/**
 * GRPO stage: rule-reward RL from the SFT checkpoint on the arithmetic task (src/rl/grpo.ts),
 * with the SFT weights as the frozen KL reference. `npm run grpo -- --size ci` writes
 * runs/ci/grpo/{checkpoint.ckpt, metrics.jsonl, summary.json}; a rerun resumes. With `lora` set,
 * the SFT weights stay frozen (they are the reference too) and only LoRA adapters train
 * (src/nn/lora.ts); checkpoint.ckpt is then the merged policy and lora.ckpt the adapters.
 */
import { type GrpoTrainerOptions, grpoTrainer } from "../rl/grpo.js";
import { loadCheckpoint } from "../train/checkpoint.js";
import { type Metrics, trainLoop } from "../train/loop.js";
import { warmupCosine, adamW } from "../train/optimizer.js";
import type { RunSize } from "./sizes.js";
import { SIZES } from "./sizes.js";
import { evalProblems, finishedSummary, type RlStageSummary, stageDir, stageHistory, type StageOptions, trainSideProblems, writeSummary, rlEvaluation, pick, testResult, labelBudget, upstreamCheckpoint, startingPolicy, loraMeta, loraSummary } from "./stage.js";
import { RicciError } from "../errors.js";
import { gradientTrainer } from "../train/trainer.js";
import type { LoraOptions } from "../nn/lora.js";
import { loraTrainer } from "../train/lora.js";

/** The trainer's options a run size fixes (src/rl/grpo.ts documents each). */
const TRAINER_SETTINGS = [
  "promptsPerStep", "groupSize", "updatesPerRollout", "beta", "epsilonLow", "epsilonHigh", "aggregation", "scale", "maskTruncated", "temperature",
  "dynamicSampling", "maxSamplingRounds",
] as const;
type GrpoTrainerSettings = Required<Pick<GrpoTrainerOptions, (typeof TRAINER_SETTINGS)[number]>>;

/** GRPO's settings for one run size: the trainer's options, and the stage's own. */
export interface GrpoSettings extends GrpoTrainerSettings {
  /** Optimizer updates (a multiple of updatesPerRollout). */
  readonly steps: number;
  /** Peak AdamW learning rate: linear warmup, then cosine down to minLrRatio·lr (1: constant). */
  readonly lr: number;
  readonly warmup: number;
  readonly minLrRatio: number;
  readonly evalEvery: number;
  /** Train-side problems the prompts are drawn from (the first `sftProblems` are SFT's; see sizes.ts). */
  readonly trainProblems: number;
  /** Weight of the rule reward's per-digit partial credit (0: R1's correct + format only). */
  readonly digitCredit: number;
  /** LoRA adapters instead of full fine-tuning (null: off, the default). */
  readonly lora: LoraOptions | null;
}

// The DAPO-style options (clip-higher epsilonHigh, dynamicSampling, maskTruncated, token
// aggregation) and μ > 1 are off: the defaults are the runs the README reports.
const common = {
  updatesPerRollout: 1, minLrRatio: 0.1, beta: 0.04, epsilonLow: 0.2, epsilonHigh: 0.2, aggregation: "sequence", scale: "group", maskTruncated: false, trainProblems: 4000, temperature: 1, digitCredit: 0,
  dynamicSampling: false, maxSamplingRounds: 4, lora: null,
} as const;

// Full size runs 800 steps of 32 prompts × 8 drawn from 10,000 train-side problems (9,000 more
// than SFT's), in its own process beside PPO (src/pipeline/run.ts). The batch and learning rate
// were chosen by the runs in the README ("How the settings were chosen").
/** GRPO's settings per run size. */
export const GRPO_SETTINGS: Readonly<Record<RunSize, GrpoSettings>> = {
  ci: { ...common, steps: 40, promptsPerStep: 16, groupSize: 8, lr: 5e-5, warmup: 4, evalEvery: 20 },
  full: { ...common, steps: 800, promptsPerStep: 32, groupSize: 8, lr: 1e-4, warmup: 10, evalEvery: 100, trainProblems: 10000 },
};

export interface GrpoSummary extends RlStageSummary {
  readonly stage: "grpo";
  /**
   * Means over the last 10 steps' rollouts (train prompts, every sampled group): pass@1 and
   * pass@G of the exact answer (G = groupSize, HumanEval's unbiased estimator), the fraction of
   * groups whose rewards all tie (before any dynamic-sampling filter), and the tempered policy's
   * per-token entropy on its responses.
   */
  readonly passAt1: number;
  readonly passAtGroup: number;
  readonly zeroStdGroups: number;
  readonly entropy: number;
}

/** Runs (or resumes) the GRPO stage: `await grpo({ size: "ci", root: "runs" })`. */
export async function grpo(options: StageOptions, overrides: Partial<GrpoSettings> = {}): Promise<GrpoSummary> {
  const settings = SIZES[options.size];
  const s: GrpoSettings = { ...GRPO_SETTINGS[options.size], ...overrides };
  if (s.steps % s.updatesPerRollout !== 0 || s.evalEvery % s.updatesPerRollout !== 0) {
    throw new RicciError(`grpo: steps ${s.steps} and evalEvery ${s.evalEvery} must be multiples of updatesPerRollout ${s.updatesPerRollout} (resume happens at rollout boundaries)`);
  }
  const config = settings.model;
  const seed = options.seed ?? 0;
  const root = options.root ?? "runs";
  const dir = stageDir(root, options.size, "grpo");
  const done = finishedSummary<GrpoSummary>(dir, s.steps);
  if (done !== null) return done;
  const sftPath = upstreamCheckpoint(root, options.size, "sft", "grpo");
  const reference = (await loadCheckpoint(sftPath, { expectConfig: config })).params;
  const schedule = warmupCosine({ peak: s.lr, warmupSteps: s.warmup, totalSteps: s.steps, minRatio: s.minLrRatio });
  const { lora, params } = await startingPolicy(config, sftPath, reference, s.lora, seed, "grpo");
  // No weight decay (TRL's default): decay would pull the policy toward 0, not toward the reference.
  const optimizer = adamW(lora === null ? params : lora.adapters, { lr: schedule, weightDecay: 0 });
  const trainerOptions: GrpoTrainerOptions = { ...pick(s, TRAINER_SETTINGS), rewardWeights: { correct: 1, format: 0.1, digits: s.digitCredit }, seed };
  const rollouts = grpoTrainer(config, params, reference, trainSideProblems(settings.task, s.trainProblems), trainerOptions, lora ?? undefined);
  const microstep = (step: number, micro: number) => rollouts.microstep(step, micro);
  const heldOut = evalProblems(options.size);
  const started = performance.now();
  const result = await trainLoop({
    label: "grpo",
    steps: s.steps,
    trainer: lora === null ? gradientTrainer({ config, params, optimizer, microstep }) : loraTrainer(gradientTrainer({ config, params: lora.adapters, optimizer, microstep }), lora),
    tokensPerStep: s.promptsPerStep * s.groupSize * config.context,
    evaluate: rlEvaluation(config, params, reference, heldOut, seed),
    evalEvery: s.evalEvery,
    outDir: dir,
    checkpointEvery: s.evalEvery,
    meta: { seed, size: options.size, task: settings.task, grpo: { ...s, lora: loraMeta(s.lora) } },
  });
  const history = stageHistory(dir);
  const start = history.find((r) => r.step === 0) ?? {};
  const trainRows = history.filter((r) => r.rewardMean !== undefined);
  const meanOf = (rows: Metrics[], key: string): number => rows.reduce((sum, r) => sum + r[key], 0) / rows.length;
  const meanReward = (rows: Metrics[]): number => meanOf(rows, "rewardMean");
  // Every rollout's completions went to the verifier, dropped groups of dynamic sampling included
  // (one rollout per updatesPerRollout steps; its first step's record holds its counts; the last
  // record of a step counts, as a resume after a crash appends the steps since the checkpoint again).
  const rolloutRows = [...new Map(trainRows.map((r) => [r.step, r])).values()].filter((r) => r.step <= s.steps && (r.step - 1) % s.updatesPerRollout === 0);
  const verifierCalls = rolloutRows.reduce((sum, r) => sum + (r.sampledGroups ?? s.promptsPerStep) * s.groupSize, 0);
  const test = await testResult(config, params, evalProblems(options.size, "test"));
  const summary: GrpoSummary = {
    ...test,
    stage: "grpo",
    steps: s.steps,
    initialAccuracy: start.accuracy ?? Number.NaN,
    accuracy: result.lastEval.accuracy,
    initialWellFormed: start.wellFormed ?? Number.NaN,
    wellFormed: result.lastEval.wellFormed,
    klFromReference: result.lastEval.klFromReference,
    initialRewardMean: meanReward(trainRows.slice(0, 10)),
    rewardMean: meanReward(trainRows.slice(-10)),
    passAt1: meanOf(trainRows.slice(-10), "passAt1"),
    passAtGroup: meanOf(trainRows.slice(-10), `passAt${s.groupSize}`),
    zeroStdGroups: meanOf(trainRows.slice(-10), "zeroStdGroups"),
    entropy: meanOf(trainRows.slice(-10), "entropy"),
    labels: labelBudget({ verifierCalls }),
    seconds: (performance.now() - started) / 1000,
    ...loraSummary(config, s.lora),
  };
  writeSummary(dir, { ...summary });
  return summary;
}


