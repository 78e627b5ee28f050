/**
 * LaTeX in index notation with named edges: `\sum_{\mathrm{in}} x_{\mathrm{batch},\mathrm{in}} W_{\mathrm{in},\mathrm{out}}`.
 * Contracted edges of a product become a `\sum` over them; elementwise functions print through
 * the `latex` field of their rule in the function table, so user functions print too.
 */
import type { Expr } from "../dsl/expr.js";
import { EDGE_FUNCTIONS } from "../dsl/edgeFunctions.js";
import { ruleOf } from "../dsl/functions.js";
import { contractedEdges, foldDag, formatNumber } from "./format.js";
import { withReadableEdgeNames } from "./readable.js";

/**
 * How tightly a printed form binds. `\sum_k …` extends to the right, so it is parenthesised
 * as a factor; a sum is parenthesised inside any product.
 */
export const enum Binding {
  Sum = 0,
  BigOperator = 1,
  Product = 2,
  Atom = 3,
}

/** A node's LaTeX and how tightly it binds (whether a parent must parenthesise it). */
export interface Printed {
  readonly tex: string;
  readonly binding: Binding;
}

const atom = (tex: string): Printed => ({ tex, binding: Binding.Atom });
const parens = (tex: string): string => `\\left(${tex}\\right)`;

/** A name as LaTeX: one letter stays italic, longer names are upright text; primes stay primes (`\\mathrm{sample}'`). */
export function nameLatex(name: string): string {
  const [, base, primes] = /^(.*?)('*)$/.exec(name)!;
  if (/^[A-Za-z]$/.test(base) || base === "") return name;
  const escaped = base.replace(/[#_]/g, (c) => `\\${c}`);
  return `\\mathrm{${escaped}}${primes}`;
}

const subscript = (names: readonly string[]): string => (names.length === 0 ? "" : `_{${names.join(",")}}`);
const edgeSubscript = (e: Expr): string => subscript(e.edges.map((d) => nameLatex(d.name)));

/** A number as LaTeX: `0.125`, `\frac{1}{3}`, `1.5 \times 10^{-8}`. */
export function numberLatex(x: number): string {
  const text = formatNumber(x);
  if (text === "NaN") return "\\mathrm{NaN}";
  if (text.endsWith("Inf")) return text.startsWith("-") ? "-\\infty" : "\\infty";
  const fraction = /^(-?)1\/(\d+)$/.exec(text);
  if (fraction !== null) return `${fraction[1]}\\frac{1}{${fraction[2]}}`;
  const scientific = /^(-?[\d.]+)e([+-]?)(\d+)$/.exec(text);
  if (scientific !== null) return `${scientific[1]} \\times 10^{${scientific[2] === "-" ? "-" : ""}${scientific[3]}}`;
  return text;
}

/** Juxtaposes `left right`, with an explicit dot where `right` starts like a number (`2 \cdot 0.5`). */
function juxtapose(left: string, right: string): string {
  return /^([-\d.]|\\frac)/.test(right) ? `${left} \\cdot ${right}` : `${left} ${right}`;
}

function sumLatex(terms: readonly Expr[], weights: readonly number[], child: (c: Expr) => Printed): string {
  return terms
    .map((term, i) => {
      let w = weights[i];
      let body: string | null;
      if (term.kind === "constant" && term.edges.length === 0) {
        // A scalar constant term is its own coefficient: `a - 3`, not `a + 1 \cdot -3`.
        w *= term.value;
        body = null;
      } else {
        const p = child(term);
        body = p.binding === Binding.Sum ? parens(p.tex) : p.tex;
      }
      const magnitude = Math.abs(w);
      const signed = w < 0 || Object.is(w, -0);
      const text = body === null ? numberLatex(magnitude) : magnitude === 1 ? body : juxtapose(numberLatex(magnitude), body);
      if (i === 0) return signed ? `-${text}` : text;
      return ` ${signed ? "-" : "+"} ${text}`;
    })
    .join("");
}

function productLatex(e: Extract<Expr, { kind: "product" }>, child: (c: Expr) => Printed): Printed {
  const inner = contractedEdges(e.factors, e.edges);
  const factors = e.factors.map((f) => {
    const p = child(f);
    return p.binding <= Binding.BigOperator ? parens(p.tex) : p.tex;
  });
  const body = factors.reduce((acc, f) => (acc === "" ? f : juxtapose(acc, f)), "");
  if (inner.length === 0) return { tex: body, binding: e.factors.length === 1 ? child(e.factors[0]).binding : Binding.Product };
  return { tex: `\\sum${subscript(inner.map(nameLatex))} ${body}`, binding: Binding.BigOperator };
}

function constantLatex(e: Extract<Expr, { kind: "constant" }>): Printed {
  if (e.edges.length === 0) return { tex: numberLatex(e.value), binding: e.value < 0 ? Binding.Sum : Binding.Atom };
  if (e.value === 0 || e.value === 1) return atom(`\\mathbf{${e.value}}${edgeSubscript(e)}`);
  return { tex: `${numberLatex(e.value)} \\, \\mathbf{1}${edgeSubscript(e)}`, binding: e.value < 0 ? Binding.Sum : Binding.Product };
}

function renameLatex(e: Extract<Expr, { kind: "rename" }>, child: (c: Expr) => Printed): Printed {
  const arrow = (from: string, to: string): string => `${nameLatex(from)}\\to ${nameLatex(to)}`;
  if (e.arg.kind === "variable") {
    // Show each renamed index in place: W_{\mathrm{in}\to k,\mathrm{out}}.
    const target = new Map(e.mapping);
    const indices = e.arg.edges.map((d) => (target.has(d.name) ? arrow(d.name, target.get(d.name)!) : nameLatex(d.name)));
    return atom(`${nameLatex(e.arg.name)}${subscript(indices)}`);
  }
  const p = child(e.arg);
  const body = p.binding === Binding.Sum ? parens(p.tex) : p.tex;
  return atom(`\\left.${body}\\right|${subscript(e.mapping.map(([from, to]) => arrow(from, to)))}`);
}

/** The LaTeX of one node from its children's: the rule per node kind that every LaTeX printer folds with. */
export function latexNode(e: Expr, child: (c: Expr) => Printed): Printed {
  switch (e.kind) {
    case "variable":
      return atom(`${nameLatex(e.name)}${edgeSubscript(e)}`);
    case "constant":
      return constantLatex(e);
    case "delta":
      return atom(`\\delta${edgeSubscript(e)}`);
    case "oneHot":
      return atom(`\\mathrm{onehot}_{${nameLatex(e.edge.name)}}${parens(child(e.index).tex)}`);
    case "product":
      return productLatex(e, child);
    case "sum": {
      const tex = sumLatex(e.terms, e.weights, child);
      if (e.terms.length !== 1 || e.weights[0] < 0) return { tex, binding: Binding.Sum };
      // A positively scaled single term binds like its body (a product, or a \sum that extends right).
      return { tex, binding: child(e.terms[0]).binding === Binding.BigOperator ? Binding.BigOperator : Binding.Product };
    }
    case "elementwise":
      return atom(ruleOf(e.fn).latex(e.args.map((a) => child(a).tex), e.param));
    case "edgeFunction":
      return atom(`${EDGE_FUNCTIONS[e.fn].latex}_{${nameLatex(e.edge)}}${parens(child(e.arg).tex)}`);
    case "rename":
      return renameLatex(e, child);
    case "stopGradient":
      return atom(`\\operatorname{sg}${parens(child(e.arg).tex)}`);
  }
}

/**
 * LaTeX in index notation, as one formula with shared subexpressions written out in full (see
 * toLatexDerivation for large ones): `toLatex(dot(x, W))` →
 * `\sum_{\mathrm{in}} x_{\mathrm{batch},\mathrm{in}} W_{\mathrm{in},\mathrm{out}}`. Edges ricci named itself
 * (`#0`) print as readable names (`\mathrm{sample}'`).
 */
export function toLatex(e: Expr): string {
  return foldDag(withReadableEdgeNames(e), latexNode).tex;
}
