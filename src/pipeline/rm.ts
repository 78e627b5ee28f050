/**
 * Reward-model stage: a GPT initialised from the SFT trunk, trained with the Bradley–Terry loss
 * on preference pairs (src/rl/rewardModel.ts). By default the pairs carry no gold answer: they
 * are the SFT policy's own samples judged by the verifier (src/pipeline/pairs.ts); `labels:
 * "gold"` trains on pairs constructed from the gold answers instead. Scored by pairwise
 * accuracy on held-out pairs of the same kind (validation during training, test at the end), and
 * on the constructed test pairs. `npm run rm -- --size ci` writes
 * runs/ci/rm/{checkpoint.ckpt, metrics.jsonl, summary.json}; a rerun resumes.
 */
import { ALL_REJECTION_KINDS, type PreferencePair, type RejectionKind, preferenceDataset, preferencePairs } from "../data/preferences.js";
import type { GptConfig } from "../nn/gpt.js";
import type { Params } from "../nn/params.js";
import {
  type RewardHead, pairwiseReport, packPreferencePairs, rewardModelConfig, rewardModelFromPolicy, rewardModelObjective,
} from "../rl/rewardModel.js";
import { loadCheckpoint } from "../train/checkpoint.js";
import { trainLoop } from "../train/loop.js";
import { warmupCosine } from "../train/optimizer.js";
import { subSeed } from "../util/random.js";
import { type RunSize, SIZES } from "./sizes.js";
import { epochBatch, epochOf, finishedSummary, type LabelBudget, labelBudget, stageDir, type StageInternals, type StageOptions, stepZero, trainSideProblems, writeSummary, upstreamCheckpoint } from "./stage.js";
import { type PairLabels, stagePairs } from "./pairs.js";
import { fusedTrainer } from "../train/trainer.js";
import { fusedOptimizer } from "../train/fusedStep.js";

export interface RmSettings {
  /** "verifier": pairs of the SFT policy's samples judged by the verifier, no gold answers; "gold": pairs built from gold answers. */
  readonly labels: PairLabels;
  /** How the score is read off the trunk: a scalar head at the last token, or the response's log-likelihood. */
  readonly head: RewardHead;
  readonly steps: number;
  /** Preference pairs per step (2× as many sequences). */
  readonly pairs: number;
  readonly lr: number;
  readonly warmup: number;
  readonly evalEvery: number;
  /** Bradley–Terry margin (TRL: per-pair margins optional; here one number). */
  readonly margin: number;
  /** TRL's center_rewards_coefficient. */
  readonly centerCoefficient: number;
  /** Weight of the chosen responses' per-token NLL beside Bradley–Terry (likelihood head only). */
  readonly nllCoefficient: number;
  /** Held-out pairs scored (the first n of the validation side during training, of the test side at the end). */
  readonly heldOutPairs: number;
  /**
   * Gold labels only: train-side problems the pairs are made from. The first `sftProblems` are
   * SFT's; more (the default family has 12,020 on the train side) give the reward model more to
   * generalise from. (Verifier pairs: PAIR_SETTINGS in pairs.ts.)
   */
  readonly trainProblems: number;
  /** Gold labels only: draw each problem's rejected response afresh every epoch (else one fixed pair per problem). */
  readonly freshRejections: boolean;
}

// The score is the response's log-likelihood under a model initialised from SFT ("likelihood"):
// it starts at the SFT model's own ranking of the pairs, and Bradley–Terry plus the chosen-NLL
// term sharpen it. The TRL-style scalar head read at the EOS ("lastToken") must learn to check
// the sum in one position from a random head, and plateaued well below it (README, "How the
// settings were chosen").
// Centring is off: it would pull log-likelihoods toward 0, and the likelihood head's scores have
// a fixed meaning already.
const common = {
  labels: "verifier", head: "likelihood", margin: 0, centerCoefficient: 0, nllCoefficient: 1, trainProblems: 10000, freshRejections: true,
} as const;

/** The reward model's settings per run size. */
export const RM_SETTINGS: Readonly<Record<RunSize, RmSettings>> = {
  // ci, on the sampled pairs (validation): 600 steps at 3e-3 (chosen earlier on gold pairs) fell
  // 62.1% → 54.8%; at 3e-4 they rose to 71.4%.
  ci: { ...common, steps: 600, pairs: 16, lr: 3e-4, warmup: 30, evalEvery: 200, heldOutPairs: 500 },
  full: { ...common, steps: 400, pairs: 32, lr: 1e-4, warmup: 20, evalEvery: 100, heldOutPairs: 500 },
};

export interface RmSummary {
  readonly stage: "rm";
  readonly steps: number;
  readonly head: RewardHead;
  readonly labels: LabelBudget;
  /** Validation pairwise accuracy r(chosen) > r(rejected) after training and at initialisation. */
  readonly pairwiseAccuracy: number;
  readonly initialPairwiseAccuracy: number;
  /** Held-out Bradley–Terry loss (no centring term). */
  readonly heldOutLoss: number;
  /** Held-out pairwise accuracy per kind of rejected response (offByOne, malformed, …). */
  readonly accuracyByKind: Readonly<Partial<Record<RejectionKind, number>>>;
  readonly seconds: number;
  /** Pairwise accuracy on the test side's pairs (of the kind trained on), measured once at the end. */
  readonly testPairwiseAccuracy: number;
  /** Pairwise accuracy on test pairs constructed from gold answers (src/data/preferences.ts): plausible mistakes. */
  readonly testConstructedPairwiseAccuracy: number;
}

/** Runs (or resumes) the reward-model stage: `await rewardModel({ size: "ci", root: "runs" })`. */
export async function rewardModel(options: StageOptions, overrides: Partial<RmSettings> = {}, internals: StageInternals = {}): Promise<RmSummary> {
  const settings = SIZES[options.size];
  const s: RmSettings = { ...RM_SETTINGS[options.size], ...overrides };
  const policyConfig = internals.model ?? settings.model;
  const config = rewardModelConfig(policyConfig, s.head);
  const seed = options.seed ?? 0;
  const root = options.root ?? "runs";
  const dir = stageDir(root, options.size, "rm");
  const done = finishedSummary<RmSummary>(dir, s.steps);
  if (done !== null) return done;
  const sftPath = upstreamCheckpoint(root, options.size, "sft", "rm");
  const constructed = preferenceDataset(settings.task, seed);
  const sampled = s.labels === "verifier" ? await stagePairs({ size: options.size, root, seed }, policyConfig, internals) : null;
  const heldOut = (sampled ?? constructed).validation.slice(0, s.heldOutPairs);
  const problems = trainSideProblems(settings.task, s.trainProblems);
  // Gold: a pair per problem, rejected responses drawn afresh each epoch if asked; verifier: the sampled pairs.
  const trainBatch = (index: number): PreferencePair[] => {
    if (sampled !== null) return epochBatch(sampled.train, s.pairs, index, subSeed(seed, "rm/order"));
    const rejectionSeed = s.freshRejections ? subSeed(seed, `rm/rejections/${epochOf(problems.length, s.pairs, index)}`) : seed;
    return preferencePairs(epochBatch(problems, s.pairs, index, subSeed(seed, "rm/order")), rejectionSeed);
  };
  const schedule = warmupCosine({ peak: s.lr, warmupSteps: s.warmup, totalSteps: s.steps });
  const sftParams = (await loadCheckpoint(sftPath, { expectConfig: policyConfig })).params;
  const params = rewardModelFromPolicy(sftParams, config, subSeed(seed, "rm/init"));
  const rm = rewardModelObjective(config, s.pairs, { margin: s.margin, centerCoefficient: s.centerCoefficient, nllCoefficient: s.nllCoefficient });
  const optimizer = fusedOptimizer(rm.objective, { lr: schedule });
  const started = performance.now();
  const result = await trainLoop({
    label: "rm",
    steps: s.steps,
    trainer: fusedTrainer({
      config, params, optimizer,
      batch: (step) => rm.graph.inputs(packPreferencePairs(trainBatch(step - 1), config.context)),
    }),
    tokensPerStep: 2 * s.pairs * config.context,
    evaluate: () => {
      const report = pairwiseReport(config, params, heldOut, { margin: s.margin });
      return { pairwiseAccuracy: report.accuracy, heldOutLoss: report.loss, heldOutMargin: report.margin };
    },
    evalEvery: s.evalEvery,
    outDir: dir,
    checkpointEvery: s.evalEvery,
    meta: { seed, size: options.size, task: settings.task, rm: { ...s } },
  });
  const summary: RmSummary = {
    stage: "rm",
    steps: s.steps,
    head: s.head,
    labels: sampled !== null
      ? labelBudget({ verifierCalls: sampled.trainVerifierCalls, preferencePairs: sampled.train.length })
      : labelBudget({ goldAnswers: Math.min(problems.length, s.steps * s.pairs), preferencePairs: s.steps * s.pairs }),
    pairwiseAccuracy: result.lastEval.pairwiseAccuracy,
    initialPairwiseAccuracy: stepZero(dir, "pairwiseAccuracy"),
    heldOutLoss: result.lastEval.heldOutLoss,
    accuracyByKind: accuracyByKind(config, params, heldOut),
    testPairwiseAccuracy: pairwiseReport(config, params, (sampled ?? constructed).test.slice(0, s.heldOutPairs), { margin: s.margin }).accuracy,
    testConstructedPairwiseAccuracy: pairwiseReport(config, params, constructed.test.slice(0, s.heldOutPairs), { margin: s.margin }).accuracy,
    seconds: (performance.now() - started) / 1000,
  };
  writeSummary(dir, { ...summary });
  return summary;
}

/** Pairwise accuracy on the pairs of each rejection kind present. */
function accuracyByKind(config: GptConfig, params: Params, pairs: readonly PreferencePair[]): Partial<Record<RejectionKind, number>> {
  const out: Partial<Record<RejectionKind, number>> = {};
  for (const kind of ALL_REJECTION_KINDS) {
    const ofKind = pairs.filter((p) => p.rejectedKind === kind);
    if (ofKind.length > 0) out[kind] = pairwiseReport(config, params, ofKind).accuracy;
  }
  return out;
}

