/**
 * Large expressions printed as a derivation: the expression in terms of named parts, then
 * `where A = …`, `E = …`, each short enough to read (and to typeset: see layout.ts).
 *
 *   derivation(simplify(grad(grpo.loss, logp)))
 *     → [{ name: null, expr: 1/150·P·G·mask - … + A·B }, { name: "P", expr: (max(Σ_t mask, 1))^{-1} }, …]
 *
 * Decided bottom-up over the DAG, a subexpression gets a name when it is printed more than once
 * (it has several parents) and is not tiny, or when an expression containing it would otherwise
 * be too long, or too wide where it cannot break into lines: then the widest parts inside it are
 * named, one at a time, preferring a part whose naming leaves more than a name and a coefficient.
 * Names are capital letters in reading order, the initial of the outermost function where free
 * (`S` for a softmax, `E` for an exponential, `P` for a power). Each named part is replaced in
 * the others by a placeholder variable with its edges, so every step is itself an expression that
 * prints, draws and evaluates (given its placeholders' values).
 */
import { type Expr, type Variable, childrenOf, intern, replaceChildren, topologicalOrder } from "../dsl/expr.js";
import { displayName } from "../dsl/userfn.js";
import { type Printed, latexNode, toLatex } from "./latex.js";
import { MAX_BLOCK_CHARS, displayBlocks, visualWidth, widestUnbreakable } from "./layout.js";
import { withReadableEdgeNames } from "./readable.js";

export interface DerivationOptions {
  /** Width of a line of maths, in average glyph widths (default 64, about 550 px in Jupyter). */
  readonly lineWidth?: number;
  /** Widest one step may be before its largest parts are named (default 4 lines). */
  readonly maxStepWidth?: number;
  /** Widest piece a line cannot be broken inside before its largest parts are named (default 80). */
  readonly maxUnbreakableWidth?: number;
  /** Narrowest subexpression worth a name when it is printed several times (default 24). */
  readonly sharedWidth?: number;
  /** Narrowest a step may become by naming a part of it (default 12: no `0.25 A`). */
  readonly minRemainderWidth?: number;
}

/** One step: the expression itself (name null) or one named part, in terms of further named parts. */
export interface DerivationStep {
  /** The name this step defines, e.g. "A"; null for the first step, the expression itself. */
  readonly name: string | null;
  /** The variable that stands for this step in the other steps (null for the first step). */
  readonly placeholder: Variable | null;
  /** What the step computes, its named parts replaced by their placeholders. */
  readonly expr: Expr;
}

const DEFAULTS = { lineWidth: 64, maxStepWidth: 4 * 64, maxUnbreakableWidth: 80, sharedWidth: 24, minRemainderWidth: 12 };
type Settings = typeof DEFAULTS;
/** How many of the widest parts of a too-big step are tried as the one to name. */
const CANDIDATES_TRIED = 8;
const NEVER_NAMED = new Set<Expr["kind"]>(["variable", "constant", "delta"]);
const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** The placeholder's look while deciding what to name (final letters are given in reading order). */
const provisionalReference = (e: Expr): Printed => latexNode(placeholderVariable("X", e), () => {
  throw new Error("a variable has no children");
});

function placeholderVariable(name: string, e: Expr): Variable {
  return intern({ kind: "variable", name, edges: e.edges });
}

/** How often each node appears as a child (with multiplicity): more than once ⇒ printed more than once. */
function parentReferences(order: readonly Expr[]): Map<number, number> {
  const refs = new Map<number, number>();
  for (const n of order) for (const c of childrenOf(n)) refs.set(c.id, (refs.get(c.id) ?? 0) + 1);
  return refs;
}

/** The ids of the nodes of `root` to name, decided bottom-up (children before parents). */
function nodesToName(root: Expr, order: readonly Expr[], options: Settings): Set<number> {
  const refs = parentReferences(order);
  const position = new Map(order.map((n, i) => [n.id, i]));
  const named = new Set<number>();
  const inline = new Map<number, Printed>();
  const child = (c: Expr): Printed => (named.has(c.id) ? provisionalReference(c) : inline.get(c.id)!);
  const width = (n: Expr): number => visualWidth(inline.get(n.id)!.tex);
  const worthNaming = (c: Expr): boolean =>
    !NEVER_NAMED.has(c.kind) && !named.has(c.id) && width(c) > visualWidth(provisionalReference(c).tex) + 2;
  const tooBig = (n: Expr): boolean => {
    const tex = inline.get(n.id)!.tex;
    return visualWidth(tex) > options.maxStepWidth || widestUnbreakable(tex) > options.maxUnbreakableWidth;
  };
  /** The nodes whose text is part of n's (reached without passing a named node), children first, then n. */
  const printedWithin = (n: Expr): Expr[] => {
    const found = new Map<number, Expr>();
    const stack = [...childrenOf(n)];
    while (stack.length > 0) {
      const m = stack.pop()!;
      if (named.has(m.id) || found.has(m.id)) continue;
      found.set(m.id, m);
      stack.push(...childrenOf(m));
    }
    return [...[...found.values()].sort((a, b) => position.get(a.id)! - position.get(b.id)!), n];
  };
  const reprint = (nodes: readonly Expr[]): void => {
    for (const m of nodes) inline.set(m.id, latexNode(m, child));
  };
  for (const n of order) {
    reprint([n]);
    // Each pass names one more node inside n, so the loop ends.
    while (tooBig(n)) {
      const within = printedWithin(n);
      const candidates = within.filter((m) => m !== n && worthNaming(m)).sort((a, b) => width(b) - width(a)).slice(0, CANDIDATES_TRIED);
      if (candidates.length === 0) break;
      // The widest part whose naming leaves n more than a name and a coefficient (`0.25 A` explains nothing).
      const leavesEnough = (c: Expr): boolean => {
        named.add(c.id);
        reprint(within);
        const left = width(n);
        named.delete(c.id);
        return left >= options.minRemainderWidth;
      };
      named.add(candidates.find(leavesEnough)?.id ?? candidates[0].id);
      reprint(within);
    }
    if (n !== root && (refs.get(n.id) ?? 0) >= 2 && worthNaming(n) && width(n) >= options.sharedWidth) named.add(n.id);
  }
  return named;
}

/** Named nodes in the order a reader meets them: the expression first, then each definition in turn. */
function readingOrder(root: Expr, named: ReadonlySet<number>): Expr[] {
  const met: Expr[] = [];
  const seen = new Set<number>();
  const walk = (top: Expr): void => {
    const stack = [...childrenOf(top)].reverse();
    const visited = new Set<number>();
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (named.has(n.id)) {
        if (!seen.has(n.id)) {
          seen.add(n.id);
          met.push(n);
        }
        continue;
      }
      if (visited.has(n.id)) continue;
      visited.add(n.id);
      stack.push(...[...childrenOf(n)].reverse());
    }
  };
  walk(root);
  for (let i = 0; i < met.length; i++) walk(met[i]);
  return met;
}

/** The letter a node would like: the initial of its outermost function (through stop-gradients). */
function preferredLetter(e: Expr): string | undefined {
  let n = e;
  while (n.kind === "stopGradient") n = n.arg;
  if (n.kind === "elementwise") return displayName(n.fn)[0]?.toUpperCase();
  if (n.kind === "edgeFunction") return n.fn[0].toUpperCase();
  return undefined;
}

/** Names in reading order, avoiding the variables' names: the preferred initial if free, else the next free letter. */
function assignNames(nodes: readonly Expr[], taken: Set<string>): Map<number, string> {
  const names = new Map<number, string>();
  for (const n of nodes) {
    const wish = preferredLetter(n);
    let name = wish !== undefined && LETTERS.includes(wish) && !taken.has(wish) ? wish : [...LETTERS].find((l) => !taken.has(l));
    for (let k = 2; name === undefined; k++) name = [...LETTERS].map((l) => `${l}${k}`).find((l) => !taken.has(l));
    taken.add(name);
    names.set(n.id, name);
  }
  return names;
}

/**
 * The steps of `e` as a derivation: first `e` in terms of named parts, then each part in
 * reading order. A small expression is one step, `e` itself (with readable edge names):
 * `derivation(dot(x, W))` → `[{ name: null, placeholder: null, expr: dot(x, W) }]`.
 */
export function derivation(e: Expr, options: DerivationOptions = {}): DerivationStep[] {
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  const settings: Settings = { ...DEFAULTS, ...given };
  const root = withReadableEdgeNames(e);
  const order = topologicalOrder([root]);
  const named = nodesToName(root, order, settings);
  const parts = readingOrder(root, named);
  const names = assignNames(parts, new Set(order.filter((n): n is Variable => n.kind === "variable").map((v) => v.name)));
  const placeholders = new Map(parts.map((n) => [n.id, placeholderVariable(names.get(n.id)!, n)]));
  // Each node with its named descendants replaced; a named node itself stays whole here (it is its own step).
  const replaced = new Map<number, Expr>();
  for (const n of order) {
    replaced.set(n.id, replaceChildren(n, childrenOf(n).map((c) => placeholders.get(c.id) ?? replaced.get(c.id)!)));
  }
  return [
    { name: null, placeholder: null, expr: replaced.get(root.id)! },
    ...parts.map((n) => ({ name: names.get(n.id)!, placeholder: placeholders.get(n.id)!, expr: replaced.get(n.id)! })),
  ];
}

export interface DerivationLatexOptions extends DerivationOptions {
  /** Longest display block in characters (default MAX_BLOCK_CHARS, under MathJax 2's buffer). */
  readonly maxBlockChars?: number;
}

/**
 * One step as display-math blocks (without `$$`): `A_{i} = …`, wrapped into an `aligned`
 * environment when long; `where` prefixes the first definition.
 */
export function stepLatex(step: DerivationStep, options: DerivationLatexOptions & { where?: boolean } = {}): string[] {
  const lineWidth = options.lineWidth ?? DEFAULTS.lineWidth;
  const maxChars = options.maxBlockChars ?? MAX_BLOCK_CHARS;
  const lhs = step.placeholder === null ? null : `${options.where === true ? "\\text{where}\\quad " : ""}${toLatex(step.placeholder)}`;
  return displayBlocks(lhs, toLatex(step.expr), { lineWidth, maxChars });
}

/**
 * LaTeX of a large expression as a derivation, one display block per string, each under
 * MathJax 2's buffer: `toLatexDerivation(grad(loss, W))` → `["\\frac{1}{8} \\sum_{…} S_{…} x_{…}",
 * "\\text{where}\\quad S_{…} = \\operatorname{softmax}_{…}(…)"]`. For one formula use toLatex.
 */
export function toLatexDerivation(e: Expr, options: DerivationLatexOptions = {}): string[] {
  return derivation(e, options).flatMap((step, i) => stepLatex(step, { ...options, where: i === 1 }));
}
