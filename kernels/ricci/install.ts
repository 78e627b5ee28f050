/**
 * Registers the ricci kernel with Jupyter: writes `kernels/ricci/kernel.json` into the user's
 * Jupyter data directory, or under `<prefix>/share/jupyter` with --prefix. Nothing global is
 * installed; the kernelspec points at this checkout's node, tsx and kernel entry by absolute path.
 *
 *   npm run kernel:install                      # for the current user
 *   npm run kernel:install -- --prefix /tmp/j   # then JUPYTER_PATH=/tmp/j/share/jupyter
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const KERNEL_NAME = "ricci";

export interface KernelSpec {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode: "signal";
  metadata: { debugger: boolean };
}

const KERNEL_ENTRY = join(dirname(fileURLToPath(import.meta.url)), "main.ts");
/** tsx's ESM loader, which lets node run the kernel's TypeScript directly. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm")).href;

/** The kernelspec for this checkout: node runs main.ts with tsx's ESM loader. */
export function kernelSpec(): KernelSpec {
  return {
    argv: [process.execPath, "--import", TSX_LOADER, KERNEL_ENTRY, "--connection-file", "{connection_file}"],
    display_name: "ricci (TypeScript)",
    language: "typescript",
    // SIGINT stops even a synchronous `while (true) {}` (tslab runs cells with breakOnSigint);
    // an interrupt_request could not be read while such a loop holds the thread.
    interrupt_mode: "signal",
    metadata: { debugger: false },
  };
}

/** Jupyter's per-user data directory, as jupyter_core computes it. */
export function userDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.JUPYTER_DATA_DIR) return env.JUPYTER_DATA_DIR;
  if (platform === "darwin") return join(homedir(), "Library", "Jupyter");
  if (platform === "win32") return join(env.APPDATA ?? join(homedir(), "AppData", "Roaming"), "jupyter");
  return join(env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "jupyter");
}

/** Writes the kernelspec and returns its directory: `installKernelSpec({ prefix: "/tmp/j" })` → "/tmp/j/share/jupyter/kernels/ricci". */
export function installKernelSpec(target: { prefix?: string } = {}): string {
  const dataDir = target.prefix === undefined ? userDataDir() : join(resolve(target.prefix), "share", "jupyter");
  const dir = join(dataDir, "kernels", KERNEL_NAME);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "kernel.json"), `${JSON.stringify(kernelSpec(), null, 2)}\n`);
  return dir;
}

function parseArguments(argv: readonly string[]): { prefix?: string } {
  const usage = "usage: npm run kernel:install [-- --user | --prefix <dir>]";
  let prefix: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--user") prefix = undefined;
    else if (arg === "--prefix" && argv[i + 1] !== undefined) prefix = argv[++i];
    else if (arg.startsWith("--prefix=")) prefix = arg.slice("--prefix=".length);
    else throw new Error(`unknown argument "${arg}"\n${usage}`);
  }
  return { prefix };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const options = parseArguments(process.argv.slice(2));
  const dir = installKernelSpec(options);
  const findIt = options.prefix === undefined ? "" : ` (point Jupyter at it with JUPYTER_PATH=${join(resolve(options.prefix), "share", "jupyter")})`;
  console.log(`Installed the "${KERNEL_NAME}" kernelspec in ${dir}${findIt}`);
}
