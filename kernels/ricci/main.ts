/**
 * Entry point of the ricci Jupyter kernel, as the kernelspec (install.ts) starts it, built:
 *   node <ricci>/dist/kernel/main.js --connection-file <file>
 */
import { CompilerWorker } from "./compiler.js";

// Starting the TypeScript compiler takes longest (seconds): its worker thread begins before the
// rest of the kernel (zeromq, tslab, ricci) loads on this one.
const compiler = new CompilerWorker();
const [{ RicciKernel }, { readConnectionFile }] = await Promise.all([import("./kernel.js"), import("./sockets.js")]);

function connectionFileArgument(argv: readonly string[]): string {
  const flag = argv.indexOf("--connection-file");
  const path = flag >= 0 ? argv[flag + 1] : argv.find((arg) => !arg.startsWith("-"));
  if (path === undefined) throw new Error("usage: main.ts --connection-file <connection file written by Jupyter>");
  return path;
}

// Training progress in a cell is ordinary output, not a warning: notebooks show stderr in a pink
// box that reads as an error (test/browser.test.ts fails on it), so it goes to stdout here.
process.env.RICCI_PROGRESS ??= "stdout";

// The kernel's own log goes to the real stderr (Jupyter's server log); cells' output is captured.
const writeLog = process.stderr.write.bind(process.stderr);
const kernel = new RicciKernel(readConnectionFile(connectionFileArgument(process.argv.slice(2))), (text) => writeLog(text), compiler);
await kernel.start();
