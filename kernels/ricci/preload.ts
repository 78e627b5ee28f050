/**
 * The ricci package in every session. The kernel imports the built package (dist/: `npm run
 * build` in a checkout, or the installed package), every entry point of it, then runs a hidden
 * first cell
 *
 *   import * as ricci from "ricci/all";
 *   import { variable, dot, grad, …every export… } from "ricci/all";
 *   import { display, displayHandle, clearOutput, … } from "<kernel>/cell-api.js";
 *
 * tslab type-checks it against dist/*.d.ts and cell-api.d.ts, and keeps those imports as the
 * declarations every later cell sees; at run time the kernel answers the `require`s of cells with
 * the modules it loaded itself ("ricci", "ricci/nn", …, see imports.ts) and with its display
 * functions, so cells and kernel share one ricci.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { RicciModule } from "./display.js";
import { entryPoints, PACKAGE_NAME, PACKAGE_ROOT } from "./packages.js";
import { type TypeScript } from "./tslab.js";

const KERNEL_DIR = dirname(fileURLToPath(import.meta.url));

/** What the hidden cell imports every ricci name from. */
export const PRELOAD_SPECIFIER = `${PACKAGE_NAME}/all`;
/** The built module behind it. */
export const RICCI_ENTRY = join(PACKAGE_ROOT, "dist", "entries", "all.js");
const RICCI_TYPES = RICCI_ENTRY.replace(/\.js$/, ".d.ts");
/** The cell API's module path in the hidden cell (forward slashes, as TypeScript writes it into a `require`). */
export const CELL_API_ENTRY = join(KERNEL_DIR, "cell-api.js").replaceAll("\\", "/");
const CELL_API_TYPES = join(KERNEL_DIR, "cell-api.d.ts");

/** Thrown when the package has not been built; its message says how to build it. */
export class PreloadError extends Error {
  override name = "PreloadError";
}

export interface LoadedPackage {
  /** ricci/all: every export. */
  ricci: RicciModule;
  /** Each entry point's module by specifier: "ricci" → the root module, "ricci/nn" → …, "ricci/all" → `ricci`. */
  modules: Map<string, unknown>;
}

/** Imports the built package and each of its entry points: `const { ricci, modules } = await loadRicci()`. */
export async function loadRicci(): Promise<LoadedPackage> {
  for (const file of [RICCI_ENTRY, RICCI_TYPES]) {
    if (!existsSync(file)) throw new PreloadError(`ricci is not built (${file} is missing): run \`npm run build\` in ${PACKAGE_ROOT}`);
  }
  const ricci = (await import(pathToFileURL(RICCI_ENTRY).href)) as RicciModule;
  // ricci/all imported every module already: the other entries only gather names.
  const entries = await Promise.all(entryPoints().map(async ({ specifier, file }) => [specifier, await import(pathToFileURL(file).href)] as const));
  return { ricci, modules: new Map<string, unknown>(entries) };
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * A warning when src/ or kernels/ricci/ changed after dist/ was built: the kernel runs the build,
 * not the sources. Only in a checkout (where kernels/ is): an installed package is built once,
 * and npm's extraction leaves its files' dates in no particular order.
 */
export function staleBuildWarning(): string | undefined {
  if (!existsSync(join(PACKAGE_ROOT, "kernels", "ricci"))) return undefined;
  const pairs: [sources: string, built: string][] = [
    [join(PACKAGE_ROOT, "src"), RICCI_ENTRY],
    [join(PACKAGE_ROOT, "kernels", "ricci"), join(PACKAGE_ROOT, "dist", "kernel", "main.js")],
  ];
  const stale = pairs.filter(([sources, built]) => existsSync(sources) && existsSync(built) && newestMtime(sources) > statSync(built).mtimeMs);
  if (stale.length === 0) return undefined;
  const folders = stale.map(([sources]) => `${sources.slice(PACKAGE_ROOT.length + 1)}/`).join(" and ");
  return `ricci kernel: ${folders} changed since dist/ was built; this session uses the older build. Run \`npm run build\` in ${PACKAGE_ROOT} and restart the kernel.\n`;
}

function hasModifier(ts: TypeScript, node: import("typescript").Node, kind: import("typescript").SyntaxKind): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node)?.some((m) => m.kind === kind) ?? false);
}

/** The declaration file a relative specifier of a .d.ts points to ("./a.js" → a.d.ts, "./b" → b.d.ts or b/index.d.ts). */
function declarationFile(from: string, specifier: string): string | undefined {
  const target = resolve(dirname(from), specifier).replace(/\.js$/, "");
  return [`${target}.d.ts`, join(target, "index.d.ts")].find((file) => existsSync(file));
}

/**
 * Every name a declaration file exports, types and values, following `export *` through
 * relative files: `exportedNames(ts, "dist/index.d.ts")` → ["RicciError", "Expr", "variable", …].
 * Read from the syntax alone, so it costs a parse, not a type-check.
 */
export function exportedNames(ts: TypeScript, file: string): string[] {
  const names = new Set<string>();
  const visited = new Set<string>();
  const visit = (path: string): void => {
    if (visited.has(path)) return;
    visited.add(path);
    const source = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.Latest, false);
    for (const statement of source.statements) {
      if (ts.isExportDeclaration(statement)) {
        const clause = statement.exportClause;
        const specifier = statement.moduleSpecifier;
        if (clause === undefined) {
          const target = specifier !== undefined && ts.isStringLiteral(specifier) && specifier.text.startsWith(".")
            ? declarationFile(path, specifier.text)
            : undefined;
          if (target !== undefined) visit(target);
        } else if (ts.isNamedExports(clause)) {
          for (const element of clause.elements) names.add(element.name.text);
        } else {
          names.add(clause.name.text);
        }
        continue;
      }
      if (!hasModifier(ts, statement, ts.SyntaxKind.ExportKeyword) || hasModifier(ts, statement, ts.SyntaxKind.DefaultKeyword)) continue;
      if (ts.isVariableStatement(statement)) {
        for (const declaration of statement.declarationList.declarations) {
          if (ts.isIdentifier(declaration.name)) names.add(declaration.name.text);
        }
      } else if (
        (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) || ts.isInterfaceDeclaration(statement) ||
          ts.isTypeAliasDeclaration(statement) || ts.isEnumDeclaration(statement) || ts.isModuleDeclaration(statement)) &&
        statement.name !== undefined && ts.isIdentifier(statement.name)
      ) {
        names.add(statement.name.text);
      }
    }
  };
  visit(file);
  names.delete("default");
  return [...names].sort();
}

/**
 * The hidden first cell: every ricci export, plus the kernel's display API.
 * `preludeSource(ts)` → 'import * as ricci from "ricci/all";\nimport { … } from "ricci/all";\nimport { display, … } from "…/cell-api.js";'
 */
export function preludeSource(ts: TypeScript): string {
  const apiNames = exportedNames(ts, CELL_API_TYPES);
  // The display API wins a name clash; the ricci export stays reachable as ricci.<name>.
  const ricciNames = exportedNames(ts, RICCI_TYPES).filter((name) => !apiNames.includes(name) && name !== "ricci");
  return [
    `import * as ricci from ${JSON.stringify(PRELOAD_SPECIFIER)};`,
    `import { ${ricciNames.join(", ")} } from ${JSON.stringify(PRELOAD_SPECIFIER)};`,
    `import { ${apiNames.join(", ")} } from ${JSON.stringify(CELL_API_ENTRY)};`,
  ].join("\n");
}
