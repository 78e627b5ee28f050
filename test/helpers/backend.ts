/** Test helper for files that switch backends. */
import { afterAll, beforeAll } from "vitest";
import { type BackendName, initBackend } from "../../src/lower/backend.js";

/**
 * Registers hooks that note the backend active before this file's tests and restore it after
 * them (the mutation config runs every file in one process). Call it before the file's own hooks.
 */
export function restoreBackendAfterFile(): void {
  let previous: BackendName | null = null;
  beforeAll(async () => {
    previous = await initBackend();
  });
  afterAll(async () => {
    if (previous !== null) await initBackend(previous);
  });
}
