/** What the kernel's main thread and its compiler worker (compiler.ts, compiler-worker.ts) send each other. */
import type { MessagePort } from "node:worker_threads";
import type { CodeMetadata } from "tslab/dist/metadata.js";

/** A call of one of tslab's Converter methods, on the Node converter or the browser one. */
export type CompilerRequest = { id: number; browser: boolean } & (
  | { method: "convert"; args: [prevDecl: string, src: string] }
  | { method: "inspect"; args: [prevDecl: string, src: string, position: number] }
  | { method: "complete"; args: [prevDecl: string, src: string, position: number] }
  | { method: "addModule"; args: [name: string, content: string, meta?: CodeMetadata] }
);

export type CompilerReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { name: string; message: string; stack?: string } };

export interface CompilerWorkerData {
  /** Requests whose caller blocks on `signal` until the reply is on this port. */
  sync: MessagePort;
  /** Requests whose caller awaits the reply message. */
  async: MessagePort;
  /** One Int32: SIGNAL_WAITING, then SIGNAL_REPLIED (or SIGNAL_WORKER_GONE). */
  signal: Int32Array;
}

export const SIGNAL_WAITING = 0;
export const SIGNAL_REPLIED = 1;
export const SIGNAL_WORKER_GONE = 2;
