/**
 * The ricci package in every session. The kernel imports the built package (dist/, which
 * `npm ci` builds through the `prepare` script), then runs a hidden first cell
 *
 *   import * as ricci from "<repo>/dist/entries/all.js";
 *   import { variable, dot, grad, …every export… } from "<repo>/dist/entries/all.js";
 *   import { display, displayHandle, clearOutput, … } from "<repo>/kernels/ricci/cell-api.js";
 *
 * tslab type-checks it against dist/*.d.ts and cell-api.d.ts, and keeps those imports as the
 * declarations every later cell sees; at run time the kernel answers those two `require`s with
 * the module it loaded itself and with its display functions, so cells and kernel share one ricci.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { RicciModule } from "./display.js";
import { type TypeScript } from "./tslab.js";

const KERNEL_DIR = dirname(fileURLToPath(import.meta.url));
/** The checkout this kernel belongs to. */
export const REPO_ROOT = resolve(KERNEL_DIR, "..", "..");

/** Module paths of the hidden cell; forward slashes, as TypeScript writes them into `require` calls. */
export const RICCI_ENTRY = join(REPO_ROOT, "dist", "entries", "all.js").replaceAll("\\", "/");
const RICCI_TYPES = join(REPO_ROOT, "dist", "entries", "all.d.ts");
export const CELL_API_ENTRY = join(KERNEL_DIR, "cell-api.js").replaceAll("\\", "/");
const CELL_API_TYPES = join(KERNEL_DIR, "cell-api.d.ts");

/** Thrown when the package has not been built; its message says how to build it. */
export class PreloadError extends Error {
  override name = "PreloadError";
}

/** Imports the built package: `const ricci = await loadRicci()`. */
export async function loadRicci(): Promise<RicciModule> {
  for (const file of [RICCI_ENTRY, RICCI_TYPES]) {
    if (!existsSync(file)) throw new PreloadError(`ricci is not built (${file} is missing): run \`npm run build\` in ${REPO_ROOT}`);
  }
  return (await import(pathToFileURL(RICCI_ENTRY).href)) as RicciModule;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** A warning when src/ changed after dist/ was built (the kernel runs the build, not the sources). */
export function staleBuildWarning(): string | undefined {
  const sources = join(REPO_ROOT, "src");
  if (!existsSync(sources) || !existsSync(RICCI_ENTRY) || !existsSync(RICCI_TYPES)) return undefined;
  const built = Math.min(statSync(RICCI_ENTRY).mtimeMs, statSync(RICCI_TYPES).mtimeMs);
  if (newestMtime(sources) <= built) return undefined;
  return `ricci kernel: src/ has changed since dist/ was built; this session uses the older build. Run \`npm run build\` in ${REPO_ROOT} and restart the kernel.\n`;
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

export interface Prelude {
  /** The hidden first cell. */
  source: string;
  /** What its `require`s resolve to at run time, by specifier. */
  modules: Map<string, unknown>;
}

/** The hidden first cell and the modules behind it: every ricci export, plus the kernel's display API. */
export function prelude(ts: TypeScript, ricci: RicciModule, cellApi: unknown): Prelude {
  const apiNames = exportedNames(ts, CELL_API_TYPES);
  // The display API wins a name clash; the ricci export stays reachable as ricci.<name>.
  const ricciNames = exportedNames(ts, RICCI_TYPES).filter((name) => !apiNames.includes(name) && name !== "ricci");
  const source = [
    `import * as ricci from ${JSON.stringify(RICCI_ENTRY)};`,
    `import { ${ricciNames.join(", ")} } from ${JSON.stringify(RICCI_ENTRY)};`,
    `import { ${apiNames.join(", ")} } from ${JSON.stringify(CELL_API_ENTRY)};`,
  ].join("\n");
  return { source, modules: new Map<string, unknown>([[RICCI_ENTRY, ricci], [CELL_API_ENTRY, cellApi]]) };
}
