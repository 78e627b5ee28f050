/**
 * The ricci kernel: Jupyter requests in, replies and outputs out.
 *
 * Shell requests are handled one at a time in arrival order (as ipykernel does); control requests
 * (interrupt, shutdown, kernel_info) are handled at once. Every request is bracketed by busy/idle
 * status messages on iopub.
 *
 * Start-up: the TypeScript compiler starts in a worker thread (main.ts), the sockets are bound,
 * and the kernel answers kernel_info, history and comm_info from then on. Once a client's
 * handshake is answered, tslab and ricci load on this thread while the worker compiles the
 * hidden first cell; requests that need the session (execute, complete, inspect, is_complete)
 * wait for it.
 */
import { performance } from "node:perf_hooks";
import { inspect } from "node:util";
import { createCellApi, mimeBundleOf, type RicciModule } from "./display.js";
import type { MimeBundle } from "./cell-api.js";
import { CompilerWorker } from "./compiler.js";
import { runtimeError } from "./errors.js";
import { History } from "./history.js";
import { CellOutput, type ErrorContent, type StreamName } from "./output.js";
import { PACKAGE_VERSION, TSLAB_VERSION, TYPESCRIPT_VERSION } from "./packages.js";
import { CELL_API_ENTRY, loadRicci, preludeSource, staleBuildWarning } from "./preload.js";
import type { Runtime } from "./runtime.js";
import { Channels, type ConnectionInfo, type RequestChannel } from "./sockets.js";
import { type JsonObject, KernelSession, type Message, PROTOCOL_VERSION } from "./wire.js";

/**
 * Start-up loads tslab and ricci on this thread (a second or more that answers nothing) only
 * after it has answered a client's first request, kernel_info, with that client listening on
 * iopub (its handshake: jupyter_client's wait_for_ready), or after this long without one. The
 * compiler's worker is the slower path either way, so the wait costs the first cell nothing.
 */
const HANDSHAKE_GRACE_MS = 1000;

/** Shell requests answered before the TypeScript session is ready (the others wait for it). */
const ANSWERED_WHILE_STARTING = new Set(["kernel_info_request", "history_request", "comm_info_request", "shutdown_request"]);

type Log = (text: string) => void;

export class RicciKernel {
  private readonly session = new KernelSession();
  private readonly channels: Channels;
  private readonly history = new History();
  private readonly shellQueue: Message[] = [];
  private shellBusy = false;
  private executionCount = 0;
  /** The cell running now, or the last one: where stray output (timers, late logs) goes. */
  private output: CellOutput | undefined;
  private runtime: Runtime | undefined;
  private ricci: RicciModule | undefined;
  private ready: Promise<void> = Promise.resolve();
  /** Problems found while starting, shown on the first cell's stderr (nobody reads the kernel's log). */
  private readonly startupNotes: string[] = [];
  private startupFailure: ErrorContent | undefined;
  private handshakeAnswered: () => void = () => undefined;

  /** `compiler`: the TypeScript compiler's worker, started as early as possible (main.ts). */
  constructor(
    connection: ConnectionInfo,
    private readonly log: Log,
    private readonly compiler: CompilerWorker = new CompilerWorker(),
  ) {
    this.channels = new Channels(
      connection,
      (channel, message) => this.onRequest(channel, message),
      (error) => log(`ricci kernel: ${inspect(error)}\n`),
    );
  }

  /**
   * Binds the sockets and starts the TypeScript session once a client's handshake is answered (or
   * HANDSHAKE_GRACE_MS passed without one); shell requests that need the session wait for it.
   */
  async start(): Promise<void> {
    const handshake = new Promise<void>((resolve) => (this.handshakeAnswered = resolve));
    await this.channels.bind();
    this.captureStdio();
    process.on("SIGINT", () => this.runtime?.interrupt());
    process.on("uncaughtException", (error) => this.strayError("Uncaught exception", error));
    process.on("unhandledRejection", (reason) => this.strayError("Unhandled promise rejection", reason));
    const grace = new Promise<void>((resolve) => setTimeout(resolve, HANDSHAKE_GRACE_MS));
    this.ready = Promise.race([handshake, grace]).then(() => this.startSession());
  }

  private async startSession(): Promise<void> {
    const started = performance.now();
    const ms = (from: number, to: number = performance.now()): string => `${Math.round(to - from)} ms`;
    try {
      // tslab and its TypeScript load now, after the handshake: a second or more of this thread.
      const [{ Runtime }, { typescript }] = await Promise.all([import("./runtime.js"), import("./tslab.js")]);
      const runtime = new Runtime(process.cwd(), this.compiler);
      this.runtime = runtime;
      runtime.routeTslabDisplays(({ bundle, displayId, update }) => this.output?.display(bundle, displayId, update));
      const tslabLoaded = performance.now();
      const source = preludeSource(typescript);
      // The worker compiles the hidden cell while this thread imports ricci.
      runtime.prepare(source);
      const loaded = await loadRicci().catch((error: unknown) => {
        this.startupNotes.push(`ricci kernel: ricci is not preloaded: ${error instanceof Error ? error.message : String(error)}\n`);
        return undefined;
      });
      const ricciLoaded = performance.now();
      if (loaded !== undefined) {
        const { ricci, modules } = loaded;
        runtime.provideModules(new Map([...modules, [CELL_API_ENTRY, createCellApi({ ricci, currentOutput: () => this.output })]]));
        const outcome = await runtime.execute(source, async () => undefined);
        if (outcome.status === "ok") this.ricci = ricci;
        else this.startupNotes.push(`ricci kernel: the preload cell failed:\n${outcome.error.traceback.join("\n")}\n`);
      }
      const stale = staleBuildWarning();
      if (stale !== undefined) this.startupNotes.push(stale);
      const cpu = process.cpuUsage();
      this.log(
        `ricci kernel: ready ${ms(0)} after the process started, ${ms(0, (cpu.user + cpu.system) / 1000)} of CPU ` +
          `(loading the kernel and answering the handshake ${ms(0, started)}, tslab ${ms(started, tslabLoaded)}, ricci ${ms(tslabLoaded, ricciLoaded)}, ` +
          `then waiting for the compiler and running the hidden cell ${ms(ricciLoaded)})\n`,
      );
    } catch (error) {
      this.startupFailure = runtimeError(error);
      this.log(`ricci kernel: failed to start: ${inspect(error)}\n`);
    }
  }

  // -- requests ------------------------------------------------------------------------------

  private onRequest(channel: RequestChannel, message: Message): void {
    if (channel === "control") {
      void this.withStatus(message, "control", () => this.handleControl(message));
      return;
    }
    this.shellQueue.push(message);
    void this.drainShell();
  }

  private async drainShell(): Promise<void> {
    if (this.shellBusy) return;
    this.shellBusy = true;
    try {
      for (let message = this.shellQueue.shift(); message !== undefined; message = this.shellQueue.shift()) {
        const request = message;
        if (!ANSWERED_WHILE_STARTING.has(request.header.msg_type)) await this.ready;
        await this.withStatus(request, "shell", () => this.handleShell(request));
      }
    } finally {
      this.shellBusy = false;
    }
  }

  private async withStatus(request: Message, channel: RequestChannel, handle: () => Promise<void>): Promise<void> {
    this.publishStatus("busy", request);
    try {
      await handle();
    } catch (error) {
      // A request that fails in the kernel itself still gets an answer, so no client waits forever.
      this.log(`ricci kernel: ${request.header.msg_type} failed: ${inspect(error)}\n`);
      if (request.header.msg_type.endsWith("_request")) {
        void this.channels.send(channel, this.session.reply(request, { status: "error", ...runtimeError(error) }));
      }
    } finally {
      this.publishStatus("idle", request);
      if (this.channels.subscribed) this.handshakeAnswered();
    }
  }

  private async handleShell(request: Message): Promise<void> {
    const reply = (content: JsonObject): Promise<void> => this.channels.send("shell", this.session.reply(request, content));
    const { content } = request;
    const code = typeof content.code === "string" ? content.code : "";
    const cursor = typeof content.cursor_pos === "number" ? content.cursor_pos : [...code].length;
    switch (request.header.msg_type) {
      case "kernel_info_request":
        return reply(this.kernelInfo());
      case "execute_request":
        return this.execute(request);
      case "complete_request": {
        const { matches, cursorStart, cursorEnd } = this.requireRuntime().complete(code, cursor);
        return reply({ status: "ok", matches, cursor_start: cursorStart, cursor_end: cursorEnd, metadata: {} });
      }
      case "inspect_request": {
        const text = this.requireRuntime().inspect(code, cursor);
        return reply({ status: "ok", found: text !== undefined, data: text === undefined ? {} : { "text/plain": text }, metadata: {} });
      }
      case "is_complete_request":
        return reply({ ...this.requireRuntime().isComplete(code) });
      case "history_request":
        return reply({ status: "ok", history: this.history.query(content) });
      case "comm_info_request":
        // No comm targets (widgets) are registered.
        return reply({ status: "ok", comms: {} });
      case "shutdown_request":
        return this.shutdown(request, "shell");
      default:
        this.log(`ricci kernel: ignoring shell message ${request.header.msg_type}\n`);
    }
  }

  private async handleControl(request: Message): Promise<void> {
    const reply = (content: JsonObject): Promise<void> => this.channels.send("control", this.session.reply(request, content));
    switch (request.header.msg_type) {
      case "kernel_info_request":
        return reply(this.kernelInfo());
      case "interrupt_request":
        // Stops a cell that is awaiting; a synchronous loop blocks this very handler, so the
        // kernelspec asks for SIGINT (interrupt_mode "signal"), which stops both kinds.
        this.runtime?.interrupt();
        return reply({ status: "ok" });
      case "shutdown_request":
        return this.shutdown(request, "control");
      default:
        this.log(`ricci kernel: ignoring control message ${request.header.msg_type}\n`);
    }
  }

  private requireRuntime(): Runtime {
    if (this.runtime === undefined) throw new Error("the TypeScript session failed to start; see the first cell's output");
    return this.runtime;
  }

  private kernelInfo(): JsonObject {
    return {
      status: "ok",
      protocol_version: PROTOCOL_VERSION,
      implementation: "ricci",
      implementation_version: PACKAGE_VERSION,
      language_info: {
        name: "typescript",
        version: TYPESCRIPT_VERSION,
        mimetype: "text/typescript",
        file_extension: ".ts",
        pygments_lexer: "typescript",
        // What tslab sends: the pair that makes both Notebook and JupyterLab highlight TypeScript.
        codemirror_mode: { mode: "typescript", name: "javascript", typescript: true },
      },
      banner:
        `ricci ${PACKAGE_VERSION}: TypeScript ${TYPESCRIPT_VERSION} on Node ${process.version} (tslab ${TSLAB_VERSION}). ` +
        "ricci's exports are preloaded (variable, dot, grad, toLatex, …, and ricci.*), with display, displayHandle and clearOutput.",
      help_links: [],
      debugger: false,
    };
  }

  // -- execution -----------------------------------------------------------------------------

  private async execute(request: Message): Promise<void> {
    const { content } = request;
    const code = typeof content.code === "string" ? content.code : "";
    const silent = content.silent === true;
    const storeHistory = !silent && content.store_history !== false;
    if (storeHistory) this.executionCount += 1;
    const count = this.executionCount;
    const output = new CellOutput((msgType, parent, body) => this.publish(msgType, parent, body), request);
    this.output = output;
    if (!silent) output.publish("execute_input", { code, execution_count: count });
    for (const note of this.startupNotes.splice(0)) output.stream("stderr", note);
    if (storeHistory) this.history.record(count, code);

    const error = await this.run(code, output, count, silent, storeHistory);
    await output.settle();
    if (error !== undefined) output.error(error);
    // Taken before the reply goes out: only requests sent while this cell ran are aborted, never
    // one sent after its client saw the error (settle() gave the socket a turn to deliver them).
    const abort = error !== undefined && !silent && content.stop_on_error !== false ? this.takeQueuedExecutions() : [];
    const status = error === undefined ? { status: "ok" } : { status: "error", ...error };
    await this.channels.send("shell", this.session.reply(request, { ...status, execution_count: count, payload: [], user_expressions: {} }));
    for (const waiting of abort) {
      this.publishStatus("busy", waiting);
      await this.channels.send("shell", this.session.reply(waiting, { status: "aborted", execution_count: null }));
      this.publishStatus("idle", waiting);
    }
  }

  /** Runs a cell and publishes its result; returns its error, if it failed. */
  private async run(code: string, output: CellOutput, count: number, silent: boolean, storeHistory: boolean): Promise<ErrorContent | undefined> {
    if (this.startupFailure !== undefined) return this.startupFailure;
    const outcome = await this.requireRuntime().execute(code, (value) => this.bundleOf(value));
    if (outcome.status === "error") return outcome.error;
    output.stream("stderr", outcome.warnings);
    if (outcome.result !== undefined && !silent) {
      output.executeResult(count, outcome.result);
      const text = outcome.result["text/plain"];
      if (storeHistory && typeof text === "string") this.history.recordOutput(count, text);
    }
    return undefined;
  }

  private async bundleOf(value: unknown): Promise<MimeBundle | undefined> {
    if (value === undefined) return undefined;
    if (this.ricci === undefined) return { "text/plain": typeof value === "string" ? value : inspect(value) };
    return mimeBundleOf(this.ricci, value);
  }

  /**
   * After a failed cell, the execute requests already waiting are answered "aborted" and not
   * run (ipykernel's stop_on_error): a "run all" stops at the first error.
   */
  private takeQueuedExecutions(): Message[] {
    const waiting = this.shellQueue.filter((m) => m.header.msg_type === "execute_request");
    const others = this.shellQueue.filter((m) => m.header.msg_type !== "execute_request");
    this.shellQueue.splice(0, this.shellQueue.length, ...others);
    return waiting;
  }

  private async shutdown(request: Message, channel: RequestChannel): Promise<void> {
    this.output?.flush();
    await this.channels.send(channel, this.session.reply(request, { status: "ok", restart: request.content.restart === true }));
    // ZeroMQ sends from its own thread; give it a moment before the process goes.
    setTimeout(() => {
      this.runtime?.close();
      this.channels.close();
      process.exit(0);
    }, 100);
  }

  // -- output ----------------------------------------------------------------------------------

  private publish(msgType: string, parent: Message | undefined, content: JsonObject): void {
    void this.channels.publish(this.session.message(msgType, parent, content));
  }

  private publishStatus(state: "busy" | "idle", parent: Message): void {
    this.publish("status", parent, { execution_state: state });
  }

  /** Output of a timer or promise that outlived its cell goes to the last cell, as in ipykernel. */
  private strayError(what: string, error: unknown): void {
    const text = `${what}: ${error instanceof Error ? (error.stack ?? error.message) : inspect(error)}\n`;
    if (this.output === undefined) this.log(text);
    else this.output.stream("stderr", text);
  }

  /** process.stdout/stderr (console.log in cells) become stream messages of the current cell. */
  private captureStdio(): void {
    for (const name of ["stdout", "stderr"] as const satisfies readonly StreamName[]) {
      const stream = process[name];
      const original = stream.write.bind(stream);
      const decoder = new TextDecoder();
      stream.write = ((chunk: string | Uint8Array, encodingOrDone?: BufferEncoding | ((error?: Error | null) => void), done?: (error?: Error | null) => void): boolean => {
        const output = this.output;
        if (output === undefined) return original(chunk, encodingOrDone as BufferEncoding, done);
        output.stream(name, typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
        (typeof encodingOrDone === "function" ? encodingOrDone : done)?.();
        return true;
      }) as typeof stream.write;
    }
  }
}
