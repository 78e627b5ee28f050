/**
 * Mutation runs only (vitest.stryker.config.ts): activates Stryker's mutant before each test
 * file's tests, whatever the mutant's kind. Stryker calls a mutant "static" when its code also
 * runs while modules load, and activates it only at load time; the mutation config keeps one
 * module graph for all test files (isolate: false), so modules load once and a static mutant
 * would never be active. Activated here at run time, its code mutates every call the tests make
 * (what is computed at load time stays unmutated, so such a mutant can only be under-detected).
 * Modules also stay loaded from one mutant's run to the next, with the plans compiled in earlier
 * runs: they are forgotten before every test (below).
 */
import { beforeAll, beforeEach, inject } from "vitest";
import { clearCompiled } from "../../src/lower/compile.js";

type StrykerContext = { globalNamespace: string; mode: string; activeMutant: string };
const injected = <K extends keyof StrykerContext>(key: K): StrykerContext[K] => inject(key as never) as StrykerContext[K];

beforeAll(() => {
  if (injected("mode") !== "mutant") return;
  const namespace = injected("globalNamespace");
  const global = globalThis as unknown as Record<string, { activeMutant?: string }>;
  (global[namespace] ??= {}).activeMutant = injected("activeMutant");
});

// Modules stay loaded from run to run, and with them the plans compiled (and ONNX graphs traced)
// by earlier tests and runs. Forgotten before every test — in the dry run too, so that each test
// that compiles is recorded as covering the planning and tracing code it goes through, and in
// each mutant's run, so that those tests plan and trace under the mutant.
beforeEach(() => {
  if (injected("mode") === undefined) return;
  clearCompiled();
});
