/**
 * Adding an elementwise primitive is one record (src/dsl/functions.ts): a primitive defined
 * only here, softsign(x) = x / (1 + |x|), is differentiated in reverse and forward mode (and
 * twice), evaluated in float64 against central differences, printed, and compiled on every
 * backend this machine has — with nothing added anywhere else.
 */
import { afterAll, describe, expect, it } from "vitest";
import { grad, jvp } from "../src/autodiff/transforms.js";
import { apply, dot, sum, variable } from "../src/dsl/build.js";
import { defineRule } from "../src/dsl/functions.js";
import { type BackendName, activeBackend, initBackend } from "../src/lower/backend.js";
import { compile } from "../src/lower/compile.js";
import { toLatex } from "../src/print/latex.js";
import { evaluate } from "../src/reference/evaluate.js";

defineRule("test:softsign", {
  arity: 1,
  value: (x) => x / (1 + Math.abs(x)),
  partial: (n, _k, b) => b.pow(b.add(1, b.abs(n.args[0])), -2),
  latex: ([x]) => `\\operatorname{softsign}\\left(${x}\\right)`,
  kernel: (ops, [x]) => ops.binary("div", x, ops.binary("add", ops.scalar(1), ops.unary("abs", x))),
});
const softsign = (e: Parameters<typeof apply>[1][number]) => apply("test:softsign", [e]);

const W = variable("W", { i: 3, j: 4 });
const x = variable("x", { j: 4 });
const f = sum(softsign(dot(W, x)));
const values = {
  W: Float64Array.from({ length: 12 }, (_, k) => Math.sin(k + 1)),
  x: Float64Array.from([0.5, -1.5, 2, -0.25]),
};

/** Central differences of f in float64 with respect to entry k of W. */
function numericDW(k: number, eps = 1e-6): number {
  const at = (d: number): number => {
    const w = Float64Array.from(values.W);
    w[k] += d;
    return evaluate(f, { ...values, W: w }).data[0];
  };
  return (at(eps) - at(-eps)) / (2 * eps);
}

const initial = activeBackend();
afterAll(async () => {
  if (initial !== null) await initBackend(initial);
});

describe("a primitive defined by one record in a test file", () => {
  it("is differentiated (reverse, forward, second order) and evaluated against central differences", () => {
    const [dW] = grad(f, [W]);
    const reverse = evaluate(dW, values).data;
    reverse.forEach((g, k) => expect(g).toBeCloseTo(numericDW(k), 7));
    const direction = variable("dW", { i: 3, j: 4 });
    const tangent = jvp(f, W, direction);
    const unit = new Float64Array(12);
    unit[5] = 1;
    expect(evaluate(tangent, { ...values, dW: unit }).data[0]).toBeCloseTo(reverse[5], 12);
    // Second order: the partial is itself an expression, differentiated again.
    const gradientSum = sum(grad(f, [W])[0]);
    const [second] = grad(gradientSum, [W]);
    const eps = 1e-5;
    const shifted = (d: number): number => {
      const w = Float64Array.from(values.W);
      w[2] += d;
      return evaluate(gradientSum, { ...values, W: w }).data[0];
    };
    expect(evaluate(second, values).data[2]).toBeCloseTo((shifted(eps) - shifted(-eps)) / (2 * eps), 6);
  });

  it("prints its LaTeX", () => {
    expect(toLatex(f)).toContain("\\operatorname{softsign}");
  });

  for (const backend of ["onnx", "wasm", "cpu"] as BackendName[]) {
    it(`compiles with its gradient on ${backend}`, async () => {
      await initBackend(backend);
      const [dW] = grad(f, [W]);
      const out = compile({ f, dW }).runSync({ W: Float32Array.from(values.W), x: Float32Array.from(values.x) });
      expect(out.f.dataSync()[0]).toBeCloseTo(evaluate(f, values).data[0], 5);
      const expected = evaluate(dW, values).data;
      Array.from(out.dW.dataSync()).forEach((g, k) => expect(g).toBeCloseTo(expected[k], 5));
      out.f.dispose();
      out.dW.dispose();
    });
  }
});
