import { defineConfig } from "vitest/config";

/**
 * The test files Stryker runs against each mutant (npm run mutation; stryker.config.json): the
 * tests of the core — expressions, derivatives, printing, lowering — on the default backend only.
 * Not used by `npm test`, whose config is vitest.config.ts. The fast-check property suite
 * (test/properties.test.ts) is left out: it covers nearly every line, so it would run (~10 s)
 * against almost every mutant.
 */
export const coreTests = [
  "test/primitives.test.ts",
  "test/primitive-record.test.ts",
  "test/simplify.test.ts",
  "test/print.test.ts",
  "test/errors.test.ts",
  "test/lower.test.ts",
  "test/compiled-primitives.test.ts",
  "test/onnx.test.ts",
  "test/transforms.test.ts",
  "test/numerics.test.ts",
  "test/userfn.test.ts",
  "test/primitive-latex.test.ts",
  "test/lower-plan.test.ts",
  "test/values.test.ts",
  "test/tfjs-lowering.test.ts",
  "test/edges.test.ts",
  "test/backend-switch.test.ts",
  "test/expr.test.ts",
  "test/onnx-runtime.test.ts",
  "test/compile.test.ts",
  "test/onnx-graph.test.ts",
  "test/build.test.ts",
];

export default defineConfig({
  test: {
    name: "default",
    // One module graph for all test files of a run: each file would otherwise import mathjs and tfjs
    // again (~2–5 s a file on two busy cores), and Stryker starts a run per mutant.
    isolate: false,
    include: coreTests,
    // Static mutants (code that also runs while modules load) activated at run time: see the file.
    setupFiles: ["test/helpers/strict-throw.ts", "test/helpers/stryker-activation.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
