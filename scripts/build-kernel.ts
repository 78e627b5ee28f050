/**
 * Builds the Jupyter kernel into dist/kernel/, which ships in the package (`npm run build` runs
 * this after tsc): every kernels/ricci/*.ts transpiled to JavaScript on its own, and
 * cell-api.d.ts copied (the kernel's hidden first cell type-checks against it).
 *
 * Not tsc -p: display.ts imports ricci's types from ../../src, which tsc would compile into the
 * kernel's output as well (or refuse, outside rootDir). Transpiling file by file erases those
 * type-only imports; `tsc --noEmit -p .` type-checks kernels/ with the rest of the repository.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";

const SOURCE = "kernels/ricci";
const OUT = "dist/kernel";

mkdirSync(OUT, { recursive: true });
const sources = readdirSync(SOURCE).filter((name) => name.endsWith(".ts") && !name.endsWith(".d.ts"));
// Files are overwritten in place (a kernel may be starting from them); only leftovers of removed sources go.
const built = new Set([...sources.map((name) => name.replace(/\.ts$/, ".js")), "cell-api.d.ts"]);
for (const name of readdirSync(OUT)) if (!built.has(name)) rmSync(join(OUT, name), { recursive: true, force: true });
for (const name of sources) {
  const fileName = join(SOURCE, name);
  const { outputText, diagnostics = [] } = ts.transpileModule(readFileSync(fileName, "utf8"), {
    fileName,
    reportDiagnostics: true,
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, isolatedModules: true },
  });
  if (diagnostics.length > 0) {
    throw new Error(ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ".", getNewLine: () => "\n" }));
  }
  writeFileSync(join(OUT, name.replace(/\.ts$/, ".js")), outputText);
}
copyFileSync(join(SOURCE, "cell-api.d.ts"), join(OUT, "cell-api.d.ts"));
console.log(`built ${sources.length} kernel modules into ${OUT}/`);
