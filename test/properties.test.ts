/**
 * Property-based tests over random well-formed expressions (fast-check, fixed seeds):
 * gradients and second derivatives against float64 central differences, and simplify/equal
 * against evaluation (value kept, idempotent, invariant under renaming inner edges and
 * reordering terms, never equating different values).
 */
import fc from "fast-check";
import { makeRng } from "../src/util/random.js";
import { afterAll, describe, expect, it } from "vitest";
import { type Expr, type Variable, abs, add, apply, clip, delta, div, dot, edgesOf, einsum, equal, evaluate, evaluateAll, exp, fn, gather, grad, greater, hvp, linear, log, logSoftmax, logsumexp, max, maximum, mean, minimum, mul, neg, oneHot, ones, pow, relu, rename, scale, sigmoid, simplify, softmax, softplus, stopGradient, sub, sum, tanh, topologicalOrder, transpose, variable, variablesOf, where } from "../src/index.js";
import { renameUnchecked } from "../src/dsl/build.js";
import { forgetNormalForms } from "../src/simplify/simplify.js";
import { type Inputs64, numericGrad, relativeError, seededValues } from "./helpers/oracle.js";

// --- random expressions --------------------------------------------------------------------

/** Edge names by size: a rename picks a name of the same size, so sizes agree by name everywhere. */
const NAMES_OF_SIZE: Readonly<Record<number, readonly string[]>> = { 2: ["i", "k", "m"], 3: ["j", "l", "n"] };
const VARIABLES: readonly Variable[] = [variable("a", { i: 2, j: 3 }), variable("b", { j: 3, k: 2 }), variable("c", { k: 2 })];

/** Integer ids for gather (a data input: never differentiated). */
const IDS = variable("ids", {});
const cubicSine = fn("cubicSine", "x^3 + sin(x)");

/** Elementwise building blocks; inputs to exp are squashed, log and negative powers see only positive values. */
const UNARY: readonly ((x: Expr) => Expr)[] = [
  (x) => exp(tanh(x)),
  (x) => exp(sigmoid(x)),
  (x) => log(add(softplus(x), 1)),
  (x) => log(exp(tanh(x))),
  (x) => log(sigmoid(x)),
  (x) => neg(log(sigmoid(x))),
  (x) => pow(x, 2),
  (x) => pow(x, 3),
  (x) => pow(add(pow(x, 2), 1), 0.5),
  relu,
  sigmoid,
  softplus,
  tanh,
  (x) => clip(x, -0.5, 0.5),
  neg,
  abs,
  (x) => pow(add(pow(x, 2), 0.5), -1),
  (x) => where(greater(x, 0.3), x, mul(x, x)),
  cubicSine,
];

const BINARY: readonly ((x: Expr, y: Expr) => Expr)[] = [
  (x, y) => dot(x, y),
  (x, y) => mul(x, y),
  (x, y) => add(x, y),
  (x, y) => sub(x, y),
  (x, y) => minimum(x, y),
  (x, y) => maximum(x, y),
  (x, y) => div(x, add(softplus(y), 1)),
  (x, y) => (x.edges.length > 0 ? gather(x, IDS, x.edges[0].name) : mul(x, y)),
  contractThroughDelta,
  (x, y) => transpose(add(x, y), edgesOf(add(x, y)).reverse()),
];

/** x and y joined through a copy tensor: x's first edge is identified with a fresh edge of y's side. */
function contractThroughDelta(x: Expr, y: Expr): Expr {
  const edge = x.edges[0];
  const other = edge && NAMES_OF_SIZE[edge.size].find((n) => !edgesOf(x).includes(n) && !edgesOf(y).includes(n));
  if (edge === undefined || other === undefined) return add(x, y);
  const keep = new Set([...edgesOf(x), ...edgesOf(y), other]);
  keep.delete(edge.name);
  return einsum([x, delta({ [edge.name]: edge.size, [other]: edge.size }), y], [...keep]);
}

const SCALES = [-2, -1, 0.5, 2, 3] as const;
const REDUCE = [sum, mean] as const;
const ALONG_EDGE = [softmax, logSoftmax, logsumexp, max] as const;

type Recipe =
  | { readonly op: "leaf"; readonly v: number }
  | { readonly op: "unary"; readonly fn: number; readonly x: Recipe }
  | { readonly op: "binary"; readonly fn: number; readonly x: Recipe; readonly y: Recipe }
  | { readonly op: "scale"; readonly c: number; readonly x: Recipe }
  | { readonly op: "rename"; readonly pick: number; readonly to: number; readonly x: Recipe }
  | { readonly op: "reduce"; readonly fn: number; readonly pick: number; readonly x: Recipe }
  | { readonly op: "edge"; readonly fn: number; readonly pick: number; readonly x: Recipe };

const recipes: fc.Arbitrary<Recipe> = fc.letrec<{ recipe: Recipe }>((tie) => {
  const sub = tie("recipe");
  const nat = (n: number): fc.Arbitrary<number> => fc.nat(n - 1);
  return {
    recipe: fc.oneof(
      { depthSize: "large", maxDepth: 8, withCrossShrink: true },
      fc.record({ op: fc.constant("leaf" as const), v: nat(VARIABLES.length) }),
      fc.record({ op: fc.constant("unary" as const), fn: nat(UNARY.length), x: sub }),
      fc.record({ op: fc.constant("binary" as const), fn: nat(BINARY.length), x: sub, y: sub }),
      fc.record({ op: fc.constant("binary" as const), fn: nat(BINARY.length), x: sub, y: sub }),
      fc.record({ op: fc.constant("scale" as const), c: nat(SCALES.length), x: sub }),
      fc.record({ op: fc.constant("rename" as const), pick: nat(6), to: nat(3), x: sub }),
      fc.record({ op: fc.constant("reduce" as const), fn: nat(REDUCE.length), pick: nat(6), x: sub }),
      fc.record({ op: fc.constant("edge" as const), fn: nat(ALONG_EDGE.length), pick: nat(6), x: sub }),
    ),
  };
}).recipe;

/** The expression a recipe describes; operations that do not fit (no edge to act on) pass x through. */
function build(r: Recipe): Expr {
  switch (r.op) {
    case "leaf":
      return VARIABLES[r.v];
    case "unary":
      return UNARY[r.fn](build(r.x));
    case "binary":
      return BINARY[r.fn](build(r.x), build(r.y));
    case "scale":
      return scale(build(r.x), SCALES[r.c]);
    case "rename": {
      const x = build(r.x);
      if (x.edges.length === 0) return x;
      const edge = x.edges[r.pick % x.edges.length];
      const free = NAMES_OF_SIZE[edge.size].filter((n) => !edgesOf(x).includes(n));
      return free.length === 0 ? x : rename(x, { [edge.name]: free[r.to % free.length] });
    }
    case "reduce": {
      const x = build(r.x);
      return x.edges.length === 0 ? x : REDUCE[r.fn](x, x.edges[r.pick % x.edges.length].name);
    }
    case "edge": {
      const x = build(r.x);
      return x.edges.length === 0 ? x : ALONG_EDGE[r.fn](x, x.edges[r.pick % x.edges.length].name);
    }
  }
}

const sizesOf = (e: Expr): Record<string, number> => Object.fromEntries(e.edges.map((d) => [d.name, d.size]));
const volume = (e: Expr): number => e.edges.reduce((n, d) => n * d.size, 1);

/** A scalar from e: Σ e·R for a random weight tensor R (a variable we never differentiate). */
function reduceToScalar(e: Expr): Expr {
  return e.edges.length === 0 ? e : sum(mul(e, variable("R", sizesOf(e))));
}

function inputsFor(roots: readonly Expr[], seed: number): Inputs64 {
  const inputs: Inputs64 = { ids: Float64Array.of(seed % 2) };
  for (const v of variablesOf(roots)) inputs[v.name] ??= seededValues(volume(v), (seed + v.name.charCodeAt(0) * 7919) >>> 0);
  return inputs;
}

/**
 * Whether every non-smooth function is at least `margin` from its kink (finite differences are
 * then valid): arguments of relu/abs/step, differences of min/max arguments, and the gap between
 * the largest and second largest entry along a max.
 */
function awayFromKinks(f: Expr, inputs: Inputs64, margin = 1e-3): boolean {
  const kinks: Expr[] = [];
  const maxima: Expr[] = [];
  for (const n of topologicalOrder([f])) {
    if (n.kind === "edgeFunction" && n.fn === "max") maxima.push(transpose(n.arg, [...edgesOf(n.arg).filter((e) => e !== n.edge), n.edge]));
    if (n.kind !== "elementwise") continue;
    if (n.fn === "relu" || n.fn === "abs" || n.fn === "step" || n.fn === "sign") kinks.push(n.args[0]);
    if (n.fn === "minimum" || n.fn === "maximum" || n.fn === "greater" || n.fn === "greaterEqual") kinks.push(sub(n.args[0], n.args[1]));
  }
  if (!evaluateAll(kinks, inputs).every((k) => k.data.every((x) => Math.abs(x) >= margin))) return false;
  return evaluateAll(maxima, inputs).every(({ data, shape }) => {
    const width = shape[shape.length - 1];
    for (let row = 0; row < data.length; row += width) {
      const [first, second] = Array.from(data.subarray(row, row + width)).sort((a, b) => b - a);
      if (second !== undefined && first - second < margin) return false;
    }
    return true;
  });
}

/** The variables to differentiate by: not the weights R, U or the integer ids. */
const differentiable = (e: Expr): Variable[] => variablesOf(e).filter((v) => VARIABLES.includes(v));

/** A variable of e to differentiate by (any when e depends on none: the gradient is then zero). */
const someVariable = (e: Expr): Variable => differentiable(e)[0] ?? VARIABLES[0];

const valueOf = (e: Expr, inputs: Inputs64): Float64Array => evaluate(e, inputs).data;
const finite = (data: Float64Array): boolean => data.every(Number.isFinite);

/** Values of `b` laid out in the edge order of `a` (same edge set), to compare tensors by edge name. */
function valueInOrderOf(a: Expr, b: Expr, inputs: Inputs64): Float64Array {
  return valueOf(einsum([b], edgesOf(a)), inputs);
}

// --- scrambling: the same expression with other inner names and other term order -------------




/**
 * Rebuilds e with every product's contracted edges (and the edge every logsumexp/max removes)
 * renamed to random fresh names, and product factors and sum terms shuffled.
 */
function scramble(e: Expr, seed: number): Expr {
  const random = makeRng(seed);
  const memo = new Map<Expr, Expr>();
  let counter = 0;
  const fresh = (taken: ReadonlySet<string>): string => {
    for (;;) {
      const name = `z${Math.floor(random() * 100)}_${counter++}`;
      if (!taken.has(name)) return name;
    }
  };
  const shuffle = <T>(xs: T[]): T[] => {
    for (let k = xs.length - 1; k > 0; k--) {
      const j = Math.floor(random() * (k + 1));
      [xs[k], xs[j]] = [xs[j], xs[k]];
    }
    return xs;
  };
  const go = (n: Expr): Expr => {
    const hit = memo.get(n);
    if (hit !== undefined) return hit;
    let out: Expr;
    switch (n.kind) {
      case "variable":
      case "constant":
      case "delta":
        out = n;
        break;
      case "oneHot":
        out = oneHot(go(n.index), { [n.edge.name]: n.edge.size });
        break;
      case "product": {
        const factors = n.factors.map(go);
        const kept = new Set(edgesOf(n));
        const taken = new Set([...kept, ...factors.flatMap(edgesOf)]);
        const inner = [...taken].filter((name) => !kept.has(name));
        const mapping = new Map<string, string>();
        for (const name of inner) {
          const to = fresh(taken);
          taken.add(to);
          mapping.set(name, to);
        }
        out = einsum(shuffle(factors.map((f) => renameUnchecked(f, mapping))), edgesOf(n));
        break;
      }
      case "sum": {
        const pairs = shuffle(n.terms.map((t, k) => [go(t), n.weights[k]] as const));
        const s = linear(pairs.map(([t]) => t), pairs.map(([, w]) => w));
        const missing = n.edges.filter((d) => !edgesOf(s).includes(d.name));
        out = missing.length === 0 ? s : mul(s, ones(missing));
        break;
      }
      case "elementwise":
        out = apply(n.fn, n.args.map(go), n.param);
        break;
      case "edgeFunction": {
        const arg = go(n.arg);
        const build = { softmax, logSoftmax, logsumexp, max }[n.fn];
        if (n.fn === "logsumexp" || n.fn === "max") {
          // The removed edge is bound inside the node: any fresh name will do.
          const to = fresh(new Set(edgesOf(arg)));
          out = build(renameUnchecked(arg, new Map([[n.edge, to]])), to);
        } else out = build(arg, n.edge);
        break;
      }
      case "rename":
        out = renameUnchecked(go(n.arg), new Map(n.mapping));
        break;
      case "stopGradient":
        out = stopGradient(go(n.arg));
        break;
    }
    memo.set(n, out);
    return out;
  };
  return go(e);
}

// --- the properties ----------------------------------------------------------------------------

/**
 * Fixed seeds by default (reproducible CI); for longer fuzzing set RICCI_FC_SEED to shift every
 * seed and RICCI_FC_RUNS to multiply every numRuns.
 */
const SEED_SHIFT = Number(process.env.RICCI_FC_SEED ?? 0);
const RUNS_FACTOR = Number(process.env.RICCI_FC_RUNS ?? 1);
const settings = (seed: number, numRuns: number): fc.Parameters<unknown> => ({ seed: seed + SEED_SHIFT, numRuns: Math.round(numRuns * RUNS_FACTOR) });

const checked = { gradients: 0, values: 0, idempotence: 0, equalUnderRenaming: 0, secondDerivatives: 0, soundness: 0 };
const startedAt = performance.now();
const TOLERANCE = { gradient: 1e-6, simplify: 1e-9 };

afterAll(() => {
  const total = Object.values(checked).reduce((n, k) => n + k, 0);
  console.log(`properties: ${total} random expressions checked ${JSON.stringify(checked)} in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
});

describe("random expressions", () => {
  it("(a) grad (of f and of simplify(f)) matches float64 central differences for every variable", () => {
    fc.assert(
      fc.property(recipes, fc.nat(), (recipe, seed) => {
        const f = reduceToScalar(build(recipe));
        const inputs = inputsFor([f], seed);
        fc.pre(finite(valueOf(f, inputs)) && awayFromKinks(f, inputs));
        const wrt = differentiable(f);
        fc.pre(wrt.length > 0);
        const grads = grad(f, wrt);
        // Differentiating the simplified expression (simplify → differentiate) must agree too.
        const gradsOfSimplified = grad(simplify(f), wrt);
        wrt.forEach((v, k) => {
          const numeric = numericGrad(f, inputs, v);
          expect(relativeError(valueOf(grads[k], inputs), numeric), `d/d${v.name}`).toBeLessThanOrEqual(TOLERANCE.gradient);
          expect(relativeError(valueOf(gradsOfSimplified[k], inputs), numeric), `d/d${v.name} of simplify(f)`).toBeLessThanOrEqual(TOLERANCE.gradient);
        });
        checked.gradients++;
      }),
      settings(42, 120),
    );
  });

  it("(b) simplify keeps values and edge order (of expressions and of their gradients)", () => {
    fc.assert(
      fc.property(recipes, fc.nat(), (recipe, seed) => {
        const e = build(recipe);
        const f = reduceToScalar(e);
        const inputs = inputsFor([f], seed);
        for (const x of [e, grad(f, someVariable(e))]) {
          const s = simplify(x);
          expect(edgesOf(s)).toEqual(edgesOf(x));
          expect(relativeError(valueOf(s, inputs), valueOf(x, inputs))).toBeLessThanOrEqual(TOLERANCE.simplify);
        }
        checked.values++;
      }),
      settings(7, 100),
    );
  });

  it("(c) simplify is idempotent: simplify(simplify(e)) === simplify(e), checked from scratch", () => {
    fc.assert(
      fc.property(recipes, (recipe) => {
        const e = build(recipe);
        const f = reduceToScalar(e);
        for (const x of [e, grad(f, someVariable(e))]) {
          const s = simplify(x);
          // With the memo of normal forms emptied, the result is recomputed, not looked up ...
          forgetNormalForms();
          expect(simplify(s)).toBe(s);
          // ... and simplifying the input again gives the same node (the memo never changes an answer).
          forgetNormalForms();
          expect(simplify(x)).toBe(s);
          expect(equal(s, x)).toBe(true);
        }
        checked.idempotence++;
      }),
      settings(1234, 100),
    );
  });

  it("(d) equal holds after renaming inner edges and shuffling factors and terms", () => {
    fc.assert(
      fc.property(recipes, fc.nat(), (recipe, seed) => {
        const e = build(recipe);
        const f = reduceToScalar(e);
        const wrt = differentiable(f);
        for (const x of [e, ...(wrt.length > 0 ? grad(f, wrt) : [])]) {
          const scrambled = scramble(x, seed);
          const inputs = inputsFor([x], seed);
          // The scrambled copy is a genuinely equal expression (checked by value) ...
          expect(relativeError(valueInOrderOf(x, scrambled, inputs), valueOf(x, inputs))).toBeLessThanOrEqual(TOLERANCE.simplify);
          // ... and equal recognises it.
          expect(equal(scrambled, x)).toBe(true);
        }
        checked.equalUnderRenaming++;
      }),
      settings(99, 100),
    );
  });

  it("(e) second derivatives: hvp and grad of grad match central differences of grad·U", () => {
    fc.assert(
      fc.property(recipes, fc.nat(), fc.nat(2), (recipe, seed, pick) => {
        const f = reduceToScalar(build(recipe));
        const wrt = differentiable(f);
        fc.pre(wrt.length > 0);
        const W = wrt[pick % wrt.length];
        const U = variable("U", sizesOf(W));
        const gU = sum(mul(grad(f, W), U));
        const inputs = inputsFor([f, U], seed);
        fc.pre(finite(valueOf(f, inputs)) && awayFromKinks(f, inputs) && awayFromKinks(gU, inputs));
        const numeric = numericGrad(gU, inputs, W);
        expect(relativeError(valueOf(hvp(f, W, U), inputs), numeric), "hvp").toBeLessThanOrEqual(TOLERANCE.gradient);
        expect(relativeError(valueOf(grad(gU, W), inputs), numeric), "grad of grad").toBeLessThanOrEqual(TOLERANCE.gradient);
        checked.secondDerivatives++;
      }),
      settings(2024, 60),
    );
  });

  it("(f) equal is sound: swapping two edges or scaling is equal only when the values agree", () => {
    fc.assert(
      fc.property(recipes, fc.nat(), (recipe, seed) => {
        const e = build(recipe);
        const inputs = inputsFor([e], seed);
        const value = valueOf(e, inputs);
        const pairs = e.edges.flatMap((p, k) => e.edges.slice(k + 1).filter((q) => q.size === p.size).map((q) => [p.name, q.name] as const));
        const variants: Expr[] = [scale(e, 2), add(e, 1)];
        for (const [p, q] of pairs) variants.push(rename(e, { [p]: q, [q]: p }));
        for (const other of variants) {
          if (equal(e, other)) expect(relativeError(valueInOrderOf(e, other, inputs), value)).toBeLessThanOrEqual(TOLERANCE.simplify);
        }
        const nonzero = value.some((x) => Math.abs(x) > 1e-9);
        if (nonzero) expect(equal(e, scale(e, 2))).toBe(false);
        expect(equal(e, add(e, 1))).toBe(false);
        checked.soundness++;
      }),
      settings(31337, 60),
    );
  });

  it("checked at least 300 random expressions", () => {
    const total = Object.values(checked).reduce((n, k) => n + k, 0);
    expect(total).toBeGreaterThanOrEqual(300);
  });
});
