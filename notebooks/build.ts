/** Builds notebooks/*.ipynb from notebooks/src/*.ts: `npm run notebooks:build`. */
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Cell, toIpynb } from "./src/notebook.js";

const here = new URL(".", import.meta.url).pathname;
for (const file of readdirSync(join(here, "src")).filter((f) => /^\d\d-.*\.ts$/.test(f)).sort()) {
  const cells = (await import(`./src/${file}`)).default as Cell[];
  const out = join(here, file.replace(/\.ts$/, ".ipynb"));
  writeFileSync(out, `${JSON.stringify(toIpynb(cells), null, 1)}\n`);
  console.log(`wrote ${out} (${cells.length} cells)`);
}
