/**
 * User functions (`fn`): formulas with the constants pi and e, constant and variable powers,
 * unary signs and the functions mathjs writes in derivatives (sech, csc, coth, …), evaluated in
 * float64 and compiled, against the same formula written in plain JS; and the kernels their
 * powers lower to (x^2 is a multiply, not a Pow).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type Expr, RicciError, compile, evaluate, fn, grad, initBackend, pow, sum, variable } from "../src/index.js";
import { planSummary } from "../src/lower/summary.js";

beforeAll(async () => {
  await initBackend();
});

// Inside (0, 1): every formula below is defined there (asin, acos, log, coth, csc, x^x).
const points = [0.15, 0.4, 0.65, 0.9];
const x = variable("x", { i: points.length });
const inputs = { x: Float64Array.from(points) };

interface Case {
  /** Its fn name: user functions share one process-wide table, hence the uf_ prefix. */
  readonly name: string;
  readonly formula: string;
  readonly value: (x: number) => number;
  readonly slope: (x: number) => number;
}

const sech = (v: number): number => 1 / Math.cosh(v);
const cases: readonly Case[] = [
  { name: "uf_gaussianPdf", formula: "exp(-x^2 / 2) / sqrt(2 * pi)", value: (v) => Math.exp(-v * v / 2) / Math.sqrt(2 * Math.PI), slope: (v) => -v * Math.exp(-v * v / 2) / Math.sqrt(2 * Math.PI) },
  { name: "uf_ePower", formula: "e^x - e", value: (v) => Math.exp(v) - Math.E, slope: (v) => Math.exp(v) },
  { name: "uf_piTimes", formula: "pi * x^2 + (+x) - (-x)", value: (v) => Math.PI * v * v + 2 * v, slope: (v) => 2 * Math.PI * v + 2 },
  // A derivative without x (pi + e) must still have x's shape when compiled.
  { name: "uf_linear", formula: "pi * x + e * x", value: (v) => (Math.PI + Math.E) * v, slope: () => Math.PI + Math.E },
  // log with a base: mathjs's log(x, b), lowered as log(x) / log(b) (not as log(x), and not as pow).
  { name: "uf_logBase", formula: "log(x, 2) + log(x, e)", value: (v) => Math.log2(v) + Math.log(v), slope: (v) => 1 / (v * Math.LN2) + 1 / v },
  { name: "uf_cubic", formula: "x^3 - 2 * x^2 + x^0.5", value: (v) => v ** 3 - 2 * v * v + Math.sqrt(v), slope: (v) => 3 * v * v - 4 * v + 0.5 / Math.sqrt(v) },
  { name: "uf_oddPower", formula: "x^1.5 + pow(x, 3)", value: (v) => v ** 1.5 + v ** 3, slope: (v) => 1.5 * Math.sqrt(v) + 3 * v * v },
  { name: "uf_selfPower", formula: "x^x", value: (v) => v ** v, slope: (v) => v ** v * (Math.log(v) + 1) },
  { name: "uf_hyperbolic", formula: "tanh(x) + sinh(x) * cosh(x)", value: (v) => Math.tanh(v) + Math.sinh(v) * Math.cosh(v), slope: (v) => sech(v) ** 2 + Math.cosh(2 * v) },
  { name: "uf_reciprocalTrig", formula: "sec(x) + csc(x) + cot(x)", value: (v) => 1 / Math.cos(v) + 1 / Math.sin(v) + 1 / Math.tan(v), slope: (v) => Math.tan(v) / Math.cos(v) - 1 / (Math.sin(v) * Math.tan(v)) - 1 / Math.sin(v) ** 2 },
  { name: "uf_reciprocalHyperbolic", formula: "sech(x) + csch(x) + coth(x)", value: (v) => sech(v) + 1 / Math.sinh(v) + 1 / Math.tanh(v), slope: (v) => -sech(v) * Math.tanh(v) - 1 / (Math.sinh(v) * Math.tanh(v)) - 1 / Math.sinh(v) ** 2 },
  { name: "uf_inverseTrig", formula: "asin(x) + acos(x) / 2 + atan(x)", value: (v) => Math.asin(v) + Math.acos(v) / 2 + Math.atan(v), slope: (v) => 0.5 / Math.sqrt(1 - v * v) + 1 / (1 + v * v) },
  { name: "uf_logsAndTrig", formula: "log(x) + sqrt(x) + abs(x - 0.5) + sin(x) * cos(x) + tan(x)", value: (v) => Math.log(v) + Math.sqrt(v) + Math.abs(v - 0.5) + Math.sin(v) * Math.cos(v) + Math.tan(v), slope: (v) => 1 / v + 0.5 / Math.sqrt(v) + Math.sign(v - 0.5) + Math.cos(2 * v) + 1 / Math.cos(v) ** 2 },
];

const want = (f: (x: number) => number): number[] => points.map(f);

function expectNear(got: ArrayLike<number>, expected: readonly number[], tol: number, what: string): void {
  const bad = expected.flatMap((w, i) => (Math.abs(got[i] - w) <= tol * Math.max(1, Math.abs(w)) ? [] : [`x=${points[i]}: ${got[i]} vs ${w}`]));
  expect(bad, what).toEqual([]);
}

describe.each(cases)("fn $name = $formula", (c) => {
  const f = (): Expr => fn(c.name, c.formula)(x);

  it("evaluates to the formula, and its gradient to the formula's derivative (float64)", () => {
    expectNear(evaluate(f(), inputs).data, want(c.value), 1e-12, "value");
    expectNear(evaluate(grad(sum(f()), x), inputs).data, want(c.slope), 1e-9, "slope");
  });

  it("compiles to the same value and slope (float32)", () => {
    const out = compile({ y: f(), dy: grad(sum(f()), x) }).runArrays(inputs);
    expectNear(out.y.data, want(c.value), 1e-5, "compiled value");
    expectNear(out.dy.data, want(c.slope), 1e-4, "compiled slope");
  });
});

describe("how powers lower", () => {
  /** Pointwise ops of the plan of y = name(x), on both targets (they share the kernel). */
  const opsOf = (name: string, formula: string): Readonly<Record<string, number>> => {
    const y = fn(name, formula)(x);
    const tfjs = planSummary({ y }, "tfjs").pointwise;
    expect(planSummary({ y }, "onnx").pointwise).toEqual(tfjs);
    return tfjs;
  };

  it("x^2, x^3, x^0.5 take the cheap kernels; other constant and variable exponents use pow", () => {
    expect(opsOf("uf_squared", "x^2")).toEqual({ square: 1 });
    expect(opsOf("uf_cubed", "x^3")).toEqual({ square: 1, mul: 1 });
    expect(opsOf("uf_rooted", "x^0.5")).toEqual({ sqrt: 1 });
    expect(opsOf("uf_threeHalves", "x^1.5")).toEqual({ pow: 1 });
    expect(opsOf("uf_powCall", "pow(x, 2)")).toEqual({ pow: 1 });
    expect(opsOf("uf_negated", "-x")).toEqual({ neg: 1 });
  });

  it("pow(e, p) of the builder takes the same kernels: reciprocal for −1, rsqrt for −0.5, square·x for 3", () => {
    const kernels = (p: number): Readonly<Record<string, number>> => planSummary({ y: pow(x, p) }, "onnx").pointwise;
    expect(kernels(2)).toEqual({ square: 1 });
    expect(kernels(3)).toEqual({ square: 1, mul: 1 });
    expect(kernels(0.5)).toEqual({ sqrt: 1 });
    expect(kernels(-1)).toEqual({ reciprocal: 1 });
    expect(kernels(-0.5)).toEqual({ rsqrt: 1 });
    expect(kernels(0.25)).toEqual({ pow: 1 });
    const values = compile({ a: pow(x, -1), b: pow(x, -0.5), c: pow(x, 3) }).runArrays(inputs);
    expectNear(values.a.data, want((v) => 1 / v), 1e-6, "x^-1");
    expectNear(values.b.data, want((v) => 1 / Math.sqrt(v)), 1e-6, "x^-0.5");
    expectNear(values.c.data, want((v) => v ** 3), 1e-6, "x^3");
  });

  it("on ONNX Runtime, x^2 is one Mul and no Pow node", () => {
    const counts = compile({ y: fn("uf_squaredOnnx", "x^2")(x) }).onnx().opCounts;
    expect(counts).toEqual({ Mul: 1 });
  });
});

describe("definitions fn rejects", () => {
  it("names every symbol other than x, pi and e", () => {
    expect(() => fn("uf_twoUnknowns", "x + y * z")).toThrow(/^fn "uf_twoUnknowns": formula "x \+ y \* z" may use only the variable x, but it uses y, z$/);
  });

  it("a name that is not a string, even one whose text would be an identifier", () => {
    expect(() => fn({ toString: () => "looksFine" } as unknown as string, "x")).toThrow(/is not an identifier/);
  });
});

describe("formulas that cannot be lowered", () => {
  it("a function mathjs differentiates but no target implements is reported when compiled, with the supported list", () => {
    const cbrt = fn("uf_cubeRoot", "cbrt(x)");
    expect(evaluate(cbrt(x), inputs).data[1]).toBeCloseTo(Math.cbrt(0.4), 12);
    expect(() => planSummary({ y: cbrt(x) }, "onnx")).toThrow(RicciError);
    // A two-argument function other than pow and log is not lowered as either.
    const root3 = fn("uf_nthRoot", "nthRoot(x, 3)");
    expect(evaluate(root3(x), inputs).data[1]).toBeCloseTo(Math.cbrt(0.4), 12);
    expect(() => planSummary({ y: root3(x) }, "onnx")).toThrow(/^fn "uf_nthRoot": cannot lower "nthRoot\(x, 3\)"/);
    expect(() => planSummary({ y: cbrt(x) }, "onnx")).toThrow(/^fn "uf_cubeRoot": cannot lower "cbrt\(x\)" \(supported: \+ - \* \/ \^, pow\(x, y\), log\(x, b\), exp, log, sqrt, .*sech, csch, coth, sec, csc, cot\)$/);
  });
});
