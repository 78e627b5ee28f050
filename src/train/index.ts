/** The training stack: optimizer, schedules, gradient clipping and accumulation, checkpoints. */
export * from "./optimizer.js";
export * from "./fusedStep.js";
export * from "./checkpoint.js";
export * from "./objective.js";
export * from "./trainer.js";
export * from "./loop.js";
export * from "./progress.js";
