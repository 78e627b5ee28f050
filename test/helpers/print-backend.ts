/** Prints the backend ricci selects in a fresh process (used by test/backend.test.ts). */
import { activeBackend, initBackend } from "../../src/index.js";

try {
  await initBackend();
  console.log(`active=${activeBackend()}`);
} catch (e) {
  console.log(`error=${(e as Error).name}: ${(e as Error).message}`);
}
