/**
 * The packages the kernel is made of, found from where it runs: the ricci package it belongs to
 * (two folders up, from kernels/ricci in a checkout or dist/kernel in an installed package), its
 * entry points, and the versions of tslab and tslab's TypeScript. Reading them loads neither.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The ricci package: this repository's checkout, or node_modules/ricci in a user's project. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

interface PackageJson {
  name: string;
  version: string;
  exports: Record<string, { import?: string; default?: string; types?: string }>;
}

const packageJson = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as PackageJson;

export const PACKAGE_NAME = packageJson.name;
export const PACKAGE_VERSION = packageJson.version;

export interface EntryPoint {
  /** What a cell imports: "ricci", "ricci/nn", … */
  specifier: string;
  /** The built module behind it (absolute path). */
  file: string;
}

/** The package's entry points, from package.json's "exports": [{ specifier: "ricci", file: "<root>/dist/index.js" }, …]. */
export function entryPoints(): EntryPoint[] {
  return Object.entries(packageJson.exports).flatMap(([subpath, targets]) => {
    const target = targets.import ?? targets.default;
    if (target === undefined) return [];
    return [{ specifier: subpath === "." ? PACKAGE_NAME : `${PACKAGE_NAME}/${subpath.replace(/^\.\//, "")}`, file: join(PACKAGE_ROOT, target) }];
  });
}

const requireHere = createRequire(import.meta.url);
const requireFromTslab = createRequire(requireHere.resolve("tslab/package.json"));
const versionOf = (require: NodeJS.Require, name: string): string => (require(`${name}/package.json`) as { version: string }).version;

export const TSLAB_VERSION = versionOf(requireHere, "tslab");
/** The TypeScript that compiles cells: tslab's own fork, whatever the project's typescript is. */
export const TYPESCRIPT_VERSION = versionOf(requireFromTslab, "@tslab/typescript-for-tslab");
