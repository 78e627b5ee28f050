/**
 * How a cell's imports resolve. tslab compiles cells in the notebook's folder (the kernel's
 * working directory) with node10-style resolution and runs them with a require() from that
 * folder, so packages installed next to the notebook resolve by themselves, and tslab answers
 * "tslab" itself. "ricci" (and ricci/nn, ricci/all, …) must be the copy the kernel belongs to,
 * wherever the notebook is: in a project with node_modules/ricci, in this repository's notebooks/
 * (no node_modules/ricci there), or in a folder of its own.
 *
 *  - Types: `<cwd>/node_modules/ricci/…` reads as the kernel's package (tslab does the same for
 *    `<cwd>/node_modules/tslab`), and its real path is the package's own, so declarations reached
 *    through "ricci" and through the preloaded names are one set of files: one `Expr`, not two.
 *  - Values: the runtime answers require("ricci…") with the modules the kernel loaded
 *    (Runtime.provideModules).
 */
import { isAbsolute, join, relative } from "node:path";
import type { System } from "typescript";
import { PACKAGE_NAME, PACKAGE_ROOT } from "./packages.js";

/** The kernel's package path for a path under `<cwd>/node_modules/ricci`, else undefined. */
export function packagePathFor(path: string, cwd: string): string | undefined {
  const rel = relative(join(cwd, "node_modules", PACKAGE_NAME), path);
  if (rel.startsWith("..") || isAbsolute(rel)) return undefined;
  return join(PACKAGE_ROOT, rel);
}

/**
 * Makes TypeScript's file system (the `sys` that tslab's converter builds on) show the kernel's
 * package at `<cwd>/node_modules/ricci`. Call before creating a converter.
 */
export function showPackageToCells(sys: System, cwd: string): void {
  const forwarded = <Rest extends unknown[], Result>(original: (path: string, ...rest: Rest) => Result) =>
    (path: string, ...rest: Rest): Result => original.call(sys, packagePathFor(path, cwd) ?? path, ...rest);
  sys.fileExists = forwarded(sys.fileExists);
  sys.directoryExists = forwarded(sys.directoryExists);
  sys.readFile = forwarded(sys.readFile);
  sys.getDirectories = forwarded(sys.getDirectories);
  const realpath = sys.realpath;
  if (realpath !== undefined) sys.realpath = forwarded(realpath);
}
