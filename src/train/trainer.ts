/**
 * What the one training loop (`trainLoop`, loop.ts) drives: a `Trainer` runs a step and names
 * the models it trains, each with its config and optimizer, so the loop can checkpoint and
 * restore any of them — one GPT (SFT, reward model, DPO, GRPO), a policy and a value model
 * (PPO), or a policy without an optimizer (TRPO). `gradientTrainer` and `fusedTrainer` are the
 * two ways a step updates one model from a loss.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { TensorInputs } from "../lower/compile.js";
import { tf } from "../lower/backend.js";
import type { GptConfig } from "../nn/gpt.js";
import type { LoraOptions } from "../nn/lora.js";
import type { Params } from "../nn/params.js";
import { type JsonObject, loadCheckpoint, saveCheckpoint } from "./checkpoint.js";
import type { FusedStep } from "./fusedStep.js";
import type { ObjectiveResult } from "./objective.js";
import { type AdamW, type AdamWState, GradientAccumulator, clipByGlobalNorm } from "./optimizer.js";

export type Metrics = Record<string, number>;

/** What a checkpoint keeps of an optimizer (adamW and fusedAdamW both are one). */
export interface OptimizerState {
  readonly stepCount: number;
  state(): AdamWState;
  loadState(state: AdamWState): void;
}

/** A model a trainer updates: its config (which its checkpoint must match), its weights, its optimizer if it has one. */
export interface TrainedModel {
  readonly config: GptConfig;
  /** Updated in place; a restore replaces its tensors in place too. */
  readonly params: Params;
  readonly optimizer?: OptimizerState;
  /** Set when `params` are LoRA adapters of the config's model (src/train/lora.ts). */
  readonly lora?: LoraOptions;
}

export interface Trainer {
  /** The models by role: "policy" is checkpointed to checkpoint.ckpt, any other role to <role>.ckpt. */
  readonly models: Readonly<Record<string, TrainedModel>>;
  /** Runs step `step` (1-based; deterministic in the step and the weights); its record for metrics.jsonl. */
  step(step: number): Metrics | Promise<Metrics>;
}

/** The checkpoint file of a role in `dir`. */
export const checkpointFile = (dir: string, role: string): string => join(dir, role === "policy" ? "checkpoint.ckpt" : `${role}.ckpt`);

/** Writes every model of `trainer` at `step`, the other roles first (a crash in between leaves a newer helper beside an older policy, which a restore accepts with a warning). */
export async function saveTrainer(dir: string, trainer: Trainer, step: number, meta: JsonObject): Promise<void> {
  const roles = Object.keys(trainer.models).sort((a, b) => Number(a === "policy") - Number(b === "policy"));
  for (const role of roles) {
    const { config, params, optimizer, lora } = trainer.models[role];
    await saveCheckpoint(checkpointFile(dir, role), { config, params, optimizer: optimizer?.state(), step, meta, ...(lora === undefined ? {} : { lora }) });
  }
}

/**
 * Restores `trainer`'s models from their checkpoints in `dir`, in place; resolves to the step of
 * the policy's checkpoint (0 when there is none: a fresh start). A missing or older helper
 * checkpoint is reported on stderr and the run goes on with what there is.
 */
export async function restoreTrainer(dir: string, trainer: Trainer): Promise<number> {
  if (!("policy" in trainer.models)) throw new Error("restoreTrainer: a trainer needs a model with the role \"policy\"");
  if (!existsSync(checkpointFile(dir, "policy"))) return 0;
  let step = 0;
  const roles = Object.keys(trainer.models).sort((a, b) => Number(b === "policy") - Number(a === "policy"));
  for (const role of roles) {
    const model = trainer.models[role];
    const path = checkpointFile(dir, role);
    if (!existsSync(path)) {
      console.error(`${dir}: no ${role}.ckpt beside the policy checkpoint; the ${role} model restarts from its initial weights`);
      continue;
    }
    const ckpt = await loadCheckpoint(path, { expectConfig: model.config });
    if (JSON.stringify(ckpt.lora) !== JSON.stringify(model.lora)) {
      Object.values(ckpt.params).forEach((t) => t.dispose());
      throw new Error(`${path} holds ${ckpt.lora === undefined ? "a model's weights" : `LoRA adapters ${JSON.stringify(ckpt.lora)}`}, this run trains ${model.lora === undefined ? "the model's weights" : `LoRA adapters ${JSON.stringify(model.lora)}`}`);
    }
    if (role === "policy") step = ckpt.step;
    else if (ckpt.step !== step) console.error(`${dir}: the ${role} checkpoint is at step ${ckpt.step}, the policy at ${step}; continuing with the stored ${role} model`);
    replaceParams(model.params, ckpt.params);
    if (model.optimizer !== undefined && ckpt.optimizer !== undefined) model.optimizer.loadState(ckpt.optimizer);
  }
  return step;
}

/** Puts `from`'s tensors into `into` (same names), disposing the ones they replace. */
function replaceParams(into: Params, from: Params): void {
  for (const [name, tensor] of Object.entries(from)) {
    into[name]?.dispose();
    into[name] = tensor;
  }
}

export interface GradientTrainerOptions {
  readonly config: GptConfig;
  readonly params: Params;
  readonly optimizer: AdamW;
  /** Loss and gradients of microbatch `micro` of step `step` (1-based); deterministic in (step, micro). */
  readonly microstep: (step: number, micro: number) => ObjectiveResult | Promise<ObjectiveResult>;
  /** Microbatches per optimizer step (gradient accumulation). Default 1. */
  readonly accumulate?: number;
  /** Global-norm clip (default 1; 0 disables). */
  readonly clipNorm?: number;
}

/**
 * One model trained from gradients: microbatches → accumulated gradients → global-norm clipping →
 * AdamW; a step whose loss or gradient norm is not finite is skipped, not applied.
 */
export function gradientTrainer(o: GradientTrainerOptions): Trainer {
  const accumulate = o.accumulate ?? 1;
  const clipNorm = o.clipNorm ?? 1;
  return {
    models: { policy: { config: o.config, params: o.params, optimizer: o.optimizer } },
    async step(step) {
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
      const { lr } = finite ? o.optimizer.step(grads) : { lr: 0 };
      Object.values(grads).forEach((t) => t.dispose());
      return { step, loss, lr, gradNorm: norm, ...extra, ...(finite ? {} : { skipped: 1 }) };
    },
  };
}

export interface FusedTrainerOptions {
  readonly config: GptConfig;
  readonly params: Params;
  /** Loss, gradients, clipping (its own clipNorm) and AdamW in one compiled call. */
  readonly optimizer: FusedStep;
  /** The data inputs of step `step` (1-based); deterministic in step. */
  readonly batch: (step: number) => TensorInputs;
}

/** One model trained by a fused step (`fusedAdamW`): the whole update is one compiled call; a non-finite step is skipped inside. */
export function fusedTrainer(o: FusedTrainerOptions): Trainer {
  return {
    models: { policy: { config: o.config, params: o.params, optimizer: o.optimizer } },
    step(step) {
      const result = o.optimizer.step(o.params, o.batch(step));
      return { step, loss: result.loss, lr: result.lr, gradNorm: result.gradNorm, ...result.metrics, ...(result.skipped ? { skipped: 1 } : {}) };
    },
  };
}

function globalNorm(grads: Params): number {
  return tf.tidy(() => Math.sqrt(Object.values(grads).reduce((s, g) => s + tf.sum(tf.square(g)).dataSync()[0], 0)));
}
