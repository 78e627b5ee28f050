/**
 * Cell failures as Jupyter `error` content (ename, evalue, traceback): TypeScript diagnostics
 * from tslab's converter, values thrown at run time, and interruptions.
 */
import { inspect } from "node:util";
import type { Diagnostic } from "tslab/dist/converter.js";
import type { ErrorContent } from "./output.js";

/** ename of a cell that did not compile (the name ts-node gives the same thing). */
export const COMPILE_ERROR = "TSError";
/** ename of a cell stopped by SIGINT or an interrupt_request. */
export const INTERRUPTED = "Interrupted";

/** Diagnostics as an error: `1:7 - error TS2322: Type 'string' is not assignable to type 'number'.` plus the line and a caret. */
export function compileError(diagnostics: readonly Diagnostic[], code: string): ErrorContent {
  const lines = code.split("\n");
  const traceback: string[] = [];
  for (const d of diagnostics) {
    const where = `${d.fileName ?? "cell"}:${d.start.line + 1}:${d.start.character + 1}`;
    traceback.push(`${where} - error TS${d.code}: ${d.messageText}`);
    const source = d.fileName === undefined ? lines[d.start.line] : undefined;
    if (source !== undefined) {
      const width = d.end.line === d.start.line ? Math.max(1, d.end.character - d.start.character) : 1;
      traceback.push(`    ${source}`, `    ${" ".repeat(d.start.character)}${"~".repeat(width)}`);
    }
  }
  const first = diagnostics[0];
  const evalue = first === undefined ? "the cell did not compile" : `${first.messageText} (TS${first.code}, line ${first.start.line + 1})`;
  return { ename: COMPILE_ERROR, evalue, traceback };
}

/** Stack frames worth showing: the cell's and ricci's, not the kernel's (kernels/ricci, or dist/kernel as installed), tslab's or Node's own. */
function userFrames(stack: string | undefined): string[] {
  if (stack === undefined) return [];
  return stack
    .split("\n")
    .filter((line) => /^\s+at /.test(line))
    .filter((line) => !/node:internal|node:vm|\(node:|[\\/]node_modules[\\/]tslab[\\/]|[\\/]kernels[\\/]ricci[\\/]|[\\/]dist[\\/]kernel[\\/]/.test(line));
}

/** Was this thrown by an interruption (SIGINT during synchronous code, or tslab's asynchronous interrupt)? */
export function isInterruption(thrown: unknown): boolean {
  if (!(thrown instanceof Error)) return false;
  const code = (thrown as Error & { code?: unknown }).code;
  return code === "ERR_SCRIPT_EXECUTION_INTERRUPTED" || thrown.message === "Interrupted asynchronously";
}

export function interruptedError(): ErrorContent {
  return { ename: INTERRUPTED, evalue: "the cell was interrupted", traceback: [`${INTERRUPTED}: the cell was interrupted`] };
}

/** A thrown value as an error: `throw new RangeError("boom")` → ename RangeError, evalue boom, the stack as traceback. */
export function runtimeError(thrown: unknown): ErrorContent {
  if (isInterruption(thrown)) return interruptedError();
  if (thrown instanceof Error) {
    const ename = thrown.name || "Error";
    return { ename, evalue: thrown.message, traceback: [`${ename}: ${thrown.message}`, ...userFrames(thrown.stack)] };
  }
  const evalue = typeof thrown === "string" ? thrown : inspect(thrown);
  return { ename: "Thrown", evalue, traceback: [`Thrown (not an Error): ${evalue}`] };
}
