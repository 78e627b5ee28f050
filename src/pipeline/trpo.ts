/**
 * TRPO stage: natural-gradient RL from the SFT checkpoint with the rule reward (src/rl/trpo.ts).
 * `npm run trpo -- --size ci` writes runs/<size>/trpo/{checkpoint.ckpt, metrics.jsonl,
 * summary.json}; a rerun resumes. TRPO has no optimizer state: the checkpoint holds the policy
 * and the step. One step is one rollout and one trust-region step.
 */
import type { GptConfig } from "../nn/gpt.js";
import { disposeParams } from "../nn/params.js";
import { type TrpoTrainerOptions, trpoTrainer } from "../rl/trpo.js";
import { loadCheckpoint } from "../train/checkpoint.js";
import { trainLoop } from "../train/loop.js";
import { type RunSize, SIZES } from "./sizes.js";
import { evalProblems, finishedSummary, type RlStageSummary, stageDir, stageHistory, type StageOptions, trainSideProblems, writeSummary, rlEvaluation, pick, testResult, labelBudget, upstreamCheckpoint } from "./stage.js";
import { type Trainer } from "../train/trainer.js";
import { meanOf } from "../util/stats.js";

/** The trainer's options a run size fixes (src/rl/trpo.ts documents each). */
const TRAINER_SETTINGS = ["promptsPerStep", "groupSize", "maxKl", "cgIterations", "damping", "backtrackSteps", "acceptRatio", "confirmOnFreshBatch"] as const;
type TrpoTrainerSettings = Required<Pick<TrpoTrainerOptions, (typeof TRAINER_SETTINGS)[number]>>;

/** TRPO's settings for one run size: the trainer's options, and the stage's own. */
export interface TrpoSettings extends TrpoTrainerSettings {
  readonly steps: number;
  /** Rows the Fisher-vector products average over (null: all of promptsPerStep × groupSize). */
  readonly fisherBatch: number | null;
  readonly evalEvery: number;
  /** Held-out problems to score (null: the size's default). */
  readonly evalProblems: number | null;
  /** Train-side problems the prompts are drawn from (the first `sftProblems` are SFT's; see sizes.ts). */
  readonly trainProblems: number;
}

const common = { cgIterations: 10, damping: 0.1, backtrackSteps: 10, acceptRatio: 0.1, confirmOnFreshBatch: false, evalProblems: null, trainProblems: 4000 } as const;

// Full size: many small steps. One batch's surrogate gradient is mostly sampling noise (the
// cosine between successive steps is ~0.005), so a trust-region step spends its δ on noise and
// only many of them accumulate signal: 500 steps of 32 prompts × 8 samples from 10,000 problems,
// δ = 0.001. Damping λ = 10 by measurement (seed 2, 30 steps): with λ = 1 the KL of the full
// proposed step reached 2.79δ, as the natural gradient moved tokens the policy already gives
// probability ≈ 1 out of the log-softmax's quadratic regime; with λ = 10, at most 0.88δ.
// Conjugate gradient solves on 64 of the 256 rows in 5 iterations (relative residual ‖(F + λI)x
// − g‖/‖g‖ median 0.09–0.19 over the seeds: an approximate natural gradient, which a noisy g does
// not repay refining), the step's length from the Fisher on all rows (trpoStep). README, "How
// the settings were chosen", has the runs.
// The ci size uses δ = 0.001 as well: there the KL of the full proposed step, measured, was
// 0.76–1.2δ with one step at 4.7δ for δ = 0.01, 0.78–1.45δ for δ = 0.003 and 0.87–1.11δ for
// δ = 0.001 (10 steps each from the ci SFT checkpoint): the quadratic model holds at 0.001.
/** TRPO's settings per run size. */
export const TRPO_SETTINGS: Readonly<Record<RunSize, TrpoSettings>> = {
  ci: { ...common, maxKl: 0.001, fisherBatch: null, steps: 10, promptsPerStep: 8, groupSize: 4, evalEvery: 5 },
  full: { ...common, maxKl: 0.001, damping: 10, cgIterations: 5, fisherBatch: 64, steps: 500, promptsPerStep: 32, groupSize: 8, evalEvery: 100, trainProblems: 10000 },
};

export interface TrpoStageOptions extends StageOptions {
  /** A model config other than the size's (tests use tiny models); the SFT checkpoint must match it. */
  readonly model?: GptConfig;
}

export interface TrpoSummary extends RlStageSummary {
  readonly stage: "trpo";
  /**
   * Largest measured KL of a proposed step (the full natural-gradient step, accepted or not) over
   * the run, and the trust region δ it is checked against (≤ 1.5δ).
   */
  readonly maxStepKl: number;
  readonly klBound: number;
  /** Fraction of steps whose line search accepted a step. */
  readonly acceptedFraction: number;
  /** Mean cosine between successive proposed directions (near 0: each step follows its own batch's noise). */
  readonly stepCosine: number;
  /** Mean cosine between successive surrogate gradients (the same, before the Fisher's inverse). */
  readonly gradCosine: number;
}

/** Runs (or resumes) the TRPO stage: `await trpo({ size: "ci", root: "runs" })`. */
export async function trpo(options: TrpoStageOptions, overrides: Partial<TrpoSettings> = {}): Promise<TrpoSummary> {
  const size = SIZES[options.size];
  const s: TrpoSettings = { ...TRPO_SETTINGS[options.size], ...overrides };
  const config = options.model ?? size.model;
  const seed = options.seed ?? 0;
  const root = options.root ?? "runs";
  const dir = stageDir(root, options.size, "trpo");
  const done = finishedSummary<TrpoSummary>(dir, s.steps);
  if (done !== null) return done;
  const sftPath = upstreamCheckpoint(root, options.size, "sft", "trpo");
  const reference = (await loadCheckpoint(sftPath, { expectConfig: config })).params;
  const params = (await loadCheckpoint(sftPath, { expectConfig: config })).params;
  const iterations = trpoTrainer(config, params, trainSideProblems(size.task, s.trainProblems), {
    ...pick(s, TRAINER_SETTINGS), fisherBatch: s.fisherBatch ?? undefined, seed,
  });
  // TRPO has no optimizer: a step is a natural-gradient step inside the trust region. "loss" is
  // the negated surrogate gain, so the shared loss chart shows each step's progress.
  const trainer: Trainer = {
    models: { policy: { config, params } },
    step: async (step) => {
      const info = await iterations.iteration(step - 1);
      return { loss: -info.surrogateImprovement, ...info };
    },
  };
  const heldOut = (side: "validation" | "test") => evalProblems(options.size, side).slice(0, s.evalProblems ?? undefined);
  const started = performance.now();
  const { lastEval } = await trainLoop({
    label: "trpo",
    steps: s.steps,
    trainer,
    show: ["rewardMean", "proposedKl", "accepted"],
    evaluate: rlEvaluation(config, params, reference, heldOut("validation"), seed),
    evalEvery: s.evalEvery,
    outDir: dir,
    checkpointEvery: s.evalEvery,
    meta: { seed, size: options.size, task: size.task, trpo: { ...s } },
  });
  const records = stageHistory(dir);
  const start = records.find((r) => r.step === 0) ?? {};
  const history = records.filter((r) => r.step >= 1);
  const test = await testResult(config, params, heldOut("test"));
  const summary: TrpoSummary = {
    ...test,
    stage: "trpo",
    steps: s.steps,
    initialAccuracy: start.accuracy ?? Number.NaN,
    accuracy: lastEval.accuracy ?? Number.NaN,
    initialWellFormed: start.wellFormed ?? Number.NaN,
    wellFormed: lastEval.wellFormed ?? Number.NaN,
    klFromReference: lastEval.klFromReference ?? Number.NaN,
    initialRewardMean: history.find((r) => r.step === 1)?.rewardMean ?? Number.NaN,
    rewardMean: history.at(-1)?.rewardMean ?? Number.NaN,
    maxStepKl: history.reduce((m, r) => Math.max(m, r.proposedKl ?? 0), 0),
    klBound: s.maxKl,
    acceptedFraction: history.filter((r) => r.accepted === 1).length / Math.max(1, history.length),
    stepCosine: meanOf(history.map((r) => r.stepCosine).filter(Number.isFinite)),
    gradCosine: meanOf(history.map((r) => r.gradCosine).filter(Number.isFinite)),
    labels: labelBudget({ verifierCalls: s.steps * s.promptsPerStep * s.groupSize * (s.confirmOnFreshBatch ? 2 : 1) }),
    seconds: (performance.now() - started) / 1000,
  };
  writeSummary(dir, { ...summary });
  disposeParams(reference);
  return summary;
}
