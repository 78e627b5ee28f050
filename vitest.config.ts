import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores in CI: tests that train or compile are CPU-bound, more workers only contend.
    maxWorkers: 2,
  },
});
