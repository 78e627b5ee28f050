/** Atomic file writes: readers see the old file or the new one, never half of one. */
import { randomBytes } from "node:crypto";
import { type FileHandle, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { RicciError } from "../errors.js";

/**
 * Writes `content` to a fresh temp file beside `path`, fsyncs it and renames it over `path`:
 * `await writeFileAtomic("runs/loss.svg", svg, "chart")`. On failure the temp file is removed,
 * any previous file is unchanged, and a RicciError names `what` and the path.
 */
export async function writeFileAtomic(path: string, content: string | readonly Uint8Array[], what: string): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const chunks = typeof content === "string" ? [new TextEncoder().encode(content)] : content;
  let handle: FileHandle | undefined;
  try {
    handle = await open(temp, "wx");
    for (const chunk of chunks) {
      let written = 0;
      while (written < chunk.byteLength) written += (await handle.write(chunk, written, chunk.byteLength - written)).bytesWritten;
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    const reason = error instanceof Error ? error.message : String(error);
    throw new RicciError(`${what} ${path}: write failed (${reason}); any previous file at this path is unchanged`);
  }
  // Make the rename itself durable; directories cannot be fsynced everywhere, hence best effort.
  const dirHandle = await open(dir, "r").catch(() => undefined);
  await dirHandle?.sync().catch(() => undefined);
  await dirHandle?.close().catch(() => undefined);
}
