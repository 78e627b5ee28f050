/**
 * The worker thread behind compiler.ts: tslab's converters (the TypeScript compiler that checks
 * and compiles cells), answering one request at a time. Requests come on two ports: on `sync`
 * the caller blocks until the reply is posted and `signal` is set; on `async` it awaits a message.
 * It starts creating the Node converter at once, before any request arrives.
 */
import { isMainThread, type MessagePort, workerData } from "node:worker_threads";
import type { Converter } from "tslab/dist/converter.js";
import { type CompilerRequest, type CompilerReply, type CompilerWorkerData, SIGNAL_REPLIED, SIGNAL_WORKER_GONE } from "./compiler-protocol.js";
import { showPackageToCells } from "./imports.js";
import { tslabConverter, typescript } from "./tslab.js";

if (isMainThread) throw new Error("compiler-worker runs in a worker thread (see compiler.ts)");
const { sync, async, signal } = workerData as CompilerWorkerData;

showPackageToCells(typescript.sys, process.cwd());
const converters: { node?: Converter; browser?: Converter } = {};
const converter = (browser: boolean): Converter =>
  browser
    ? (converters.browser ??= tslabConverter.createConverter({ isJS: false, isBrowser: true }))
    : (converters.node ??= tslabConverter.createConverter({ isJS: false, isBrowser: false }));

function answer(request: CompilerRequest): CompilerReply {
  try {
    const target = converter(request.browser);
    switch (request.method) {
      case "convert":
        return { id: request.id, ok: true, value: target.convert(...request.args) };
      case "inspect":
        return { id: request.id, ok: true, value: target.inspect(...request.args) };
      case "complete": {
        // `original` is TypeScript's own completion object, which holds symbols and syntax trees.
        const { original: _, ...info } = target.complete(...request.args);
        return { id: request.id, ok: true, value: info };
      }
      case "addModule":
        return { id: request.id, ok: true, value: target.addModule(...request.args) };
    }
  } catch (error) {
    const { name, message, stack } = error instanceof Error ? error : new Error(String(error));
    return { id: request.id, ok: false, error: { name, message, stack } };
  }
}

function serve(port: MessagePort, blocking: boolean): void {
  port.on("message", (request: CompilerRequest) => {
    port.postMessage(answer(request));
    if (blocking) {
      Atomics.store(signal, 0, SIGNAL_REPLIED);
      Atomics.notify(signal, 0);
    }
  });
}

serve(sync, true);
serve(async, false);
// A caller blocked on `signal` must not wait for a worker that is gone.
process.on("exit", () => {
  Atomics.store(signal, 0, SIGNAL_WORKER_GONE);
  Atomics.notify(signal, 0);
});
converter(false);
