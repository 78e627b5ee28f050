/**
 * The training loop every trainer shares: microbatches → accumulated gradients → global-norm
 * clipping → AdamW (or all of that as one compiled call, `fusedAdamW`), with held-out
 * evaluation, metrics as JSON lines, a progress line and atomic checkpoints that a rerun
 * resumes from.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tf } from "../lower/backend.js";
import type { GptConfig } from "../nn/gpt.js";
import type { Params } from "../nn/params.js";
import { type JsonObject, saveCheckpoint } from "./checkpoint.js";
import type { ObjectiveResult } from "./objective.js";
import type { TensorInputs } from "../lower/compile.js";
import type { FusedStep } from "./fusedStep.js";
import { type AdamW, GradientAccumulator, clipByGlobalNorm } from "./optimizer.js";
import { metricsWriter, progress, readMetrics } from "./progress.js";
import { lineChart, writeChart } from "../viz/chart.js";

export type Metrics = Record<string, number>;

/**
 * How a step updates the parameters: gradients from `microstep`, accumulated, clipped and applied
 * by an `adamW`; or the whole update as one compiled call of a `fusedAdamW` (loss, gradients,
 * clipping and AdamW in one graph) on the data `batch` gives.
 */
export type TrainLoopUpdate =
  | {
      readonly optimizer: AdamW;
      /** Loss and gradients of microbatch `micro` of step `step` (1-based); deterministic in (step, micro). */
      readonly microstep: (step: number, micro: number) => ObjectiveResult | Promise<ObjectiveResult>;
      /** Microbatches per optimizer step (gradient accumulation). Default 1. */
      readonly accumulate?: number;
      /** Global-norm clip (default 1; 0 disables). */
      readonly clipNorm?: number;
    }
  | {
      /** Clips and steps inside its graph (its own clipNorm). */
      readonly optimizer: FusedStep;
      /** The data inputs of step `step` (1-based); deterministic in step. */
      readonly batch: (step: number) => TensorInputs;
    };

export type TrainLoopOptions = TrainLoopUpdate & {
  readonly label: string;
  /** Total optimizer steps (training resumes at optimizer.stepCount). */
  readonly steps: number;
  readonly config: GptConfig;
  /** Trained in place by `optimizer`. */
  readonly params: Params;
  /** Held-out metrics, run every `evalEvery` steps and at the end. */
  readonly evaluate?: (step: number) => Metrics | Promise<Metrics>;
  readonly evalEvery?: number;
  /** Folder for metrics.jsonl and checkpoint.ckpt; nothing is written without it. */
  readonly outDir?: string;
  readonly checkpointEvery?: number;
  readonly tokensPerStep?: number;
  /** Kept in every checkpoint (seeds, data settings…). */
  readonly meta?: JsonObject;
};

export interface TrainLoopResult {
  /** One record per step: step, loss, lr, gradNorm, and eval metrics where run. */
  readonly history: Metrics[];
  readonly lastEval: Metrics;
}

/** Trains `params` for `steps` optimizer steps; see TrainLoopOptions. */
export async function trainLoop(o: TrainLoopOptions): Promise<TrainLoopResult> {
  const write = o.outDir === undefined ? () => undefined : metricsWriter(join(o.outDir, "metrics.jsonl"));
  const bar = progress({ label: o.label, total: o.steps, tokensPerStep: o.tokensPerStep });
  const history: Metrics[] = [];
  let lastEval: Metrics = {};
  const runEval = async (step: number): Promise<Metrics> => {
    if (o.evaluate === undefined) return {};
    lastEval = await o.evaluate(step);
    return lastEval;
  };
  const checkpoint = async (step: number): Promise<void> => {
    if (o.outDir === undefined) return;
    await saveCheckpoint(join(o.outDir, "checkpoint.ckpt"), {
      config: o.config, params: o.params, optimizer: o.optimizer.state(), step, meta: { ...o.meta, label: o.label, lastEval },
    });
  };
  const first = o.optimizer.stepCount + 1;
  if (first === 1 && o.evaluate !== undefined) write({ step: 0, ...(await runEval(0)) });
  for (let step = first; step <= o.steps; step++) {
    const record = "batch" in o ? fusedUpdate(o, step) : await separateUpdate(o, step);
    if ((o.evalEvery !== undefined && step % o.evalEvery === 0) || step === o.steps) Object.assign(record, await runEval(step));
    history.push(record);
    write(record);
    bar.update(step, { loss: record.loss, ...pick(lastEval) });
    if ((o.checkpointEvery !== undefined && step % o.checkpointEvery === 0) || step === o.steps) await checkpoint(step);
  }
  bar.done();
  if (o.outDir !== undefined) await writeCurves(o.outDir, o.label);
  return { history, lastEval };
}

/**
 * Training curves of a run folder (the whole metrics.jsonl, so resumed runs draw complete):
 * loss.svg with the Vega-Lite spec beside it (loss.vl.json), training and held-out series.
 */
export async function writeCurves(outDir: string, label: string): Promise<void> {
  const rows = readMetrics(join(outDir, "metrics.jsonl"));
  if (rows.length === 0) return;
  const heldOut = Object.keys(rows.find((r) => Object.keys(r).some((k) => /heldOut|accuracy/i.test(k))) ?? {}).filter((k) => /heldOutLoss/.test(k));
  const spec = lineChart({ title: `${label}: loss`, data: rows, x: "step", y: ["loss", ...heldOut], yTitle: "loss (nats)" });
  writeFileSync(join(outDir, "loss.vl.json"), `${JSON.stringify(spec, null, 2)}\n`);
  await writeChart(join(outDir, "loss.svg"), spec);
}

/** One step of microbatches → accumulated gradients → clipping → AdamW. */
async function separateUpdate(o: Extract<TrainLoopUpdate, { microstep: unknown }>, step: number): Promise<Metrics> {
  const accumulate = o.accumulate ?? 1;
  const clipNorm = o.clipNorm ?? 1;
  const accumulator = new GradientAccumulator();
  let loss = 0;
  const extra: Metrics = {};
  for (let micro = 0; micro < accumulate; micro++) {
    const result = await o.microstep(step, micro);
    accumulator.add(result.grads);
    Object.values(result.grads).forEach((t) => t.dispose());
    loss += result.loss / accumulate;
    for (const [k, v] of Object.entries(result.metrics)) extra[k] = (extra[k] ?? 0) + v / accumulate;
  }
  const mean = accumulator.average();
  accumulator.reset();
  const { grads, norm } = clipNorm > 0 ? clipByGlobalNorm(mean, clipNorm) : { grads: mean, norm: globalNorm(mean) };
  if (grads !== mean) Object.values(mean).forEach((t) => t.dispose());
  const finite = Number.isFinite(norm) && Number.isFinite(loss);
  const { lr } = finite ? o.optimizer.step(grads) : { lr: 0 }; // a non-finite step is skipped, not applied
  Object.values(grads).forEach((t) => t.dispose());
  return { step, loss, lr, gradNorm: norm, ...extra, ...(finite ? {} : { skipped: 1 }) };
}

/** One step as one compiled call (a non-finite step is skipped inside, not applied). */
function fusedUpdate(o: Extract<TrainLoopUpdate, { batch: unknown }> & { params: Params }, step: number): Metrics {
  const result = o.optimizer.step(o.params, o.batch(step));
  return { step, loss: result.loss, lr: result.lr, gradNorm: result.gradNorm, ...result.metrics, ...(result.skipped ? { skipped: 1 } : {}) };
}

function globalNorm(grads: Params): number {
  return tf.tidy(() => Math.sqrt(Object.values(grads).reduce((s, g) => s + tf.sum(tf.square(g)).dataSync()[0], 0)));
}

/** The first two held-out metrics, for the progress line. */
function pick(m: Metrics): Metrics {
  return Object.fromEntries(Object.entries(m).slice(0, 2));
}
