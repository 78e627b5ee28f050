/** Builds notebooks/*.ipynb from notebooks/src/*.ts: `npm run notebooks:build`. */
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Cell, toIpynb } from "./src/notebook.js";

const here = new URL(".", import.meta.url).pathname;

/** Each notebook's file name (NN-name.ipynb) and its unexecuted .ipynb JSON, from notebooks/src. */
export async function builtNotebooks(): Promise<{ name: string; notebook: object }[]> {
  const files = readdirSync(join(here, "src")).filter((f) => /^\d\d-.*\.ts$/.test(f)).sort();
  return Promise.all(files.map(async (file) => {
    const cells = (await import(`./src/${file}`)).default as Cell[];
    return { name: file.replace(/\.ts$/, ".ipynb"), notebook: toIpynb(cells) };
  }));
}

/** Writes every notebook, unexecuted, to notebooks/ (`npm run notebooks:ship` then adds the outputs). */
export async function buildNotebooks(): Promise<void> {
  for (const { name, notebook } of await builtNotebooks()) {
    const out = join(here, name);
    writeFileSync(out, `${JSON.stringify(notebook, null, 1)}\n`);
    console.log(`wrote ${out}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await buildNotebooks();
