/**
 * The TRPO stage with some settings changed, from a seed's SFT checkpoint, in a folder of its
 * own: how the full-size TRPO settings were chosen (README, "How the settings were chosen").
 *
 *   npx tsx scripts/trpo-variant.ts <name> <seed> '{"maxKl":0.001,"damping":10,"steps":30}'
 *
 * needs runs/seed-<seed>/full/{pretrain,sft} (`npm run sft -- --size full --root runs/seed-<k>
 * --seed <k>`, or `npm run pipeline -- --seeds 3`) and writes runs/variants/<name>/seed-<seed>/
 * full/trpo/{metrics.jsonl, summary.json, …}; the overrides are any of TrpoSettings' fields
 * (src/pipeline/trpo.ts). Choose on the validation curve; the test number is printed too.
 */
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { resolve } from "node:path";
import { initBackend } from "../src/lower/backend.js";
import { type TrpoSettings, trpo } from "../src/pipeline/trpo.js";

const [name, seedArg, json = "{}"] = process.argv.slice(2);
const seed = Number(seedArg);
if (name === undefined || !Number.isInteger(seed)) {
  console.error("usage: tsx scripts/trpo-variant.ts <name> <seed> '<JSON of TRPO settings to change>'");
  process.exit(2);
}
const root = `runs/variants/${name}/seed-${seed}`;
mkdirSync(`${root}/full`, { recursive: true });
for (const stage of ["pretrain", "sft"]) {
  const from = resolve(`runs/seed-${seed}/full/${stage}`);
  if (!existsSync(from)) throw new Error(`${from} is missing: run the ${stage} stage for seed ${seed} first`);
  if (!existsSync(`${root}/full/${stage}`)) symlinkSync(from, `${root}/full/${stage}`);
}
await initBackend();
const summary = await trpo({ size: "full", root, seed }, JSON.parse(json) as Partial<TrpoSettings>);
const { testCorrect: _, ...numbers } = summary;
console.log(JSON.stringify(numbers));
