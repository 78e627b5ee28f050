/**
 * Where a full-size TRPO step's time goes, kernel by kernel, with the full-size settings
 * (src/pipeline/trpo.ts) from seed 0's SFT checkpoint; the first of 6 steps compiles and is not
 * counted. `RICCI_THREADS=1 npx tsx scripts/trpo-profile.ts [cgIterations]`.
 */
import { initBackend } from "../src/lower/backend.js";
import { SIZES } from "../src/pipeline/sizes.js";
import { trainSideProblems } from "../src/pipeline/stage.js";
import { TRPO_SETTINGS } from "../src/pipeline/trpo.js";
import { type TrpoKernels, trpoKernels, trpoRollout, trpoStep } from "../src/rl/trpo.js";
import { loadCheckpoint } from "../src/train/checkpoint.js";

await initBackend();
const s = { ...TRPO_SETTINGS.full, ...(process.argv[2] === undefined ? {} : { cgIterations: Number(process.argv[2]) }) };
const { model, task } = SIZES.full;
const params = (await loadCheckpoint("runs/seed-0/full/sft/checkpoint.ckpt", { expectConfig: model })).params;
const problems = trainSideProblems(task, s.trainProblems);
const batch = s.promptsPerStep * s.groupSize;
const k = trpoKernels(model, batch, s.fisherBatch ?? batch);
const ms: Record<string, number> = {};
const timed = <A extends unknown[], R>(name: string, f: (...a: A) => R) => (...a: A): R => {
  const t = performance.now();
  try {
    return f(...a);
  } finally {
    ms[name] = (ms[name] ?? 0) + performance.now() - t;
  }
};
const kernels: TrpoKernels = {
  ...k,
  gradient: timed("gradient", k.gradient),
  fisherVector: timed(`F·v on ${s.fisherBatch ?? batch} rows`, k.fisherVector),
  fullFisherVector: timed(`F·v on all ${batch} rows`, k.fullFisherVector),
  logits: timed("old logits", k.logits),
  trial: timed("line-search trials", k.trial),
};
const steps = 5;
for (let i = 0; i <= steps; i++) {
  const t = performance.now();
  const rollout = await trpoRollout(model, params, problems, { ...s, fisherBatch: undefined, seed: 0 }, i);
  ms.sampling = (ms.sampling ?? 0) + performance.now() - t;
  timed("whole step", () => trpoStep(kernels, params, rollout.data, s))();
  if (i === 0) for (const key of Object.keys(ms)) ms[key] = 0;
}
console.log(`TRPO at --size full (cg ${s.cgIterations}): ms per step, mean of ${steps}`, Object.fromEntries(Object.entries(ms).map(([n, v]) => [n, Math.round(v / steps)])));
