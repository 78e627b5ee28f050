/**
 * A TypeScript session on tslab: its converter compiles a cell against the declarations of the
 * cells before it, its executor runs the JavaScript in this process. This wrapper adds what the
 * Jupyter protocol needs and tslab's own kernel lacks: the cell's last value (for execute_result),
 * structured errors, interruption at a safe point, and positions in Unicode code points.
 */
import { format } from "node:util";
import type { CompletionInfo, Converter, ConvertResult, Diagnostic } from "tslab/dist/converter.js";
import type { ConverterSet, Executor } from "tslab/dist/executor.js";
import type { CodeMetadata } from "tslab/dist/metadata.js";
import { compileError, interruptedError, isInterruption, runtimeError } from "./errors.js";
import type { ErrorContent } from "./output.js";
import { tslabConverter, tslabExecutor, tslabInspect, tslabMetadata, typescript } from "./tslab.js";

/** How a cell ended; on success, `result` is what `present` made of its last value (none if it had none). */
export type CellOutcome<T> =
  | { status: "ok"; result: T | undefined; warnings: string }
  | { status: "error"; error: ErrorContent };

export interface IsCompleteReply {
  status: "complete" | "incomplete" | "invalid";
  indent?: string;
}

export interface Completion {
  matches: string[];
  cursorStart: number;
  cursorEnd: number;
}

/** A cell's position in code points (what Jupyter counts) as a UTF-16 offset (what JavaScript counts). */
export function codePointsToUtf16(text: string, codePoints: number): number {
  let offset = 0;
  for (let n = 0; n < codePoints && offset < text.length; n++) offset += text.codePointAt(offset)! > 0xffff ? 2 : 1;
  return offset;
}

export function utf16ToCodePoints(text: string, offset: number): number {
  return [...text.slice(0, offset)].length;
}

/**
 * tslab's converter, keeping one compiled cell: the runtime compiles a cell itself (the slow
 * part), checks for an interrupt, then lets the executor run it, whose convert() call gets the
 * same result back. It also learns the executor's declarations of earlier cells from its calls.
 */
class PrecompilingConverter implements Converter {
  /** Declarations of earlier cells, as the executor keeps them. */
  prevDecl = "";
  /** The result the executor's last convert() call got. */
  lastResult: ConvertResult | undefined;
  private precompiled: { prevDecl: string; src: string; result: ConvertResult } | undefined;

  constructor(private readonly inner: Converter) {}

  forgetLastResult(): void {
    this.lastResult = undefined;
  }

  precompile(src: string): ConvertResult {
    const result = this.inner.convert(this.prevDecl, src);
    this.precompiled = { prevDecl: this.prevDecl, src, result };
    return result;
  }

  convert(prevDecl: string, src: string): ConvertResult {
    this.prevDecl = prevDecl;
    const cached = this.precompiled;
    this.precompiled = undefined;
    const hit = cached !== undefined && cached.prevDecl === prevDecl && cached.src === src;
    this.lastResult = hit ? cached.result : this.inner.convert(prevDecl, src);
    return this.lastResult;
  }

  inspect(prevDecl: string, src: string, position: number): ReturnType<Converter["inspect"]> {
    this.prevDecl = prevDecl;
    return this.inner.inspect(prevDecl, src, position);
  }

  complete(prevDecl: string, src: string, position: number): CompletionInfo {
    this.prevDecl = prevDecl;
    return this.inner.complete(prevDecl, src, position);
  }

  addModule(name: string, content: string, meta?: CodeMetadata): Diagnostic[] {
    return this.inner.addModule(name, content, meta);
  }

  close(): void {
    this.inner.close();
  }
}

/** What tslab's executor prints: the last value through log(), failures through error(). */
class CapturedConsole {
  hasValue = false;
  value: unknown = undefined;
  readonly errors: unknown[][] = [];

  log(value?: unknown): void {
    this.hasValue = true;
    this.value = value;
  }

  error(...args: unknown[]): void {
    this.errors.push(args);
  }

  /** The one value the executor caught from running the cell, if that is what failed. */
  thrown(): { value: unknown } | undefined {
    const single = this.errors.find((args) => args.length === 1);
    return single === undefined ? undefined : { value: single[0] };
  }

  text(): string {
    return this.errors.map((args) => `${format(...args)}\n`).join("");
  }
}

class CellInterrupted extends Error {
  constructor() {
    super("Interrupted asynchronously");
  }
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";

/** One event-loop turn: the poll phase reads pending signals, so a SIGINT sent during compilation is handled. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Runtime {
  private readonly converter: PrecompilingConverter;
  private readonly executor: Executor;
  private console = new CapturedConsole();
  private running = false;
  private interrupted = false;
  private rejectOnInterrupt: ((reason: Error) => void) | undefined;

  /** Creates tslab's converter (seconds: it loads the TypeScript libraries) and executor in `rootDir`. */
  constructor(rootDir: string) {
    this.converter = new PrecompilingConverter(tslabConverter.createConverter({ isJS: false, isBrowser: false }));
    let browser: Converter | undefined;
    const converters: ConverterSet = {
      node: this.converter,
      get browser() {
        return (browser ??= tslabConverter.createConverter({ isJS: false, isBrowser: true }));
      },
      close: () => {
        this.converter.close();
        browser?.close();
      },
    };
    const console = { log: (value?: unknown) => this.console.log(value), error: (...args: unknown[]) => this.console.error(...args) };
    this.executor = tslabExecutor.createExecutor(rootDir, converters, console);
  }

  /**
   * Makes `require(specifier)` in cells return the given module objects (the executor puts its
   * require on globalThis.__tslab__, which every compiled cell calls).
   */
  provideModules(modules: ReadonlyMap<string, unknown>): void {
    const tslabGlobal = (globalThis as unknown as { __tslab__: { require: NodeJS.Require } }).__tslab__;
    tslabGlobal.require = new Proxy(tslabGlobal.require, {
      apply: (target, thisArg, args: unknown[]) =>
        typeof args[0] === "string" && modules.has(args[0]) ? modules.get(args[0]) : Reflect.apply(target, thisArg, args),
    });
  }

  /**
   * Compiles and runs a cell, then hands its last value (awaited if a promise) to `present`, all
   * interruptible: `await runtime.execute("1 + 1", async (v) => String(v))` → { status: "ok", result: "2" }.
   */
  async execute<T>(code: string, present: (value: unknown) => Promise<T>): Promise<CellOutcome<T>> {
    this.console = new CapturedConsole();
    this.running = true;
    this.interrupted = false;
    const interruption = new Promise<never>((_, reject) => (this.rejectOnInterrupt = reject));
    interruption.catch(() => undefined);
    try {
      const meta = tslabMetadata.getCodeMetadata(code);
      if (meta.module === undefined && meta.mode !== "browser") {
        const compiled = this.converter.precompile(code);
        if (compiled.diagnostics.length > 0) return { status: "error", error: compileError(compiled.diagnostics, code) };
        // A SIGINT that arrived while compiling is still queued: let its handler run now, because
        // once the cell runs only a signal sent during the run can stop a synchronous loop.
        await nextTurn();
        await nextTurn();
        if (this.interrupted) return { status: "error", error: interruptedError() };
      }
      this.converter.forgetLastResult();
      const ok = await this.executor.execute(code);
      const converted = this.converter.lastResult;
      if (!ok) return { status: "error", error: this.failure(code, converted) };
      if (converted !== undefined && converted.diagnostics.length === 0) this.converter.prevDecl = converted.declOutput ?? "";
      const warnings = this.console.text();
      if (!this.console.hasValue) return { status: "ok", result: undefined, warnings };
      try {
        const value = this.console.value;
        const settled = isThenable(value) ? await Promise.race([value, interruption]) : value;
        return { status: "ok", result: await Promise.race([present(settled), interruption]), warnings };
      } catch (error) {
        return { status: "error", error: error instanceof CellInterrupted ? interruptedError() : runtimeError(error) };
      }
    } finally {
      this.running = false;
      this.rejectOnInterrupt = undefined;
    }
  }

  /** Stops the running cell: a synchronous one through SIGINT itself, an awaiting one here. */
  interrupt(): void {
    if (!this.running) return;
    this.interrupted = true;
    this.executor.interrupt();
    this.rejectOnInterrupt?.(new CellInterrupted());
  }

  private failure(code: string, converted: ConvertResult | undefined): ErrorContent {
    const thrown = this.console.thrown();
    if (thrown !== undefined) return isInterruption(thrown.value) || thrown.value instanceof CellInterrupted ? interruptedError() : runtimeError(thrown.value);
    if (converted !== undefined && converted.diagnostics.length > 0) return compileError(converted.diagnostics, code);
    const text = this.console.text().trim();
    return { ename: "Error", evalue: text.split("\n")[0] ?? "the cell failed", traceback: text.split("\n") };
  }

  /** Completions at a cursor given in code points. */
  complete(code: string, cursor: number): Completion {
    const info = this.executor.complete(code, codePointsToUtf16(code, cursor));
    return {
      matches: info.candidates,
      cursorStart: utf16ToCodePoints(code, info.start),
      cursorEnd: utf16ToCodePoints(code, info.end),
    };
  }

  /** The type and documentation of the name at a cursor (code points), as text; undefined if none. */
  inspect(code: string, cursor: number): string | undefined {
    const info = this.executor.inspect(code, codePointsToUtf16(code, cursor));
    return info === undefined ? undefined : tslabInspect.printQuickInfo(info);
  }

  /**
   * complete / incomplete (the line needs more, with the indent to continue at) / invalid
   * (a syntax error that more lines cannot fix).
   */
  isComplete(code: string): IsCompleteReply {
    const tslab = tslabConverter.isCompleteCode(code);
    if (!tslab.completed) return { status: "incomplete", indent: tslab.indent ?? "" };
    const { diagnostics = [] } = typescript.transpileModule(code, {
      fileName: "cell.ts",
      reportDiagnostics: true,
      compilerOptions: { target: typescript.ScriptTarget.ES2022 },
    });
    return diagnostics.length > 0 ? { status: "invalid" } : { status: "complete" };
  }

  close(): void {
    this.executor.close();
  }
}
