/**
 * A TypeScript session on tslab: its converter compiles a cell against the declarations of the
 * cells before it (in a worker thread, see compiler.ts), its executor runs the JavaScript in this
 * process. This wrapper adds what the Jupyter protocol needs and tslab's own kernel lacks: the
 * cell's last value (for execute_result), structured errors, interruption at a safe point,
 * positions in Unicode code points, and tslab's display API (`import * as tslab from "tslab"`).
 */
import { format } from "node:util";
import type { CompletionInfo, Converter, ConvertResult, Diagnostic } from "tslab/dist/converter.js";
import type { ConverterSet, Executor } from "tslab/dist/executor.js";
import type { CodeMetadata } from "tslab/dist/metadata.js";
import type { MimeBundle } from "./cell-api.js";
import { CompilerWorker } from "./compiler.js";
import { compileError, interruptedError, isInterruption, runtimeError } from "./errors.js";
import type { ErrorContent } from "./output.js";
import { tslabConverter, tslabExecutor, tslabInspect, tslabJupyter, tslabMetadata, typescript } from "./tslab.js";

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
 * tslab's converter, keeping compiled cells: the runtime compiles a cell itself, in the worker
 * and without blocking (the slow part), checks for an interrupt, then lets the executor run it,
 * whose convert() call gets the same result back. It also learns the executor's declarations of
 * earlier cells from its calls.
 */
class PrecompilingConverter implements Converter {
  /** Declarations of earlier cells, as the executor keeps them. */
  prevDecl = "";
  /** The result the executor's last convert() call got. */
  lastResult: ConvertResult | undefined;
  private readonly precompiled: { prevDecl: string; src: string; result: Promise<ConvertResult>; settled?: ConvertResult }[] = [];

  constructor(
    private readonly inner: Converter,
    private readonly convertAsync: (prevDecl: string, src: string) => Promise<ConvertResult>,
  ) {}

  forgetLastResult(): void {
    this.lastResult = undefined;
  }

  /** Compiles `src` after the current declarations, or returns the compilation already under way. */
  precompile(src: string): Promise<ConvertResult> {
    const prevDecl = this.prevDecl;
    const known = this.precompiled.find((p) => p.prevDecl === prevDecl && p.src === src);
    if (known !== undefined) return known.result;
    const entry: (typeof this.precompiled)[number] = { prevDecl, src, result: this.convertAsync(prevDecl, src) };
    entry.result.then((result) => (entry.settled = result), () => undefined);
    this.precompiled.push(entry);
    return entry.result;
  }

  discardPrecompiled(): void {
    this.precompiled.length = 0;
  }

  convert(prevDecl: string, src: string): ConvertResult {
    this.prevDecl = prevDecl;
    const hit = this.precompiled.find((p) => p.prevDecl === prevDecl && p.src === src)?.settled;
    // Each compilation serves one run; the next cell compiles against new declarations anyway.
    this.discardPrecompiled();
    this.lastResult = hit ?? this.inner.convert(prevDecl, src);
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

/** What tslab's `display` functions send: a one-type bundle, and the display id of an area updated in place. */
export interface TslabDisplay {
  bundle: MimeBundle;
  displayId?: string;
  update: boolean;
}

export class Runtime {
  private readonly converter: PrecompilingConverter;
  private readonly executor: Executor;
  private console = new CapturedConsole();
  private running = false;
  private interrupted = false;
  private rejectOnInterrupt: ((reason: Error) => void) | undefined;

  /**
   * Uses tslab's converter in `compiler`'s worker (started here unless given: seconds of work
   * there, loading the TypeScript libraries) and creates the executor in `rootDir`, from which
   * cells' imports resolve.
   */
  constructor(rootDir: string, compiler: CompilerWorker = new CompilerWorker()) {
    this.converter = new PrecompilingConverter(compiler.converter(false), (prevDecl, src) => compiler.convertAsync(prevDecl, src));
    const converters: ConverterSet = { node: this.converter, browser: compiler.converter(true), close: () => compiler.close() };
    const console = { log: (value?: unknown) => this.console.log(value), error: (...args: unknown[]) => this.console.error(...args) };
    this.executor = tslabExecutor.createExecutor(rootDir, converters, console);
  }

  /** Starts compiling the cell that will run next, so that execute(code) finds it (or part of it) done. */
  prepare(code: string): void {
    this.converter.precompile(code).catch(() => undefined);
  }

  /**
   * Sends what cells show through tslab's API (`tslab.display.html("<b>hi</b>")`, which tslab
   * addresses to its own kernel) to `show`.
   */
  routeTslabDisplays(show: (display: TslabDisplay) => void): void {
    tslabJupyter.lastWriteDisplayData = ({ data, transient }, update) => {
      const displayId = (transient as { display_id?: unknown } | undefined)?.display_id;
      show({ bundle: data as MimeBundle, ...(typeof displayId === "string" ? { displayId } : {}), update });
    };
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
        // The worker compiles while this thread stays free: a SIGINT meanwhile is handled at once
        // and stops the cell before it runs (once it runs, only a signal sent during the run can
        // stop a synchronous loop).
        const compiled = await Promise.race([this.converter.precompile(code), interruption]).catch((error: unknown) => {
          if (error instanceof CellInterrupted) return undefined;
          throw error;
        });
        if (compiled === undefined || this.interrupted) return { status: "error", error: interruptedError() };
        if (compiled.diagnostics.length > 0) {
          // Not kept for a second run: a local module the cell imports may be fixed meanwhile.
          this.converter.discardPrecompiled();
          return { status: "error", error: compileError(compiled.diagnostics, code) };
        }
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
