/**
 * tslab's converter (the TypeScript compiler behind cells) in a worker thread. Creating it parses
 * TypeScript's libraries and @types/node, and the first compilation that imports ricci parses
 * ricci's and tfjs's declarations: seconds of work that, in a worker, run while the kernel's
 * main thread loads ricci and keeps answering Jupyter (kernel_info, heartbeats, interrupts).
 *
 * tslab's executor calls a converter synchronously; those calls block on the worker
 * (Atomics.wait until it has posted the reply). `convertAsync` lets the kernel await a
 * compilation instead, with the main thread free meanwhile.
 */
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads";
import type { CompletionInfo, Converter, ConvertResult, Diagnostic } from "tslab/dist/converter.js";
import {
  type CompilerReply,
  type CompilerRequest,
  type CompilerWorkerData,
  SIGNAL_WAITING,
  SIGNAL_WORKER_GONE,
} from "./compiler-protocol.js";

/** The worker's module beside this one (compiler-worker.js when built, .ts when run from source). */
const WORKER_URL = new URL(`./compiler-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

type Request = CompilerRequest extends infer R ? (R extends CompilerRequest ? Omit<R, "id"> : never) : never;

function valueOf(reply: CompilerReply): unknown {
  if (reply.ok) return reply.value;
  const error = new Error(reply.error.message);
  error.name = reply.error.name;
  if (reply.error.stack !== undefined) error.stack = reply.error.stack;
  throw error;
}

export class CompilerWorker {
  private readonly worker: Worker;
  private readonly syncPort: MessagePort;
  private readonly asyncPort: MessagePort;
  private readonly signal = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  private nextId = 0;
  private failure: Error | undefined;

  /** Starts the worker, which begins creating the Node converter at once. */
  constructor() {
    const sync = new MessageChannel();
    const async = new MessageChannel();
    const workerData: CompilerWorkerData = { sync: sync.port2, async: async.port2, signal: this.signal };
    this.worker = new Worker(WORKER_URL, { workerData, transferList: [sync.port2, async.port2] });
    this.syncPort = sync.port1;
    this.asyncPort = async.port1;
    this.asyncPort.on("message", (reply: CompilerReply) => {
      const caller = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      try {
        caller?.resolve(valueOf(reply));
      } catch (error) {
        caller?.reject(error);
      }
    });
    const stop = (error: Error): void => {
      this.failure ??= error;
      for (const caller of this.waiting.values()) caller.reject(error);
      this.waiting.clear();
    };
    this.worker.on("error", stop);
    this.worker.on("exit", (code) => stop(new Error(`the TypeScript compiler's worker thread stopped (exit code ${code})`)));
  }

  /** A tslab Converter whose calls run in the worker, each blocking until it is answered. */
  converter(browser: boolean): Converter {
    return {
      convert: (prevDecl, src) => this.call({ method: "convert", browser, args: [prevDecl, src] }) as ConvertResult,
      inspect: (prevDecl, src, position) =>
        this.call({ method: "inspect", browser, args: [prevDecl, src, position] }) as ReturnType<Converter["inspect"]>,
      complete: (prevDecl, src, position) => this.call({ method: "complete", browser, args: [prevDecl, src, position] }) as CompletionInfo,
      addModule: (name, content, meta) => this.call({ method: "addModule", browser, args: [name, content, meta] }) as Diagnostic[],
      // The converters live as long as the worker: see close().
      close: () => undefined,
    };
  }

  /** Compiles a cell in the worker without blocking: `await compiler.convertAsync(prevDecl, "1 + 1")`. */
  convertAsync(prevDecl: string, src: string): Promise<ConvertResult> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    const reply = new Promise<unknown>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    const request: CompilerRequest = { id, method: "convert", browser: false, args: [prevDecl, src] };
    this.asyncPort.postMessage(request);
    return reply as Promise<ConvertResult>;
  }

  close(): void {
    this.syncPort.close();
    this.asyncPort.close();
    void this.worker.terminate();
  }

  private call(request: Request): unknown {
    if (this.failure !== undefined) throw this.failure;
    const id = this.nextId++;
    Atomics.store(this.signal, 0, SIGNAL_WAITING);
    this.syncPort.postMessage({ ...request, id });
    Atomics.wait(this.signal, 0, SIGNAL_WAITING);
    const received = receiveMessageOnPort(this.syncPort);
    if (received === undefined) {
      throw Atomics.load(this.signal, 0) === SIGNAL_WORKER_GONE
        ? new Error("the TypeScript compiler's worker thread stopped")
        : new Error("the TypeScript compiler's worker thread woke the kernel without a reply");
    }
    return valueOf(received.message as CompilerReply);
  }
}
