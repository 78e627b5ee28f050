/**
 * The training loop every stage shares: it runs a `Trainer`'s steps (trainer.ts) with held-out
 * evaluation, metrics as JSON lines, a progress line, atomic checkpoints of every model the
 * trainer names, and a rerun that restores them and resumes where the last run stopped.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JsonObject } from "./checkpoint.js";
import { metricsWriter, progress, readMetrics } from "./progress.js";
import { type Metrics, type Trainer, restoreTrainer, saveTrainer } from "./trainer.js";
import { lineChart, writeChart } from "../viz/chart.js";

export type { Metrics } from "./trainer.js";

export interface TrainLoopOptions {
  readonly label: string;
  /** Total steps (a rerun resumes after the steps its checkpoint holds). */
  readonly steps: number;
  readonly trainer: Trainer;
  /** Held-out metrics, run at step 0 (a fresh start), every `evalEvery` steps and at the end. */
  readonly evaluate?: (step: number) => Metrics | Promise<Metrics>;
  readonly evalEvery?: number;
  /** Folder for metrics.jsonl and the checkpoints; nothing is written or restored without it. */
  readonly outDir?: string;
  readonly checkpointEvery?: number;
  readonly tokensPerStep?: number;
  /** Fields of a step's record shown on the progress line (default loss), before the first two held-out metrics. */
  readonly show?: readonly string[];
  /** Kept in every checkpoint (seeds, data settings…). */
  readonly meta?: JsonObject;
}

export interface TrainLoopResult {
  /** One record per step run here: step, loss, lr, …, and eval metrics where run. */
  readonly history: Metrics[];
  readonly lastEval: Metrics;
  /** The step the run started after (0, or the restored checkpoint's). */
  readonly resumedFrom: number;
}

/** Runs `trainer` to `steps`, resuming from `outDir`'s checkpoints; see TrainLoopOptions. */
export async function trainLoop(o: TrainLoopOptions): Promise<TrainLoopResult> {
  if (o.outDir !== undefined) mkdirSync(o.outDir, { recursive: true });
  const resumedFrom = o.outDir === undefined ? 0 : await restoreTrainer(o.outDir, o.trainer);
  const write = o.outDir === undefined ? () => undefined : metricsWriter(join(o.outDir, "metrics.jsonl"));
  const bar = progress({ label: o.label, total: o.steps, tokensPerStep: o.tokensPerStep });
  const show = o.show ?? ["loss"];
  const history: Metrics[] = [];
  let lastEval: Metrics = {};
  const runEval = async (step: number): Promise<Metrics> => {
    if (o.evaluate === undefined) return {};
    lastEval = await o.evaluate(step);
    return lastEval;
  };
  if (resumedFrom === 0 && o.evaluate !== undefined) write({ step: 0, ...(await runEval(0)) });
  for (let step = resumedFrom + 1; step <= o.steps; step++) {
    const record: Metrics = { step, ...(await o.trainer.step(step)) };
    const last = step === o.steps;
    if ((o.evalEvery !== undefined && step % o.evalEvery === 0) || last) Object.assign(record, await runEval(step));
    history.push(record);
    write(record);
    bar.update(step, { ...Object.fromEntries(show.filter((k) => record[k] !== undefined).map((k) => [k, record[k]])), ...pick(lastEval) });
    if (o.outDir !== undefined && ((o.checkpointEvery !== undefined && step % o.checkpointEvery === 0) || last)) {
      await saveTrainer(o.outDir, o.trainer, step, { ...o.meta, label: o.label, lastEval });
    }
  }
  bar.done();
  // Resumed after the last step: the summary still needs the final held-out numbers.
  if (resumedFrom >= o.steps && o.evaluate !== undefined) await runEval(o.steps);
  if (o.outDir !== undefined) await writeCurves(o.outDir, o.label);
  return { history, lastEval, resumedFrom };
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

/** The first two held-out metrics, for the progress line. */
function pick(m: Metrics): Metrics {
  return Object.fromEntries(Object.entries(m).slice(0, 2));
}
