/**
 * tslab's building blocks, loaded once. tslab is CommonJS; its modules are required by path, and
 * its TypeScript (a fork pinned by tslab) is required from tslab's own location so that the
 * kernel parses with exactly the compiler that compiles the cells.
 */
import { createRequire } from "node:module";

const requireHere = createRequire(import.meta.url);

export const tslabConverter = requireHere("tslab/dist/converter") as typeof import("tslab/dist/converter.js");
export const tslabExecutor = requireHere("tslab/dist/executor") as typeof import("tslab/dist/executor.js");
export const tslabInspect = requireHere("tslab/dist/inspect") as typeof import("tslab/dist/inspect.js");
/** tslab's kernel module: its `lastWriteDisplayData` is where tslab's display API sends output. */
export const tslabJupyter = requireHere("tslab/dist/jupyter") as { lastWriteDisplayData: (typeof import("tslab/dist/jupyter.js"))["lastWriteDisplayData"] | null };
export const tslabMetadata = requireHere("tslab/dist/metadata") as typeof import("tslab/dist/metadata.js");

/**
 * The compiler API as the repo's typescript types it; the object is tslab's fork (5.0), which
 * has every function the kernel calls. (package.json maps the name @tslab/typescript-for-tslab
 * at the top of node_modules to typescript itself, so that the fork, nested under tslab, does
 * not take over node_modules/.bin/tsc.)
 */
export type TypeScript = typeof import("typescript");
export const typescript = createRequire(requireHere.resolve("tslab/package.json"))("@tslab/typescript-for-tslab") as TypeScript;
