/**
 * `ricci/train`: AdamW and its fused one-graph step, schedules, clipping, accumulation,
 * checkpoints, the training loop and its progress line, training-curve charts.
 */
export * from "../train/index.js";
export * from "../viz/index.js";
