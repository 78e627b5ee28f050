/**
 * The LaTeX of every elementwise primitive, edge function and user function (the `latex` field
 * of each record), on one- and two-argument expressions small enough that no layout decision
 * (line breaks, abbreviations) is involved.
 */
import { describe, expect, it } from "vitest";
import {
  type Expr, abs, exp, fn, grad, greater, greaterEqual, less, log, logSoftmax, logsumexp, max, maximum, minimum, pow, relu, sigmoid, sign, softmax,
  softplus, sqrt, step, sum, tanh, toLatex, variable,
} from "../src/index.js";

const a = variable("a", { i: 2 });
const b = variable("b", { i: 2 });

const cases: readonly [string, Expr, string][] = [
  ["exp", exp(a), "e^{a_{i}}"],
  ["log", log(a), "\\log\\left(a_{i}\\right)"],
  ["sigmoid", sigmoid(a), "\\sigma\\left(a_{i}\\right)"],
  ["softplus", softplus(a), "\\operatorname{softplus}\\left(a_{i}\\right)"],
  ["tanh", tanh(a), "\\tanh\\left(a_{i}\\right)"],
  ["relu", relu(a), "\\operatorname{relu}\\left(a_{i}\\right)"],
  ["abs", abs(a), "\\left|a_{i}\\right|"],
  ["sign", sign(a), "\\operatorname{sign}\\left(a_{i}\\right)"],
  ["step", step(a), "\\mathbb{1}\\left[a_{i} > 0\\right]"],
  ["pow 2 (not a square root)", pow(a, 2), "\\left(a_{i}\\right)^{2}"],
  ["pow 0.5", sqrt(a), "\\sqrt{a_{i}}"],
  ["pow −1", pow(a, -1), "\\left(a_{i}\\right)^{-1}"],
  ["pow 1.5", pow(a, 1.5), "\\left(a_{i}\\right)^{1.5}"],
  ["minimum", minimum(a, b), "\\min\\left(a_{i}, b_{i}\\right)"],
  ["maximum", maximum(a, b), "\\max\\left(a_{i}, b_{i}\\right)"],
  ["greater", greater(a, b), "\\mathbb{1}\\left[a_{i} > b_{i}\\right]"],
  ["less (greater, swapped)", less(a, b), "\\mathbb{1}\\left[b_{i} > a_{i}\\right]"],
  ["greaterEqual", greaterEqual(a, b), "\\mathbb{1}\\left[a_{i} \\geq b_{i}\\right]"],
  ["softmax", softmax(a, "i"), "\\operatorname{softmax}_{i}\\left(a_{i}\\right)"],
  ["logSoftmax", logSoftmax(a, "i"), "\\operatorname{logsoftmax}_{i}\\left(a_{i}\\right)"],
  ["logsumexp", logsumexp(a, "i"), "\\operatorname{logsumexp}_{i}\\left(a_{i}\\right)"],
  ["max", max(a, "i"), "\\max_{i}\\left(a_{i}\\right)"],
];

describe("LaTeX of each primitive", () => {
  for (const [name, e, tex] of cases) {
    it(name, () => {
      expect(toLatex(e)).toBe(tex);
    });
  }

  it("a user function prints under its name, its derivative with a prime", () => {
    const cubed = fn("cubedPlusPi", "x^3 + pi");
    expect(toLatex(cubed(a))).toBe("\\operatorname{cubedPlusPi}\\left(a_{i}\\right)");
    // d/dx (x^3 + pi) = 3x^2: the gradient applies the derivative's record, named with a prime.
    expect(toLatex(grad(sum(cubed(a)), a))).toBe("\\operatorname{cubedPlusPi\\prime }\\left(a_{i}\\right)");
  });
});
