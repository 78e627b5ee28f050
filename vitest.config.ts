import { defineConfig } from "vitest/config";

/** Tests of compiled values and gradients, run a second time on tfjs's wasm backend. */
const compiledTests = [
  "test/lower.test.ts", "test/compiled-primitives.test.ts", "test/gpt-twin.test.ts", "test/errors.test.ts", "test/sample.test.ts", "test/fused-step.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores in CI: tests that train or compile are CPU-bound, more workers only contend.
    maxWorkers: 2,
    // toThrow("message") also requires an Error to be thrown (chai passes `throw undefined`).
    setupFiles: ["test/helpers/strict-throw.ts"],
    projects: [
      // Everything on the default backend (ONNX Runtime where onnxruntime-node loads).
      { extends: true, test: { name: "default", include: ["test/**/*.test.ts"] } },
      { extends: true, test: { name: "wasm", include: compiledTests, env: { RICCI_BACKEND: "wasm" } } },
    ],
  },
});
