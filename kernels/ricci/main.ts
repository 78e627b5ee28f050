/**
 * Entry point of the ricci Jupyter kernel, as the kernelspec (install.ts) starts it, built:
 *   node <ricci>/dist/kernel/main.js --connection-file <file>
 */
import { RicciKernel } from "./kernel.js";
import { readConnectionFile } from "./sockets.js";

function connectionFileArgument(argv: readonly string[]): string {
  const flag = argv.indexOf("--connection-file");
  const path = flag >= 0 ? argv[flag + 1] : argv.find((arg) => !arg.startsWith("-"));
  if (path === undefined) throw new Error("usage: main.ts --connection-file <connection file written by Jupyter>");
  return path;
}

// The kernel's own log goes to the real stderr (Jupyter's server log); cells' output is captured.
const writeLog = process.stderr.write.bind(process.stderr);
const kernel = new RicciKernel(readConnectionFile(connectionFileArgument(process.argv.slice(2))), (text) => {
  writeLog(text);
});
await kernel.start();
