/**
 * User-defined elementwise functions from a formula in x, parsed by mathjs; their
 * derivatives are taken by mathjs symbolically, to any order, and registered on demand.
 */
import { type MathNode, derivative, parse } from "mathjs";
import * as b from "./build.js";
import { RicciError } from "./errors.js";
import type { Expr } from "./expr.js";
import { defineRule, hasRule } from "./functions.js";

interface UserFunction {
  readonly name: string;
  readonly formula: MathNode;
  readonly evaluate: (x: number) => number;
}

const userFunctions = new Map<string, UserFunction>();

/** The table key of a user function (its own namespace, so `fn("softplus", …)` may shadow nothing). */
const keyOf = (name: string): string => `fn:${name}`;

/** The parsed formula of a user function, for lowering; undefined for built-ins. */
export function userFormula(fnKey: string): MathNode | undefined {
  return userFunctions.get(fnKey)?.formula;
}

/** The display name of a function-table key (`fn:softplus` → `softplus`). */
export function displayName(fnKey: string): string {
  return fnKey.startsWith("fn:") ? fnKey.slice(3) : fnKey;
}

function freeSymbols(node: MathNode): string[] {
  const names = new Set<string>();
  node.traverse((n, path) => {
    if (n.type === "SymbolNode" && path !== "fn") names.add((n as MathNode & { name: string }).name);
  });
  return [...names];
}

function register(name: string, formula: MathNode): string {
  const key = keyOf(name);
  const existing = userFunctions.get(key);
  if (existing !== undefined) {
    if (existing.formula.toString() !== formula.toString()) {
      throw new RicciError(`fn: "${name}" is already defined as "${existing.formula.toString()}"; choose another name for "${formula.toString()}"`);
    }
    return key;
  }
  const compiled = formula.compile();
  const evaluate = (x: number): number => Number(compiled.evaluate({ x }));
  userFunctions.set(key, { name, formula, evaluate });
  defineRule(key, {
    arity: 1,
    value: (x) => evaluate(x),
    partial: (node) => b.apply(register(`${name}'`, derivative(formula, "x")), [node.args[0]]),
    latex: ([x]) => `\\operatorname{${name.replace(/'/g, "\\prime ")}}\\left(${x}\\right)`,
  });
  return key;
}

/**
 * Defines an elementwise function from a formula in `x`:
 * `const softplus = fn("softplus", "log(1 + exp(x))"); softplus(logits)`.
 */
export function fn(name: string, formula: string): (x: Expr | number) => Expr {
  if (typeof name !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new RicciError(`fn: function name "${String(name)}" is not an identifier`);
  }
  let node: MathNode;
  try {
    node = parse(formula);
  } catch (error) {
    throw new RicciError(`fn "${name}": cannot parse formula "${formula}": ${(error as Error).message}`);
  }
  const unknown = freeSymbols(node).filter((s) => !["x", "pi", "e"].includes(s));
  if (unknown.length > 0) {
    throw new RicciError(`fn "${name}": formula "${formula}" may use only the variable x, but it uses ${unknown.join(", ")}`);
  }
  try {
    derivative(node, "x");
  } catch (error) {
    throw new RicciError(`fn "${name}": mathjs cannot differentiate "${formula}": ${(error as Error).message}`);
  }
  const probe = Number(node.compile().evaluate({ x: 0.5 }));
  if (typeof probe !== "number" || Number.isNaN(probe)) {
    throw new RicciError(`fn "${name}": formula "${formula}" does not evaluate to a real number (at x = 0.5 it gives ${String(probe)})`);
  }
  const key = register(name, node);
  if (!hasRule(key)) throw new RicciError(`fn "${name}": registration failed`);
  return (x) => b.apply(key, [x]);
}
