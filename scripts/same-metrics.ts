/**
 * Whether two pipeline runs logged the same numbers: every stage's metrics.jsonl under
 * <a>/<size> and <b>/<size>, record by record (wall-clock fields aside). Exits 1 on the first
 * difference. `npx tsx scripts/same-metrics.ts runs/ci /tmp/other/ci`.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const [a, b] = process.argv.slice(2);
if (a === undefined || b === undefined) {
  console.error("usage: npx tsx scripts/same-metrics.ts <run folder A> <run folder B>   (e.g. runs/ci /tmp/other/ci)");
  process.exit(2);
}
const records = (dir: string): Record<string, unknown>[] =>
  readFileSync(join(dir, "metrics.jsonl"), "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Record<string, unknown>);
let differences = 0;
for (const stage of readdirSync(a).filter((s) => existsSync(join(a, s, "metrics.jsonl"))).sort()) {
  if (!existsSync(join(b, stage, "metrics.jsonl"))) {
    console.log(`${stage}: only in ${a}`);
    differences++;
    continue;
  }
  const [x, y] = [records(join(a, stage)), records(join(b, stage))];
  const at = x.findIndex((r, i) => JSON.stringify(r) !== JSON.stringify(y[i]));
  if (x.length !== y.length || at >= 0) {
    differences++;
    console.log(`${stage}: differs (${x.length} vs ${y.length} records${at >= 0 ? `; first at record ${at}: ${JSON.stringify(x[at])} vs ${JSON.stringify(y[at])}` : ""})`);
  } else console.log(`${stage}: identical (${x.length} records)`);
}
process.exit(differences === 0 ? 0 : 1);
