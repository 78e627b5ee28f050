/**
 * Registers the ricci kernel with Jupyter: writes `kernels/<name>/kernel.json` into the user's
 * Jupyter data directory (JUPYTER_DATA_DIR, else the platform's), or under
 * `<prefix>/share/jupyter` with --prefix, as ipykernel does. Nothing global is installed: the
 * kernelspec runs this package's built kernel (dist/kernel/main.js) with this node, by absolute
 * path, so a project that installed ricci gets a kernel that runs from its own node_modules.
 *
 *   npx ricci kernel install                       # in a project that depends on ricci
 *   npm run kernel:install                         # in this repository (builds first)
 *   npx ricci kernel install --prefix /tmp/j       # then JUPYTER_PATH=/tmp/j/share/jupyter
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { PACKAGE_ROOT } from "./packages.js";

export const KERNEL_NAME = "ricci";

export interface KernelSpec {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode: "signal";
  metadata: { debugger: boolean };
}

/** The built kernel's entry point in this package. */
export const KERNEL_ENTRY = join(PACKAGE_ROOT, "dist", "kernel", "main.js");

/** The kernelspec for this package: `node <package>/dist/kernel/main.js --connection-file {connection_file}`. */
export function kernelSpec(name: string = KERNEL_NAME): KernelSpec {
  return {
    argv: [process.execPath, KERNEL_ENTRY, "--connection-file", "{connection_file}"],
    display_name: name === KERNEL_NAME ? "ricci (TypeScript)" : `ricci (TypeScript, ${name})`,
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

export interface InstallOptions {
  /** Install under `<prefix>/share/jupyter` instead of the user's data directory. */
  prefix?: string;
  /** The kernel's name (its folder, and what notebooks record): "ricci" unless given. */
  name?: string;
}

/** Writes the kernelspec and returns its directory: `installKernelSpec({ prefix: "/tmp/j" })` → "/tmp/j/share/jupyter/kernels/ricci". */
export function installKernelSpec(options: InstallOptions = {}): string {
  if (!existsSync(KERNEL_ENTRY)) {
    throw new Error(`the kernel is not built (${KERNEL_ENTRY} is missing): run \`npm run build\` in ${PACKAGE_ROOT}`);
  }
  const name = options.name ?? KERNEL_NAME;
  const dataDir = options.prefix === undefined ? userDataDir() : join(resolve(options.prefix), "share", "jupyter");
  const dir = join(dataDir, "kernels", name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "kernel.json"), `${JSON.stringify(kernelSpec(name), null, 2)}\n`);
  return dir;
}

export const INSTALL_USAGE = "usage: ricci kernel install [--user | --prefix <dir>] [--name <name>]";

/** `ricci kernel install`'s arguments: `parseInstallArguments(["--prefix", "/tmp/j"])` → { prefix: "/tmp/j" }. */
export function parseInstallArguments(argv: readonly string[]): InstallOptions {
  const options: InstallOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = (): string => {
      const given = inline ?? argv[++i];
      if (given === undefined || given === "") throw new Error(`${flag} needs a value\n${INSTALL_USAGE}`);
      return given;
    };
    if (flag === "--user") delete options.prefix;
    else if (flag === "--prefix") options.prefix = value();
    else if (flag === "--name") options.name = value();
    else throw new Error(`unknown argument "${arg}"\n${INSTALL_USAGE}`);
  }
  if (options.name !== undefined && !/^[A-Za-z0-9._-]+$/.test(options.name)) throw new Error(`--name "${options.name}": use letters, digits, ".", "_" and "-"`);
  return options;
}

/** Runs `ricci kernel install <argv>` and returns what to tell the user. */
export function installCommand(argv: readonly string[]): string {
  const options = parseInstallArguments(argv);
  const dir = installKernelSpec(options);
  const findIt = options.prefix === undefined ? "" : `\nPoint Jupyter at it with JUPYTER_PATH=${join(resolve(options.prefix), "share", "jupyter")}`;
  return `Installed the "${options.name ?? KERNEL_NAME}" kernelspec in ${dir}${findIt}`;
}
