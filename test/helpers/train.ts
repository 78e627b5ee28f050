/** Test helper: a few AdamW steps (no weight decay) on one fixed batch. */
import type { Params } from "../../src/nn/params.js";
import { adamW } from "../../src/train/optimizer.js";

/** Runs `steps` AdamW steps at `lr`, each on the gradients `run(params)` returns (disposed after). */
export function trainSteps(params: Params, steps: number, lr: number, run: (p: Params) => { grads: Params }): void {
  const optimizer = adamW(params, { lr, weightDecay: 0 });
  for (let i = 0; i < steps; i++) {
    const { grads } = run(params);
    optimizer.step(grads);
    Object.values(grads).forEach((g) => g.dispose());
  }
}
