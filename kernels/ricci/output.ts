/**
 * Everything one cell sends on iopub, attributed to its execute_request: streams, displays, its
 * result and its error. Output that a cell starts but does not await (an un-awaited `display`)
 * is tracked so that the kernel replies only after it has been sent.
 */
import type { MimeBundle } from "./cell-api.js";
import type { JsonObject, Message } from "./wire.js";

export type StreamName = "stdout" | "stderr";
export type Publish = (msgType: string, parent: Message, content: JsonObject) => void;

/** The error content Jupyter shows: `{ ename: "RangeError", evalue: "boom", traceback: [...] }`. */
export interface ErrorContent {
  ename: string;
  evalue: string;
  traceback: string[];
}

// Streams are batched so that a loop printing thousands of lines sends a few messages, but the
// first write after a quiet spell goes out at once: a cell that prints and then blocks the thread
// (a long synchronous loop) still shows what it printed.
const STREAM_BATCH_MS = 50;

export class CellOutput {
  private buffered: { name: StreamName; text: string } | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private lastStreamAt = -Infinity;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly publishRaw: Publish, readonly request: Message) {}

  stream(name: StreamName, text: string): void {
    if (text === "") return;
    if (this.buffered !== undefined && this.buffered.name === name) {
      this.buffered.text += text;
    } else {
      this.flush();
      this.buffered = { name, text };
    }
    if (Date.now() - this.lastStreamAt >= STREAM_BATCH_MS) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), STREAM_BATCH_MS);
  }

  /** Sends buffered stream text now. */
  flush(): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.buffered === undefined) return;
    const { name, text } = this.buffered;
    this.buffered = undefined;
    this.lastStreamAt = Date.now();
    this.publishRaw("stream", this.request, { name, text });
  }

  publish(msgType: string, content: JsonObject): void {
    this.flush();
    this.publishRaw(msgType, this.request, content);
  }

  /** display_data, or update_display_data for an existing `displayId`. */
  display(bundle: MimeBundle, displayId?: string, update = false): void {
    const transient = displayId === undefined ? {} : { transient: { display_id: displayId } };
    this.publish(update ? "update_display_data" : "display_data", { data: bundle, metadata: {}, ...transient });
  }

  executeResult(executionCount: number, bundle: MimeBundle): void {
    this.publish("execute_result", { execution_count: executionCount, data: bundle, metadata: {} });
  }

  error(content: ErrorContent): void {
    this.publish("error", { ...content });
  }

  clear(wait: boolean): void {
    this.publish("clear_output", { wait });
  }

  /** Registers output in flight (never rejecting) that must be sent before the cell's reply. */
  track(sending: Promise<unknown>): void {
    this.pending.add(sending);
    void sending.finally(() => this.pending.delete(sending));
  }

  /** Waits for tracked output, then flushes; call before replying to the request. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    // One more turn of the event loop: a rejected, un-awaited display reports itself through
    // 'unhandledRejection', which fires after the microtasks that got us here.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.flush();
  }
}
