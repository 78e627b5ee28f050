/** A GPT's forward pass as a standalone ONNX file: weights and RoPE tables baked in, token ids in, logits out. */
import { exportOnnx, type ExportedModel } from "../lower/onnx/export.js";
import { type GptConfig, gptConstants, gptData, gptForward, gptParams } from "./gpt.js";
import type { Params } from "./params.js";

export interface GptExportOptions {
  /** Rows per call (the model's input is tokens [batch, seq] int64). */
  readonly batch: number;
  /** Sequence length, ≤ the context (default the context). */
  readonly seq?: number;
}

/**
 * Writes `params`' forward pass to `path`: `await exportGpt("policy.onnx", config, params, { batch: 1 })`;
 * input `tokens` [batch, seq] (int64), output `logits` [batch, seq, vocab] (or `score` for a scalar head).
 */
export function exportGpt(path: string, config: GptConfig, params: Params, options: GptExportOptions): Promise<ExportedModel> {
  const seq = options.seq ?? config.context;
  const data = gptData(config, options.batch, seq);
  const output = (config.head ?? "lm") === "scalar" ? "score" : "logits";
  return exportOnnx(path, { [output]: gptForward(config, gptParams(config), data) }, { constants: { ...gptConstants(config, seq), ...params } });
}
