/**
 * One-line text form of an expression, for logs, errors and tests:
 * `sum_{in}(x[batch,in] · W[in,out])`, `0.5·a + b`, `logsumexp_{out}(…)`.
 * Shared subexpressions are inlined; the output depends only on the expression.
 */
import type { Expr } from "../dsl/expr.js";
import { displayName } from "../dsl/userfn.js";
import { contractedEdges, foldDag, formatNumber } from "./format.js";

/** How tightly a printed form binds: a sum must be parenthesised inside a product. */
const enum Binding {
  Sum = 0,
  Product = 1,
  Atom = 2,
}

interface Printed {
  readonly text: string;
  readonly binding: Binding;
}

const atom = (text: string): Printed => ({ text, binding: Binding.Atom });
const edgeList = (e: Expr): string => (e.edges.length === 0 ? "" : `[${e.edges.map((d) => d.name).join(",")}]`);
const wrapIfSum = (p: Printed): string => (p.binding === Binding.Sum ? `(${p.text})` : p.text);

/** Text of a weighted sum: `a - 0.5·b + 2`. */
function sumText(terms: readonly Expr[], weights: readonly number[], child: (c: Expr) => Printed): string {
  return terms
    .map((term, i) => {
      let w = weights[i];
      let body: string | null = wrapIfSum(child(term));
      // A scalar constant term is its own coefficient: print `- 3`, not `+ 1·-3`.
      if (term.kind === "constant" && term.edges.length === 0) {
        w *= term.value;
        body = null;
      }
      const magnitude = Math.abs(w);
      const coefficient = body === null ? formatNumber(magnitude) : magnitude === 1 ? body : `${formatNumber(magnitude)}·${body}`;
      const sign = w < 0 || Object.is(w, -0) ? "-" : "+";
      if (i === 0) return sign === "-" ? `-${coefficient}` : coefficient;
      return ` ${sign} ${coefficient}`;
    })
    .join("");
}

function printNode(e: Expr, child: (c: Expr) => Printed): Printed {
  switch (e.kind) {
    case "variable":
      return atom(`${e.name}${edgeList(e)}`);
    case "constant":
      return e.edges.length === 0 && e.value < 0
        ? { text: formatNumber(e.value), binding: Binding.Product }
        : atom(`${formatNumber(e.value)}${edgeList(e)}`);
    case "delta":
      return atom(`δ${edgeList(e)}`);
    case "oneHot":
      return atom(`onehot_{${e.edge.name}}(${child(e.index).text})`);
    case "product": {
      const inner = contractedEdges(e.factors, e.edges);
      const body = e.factors.map((f) => wrapIfSum(child(f))).join(" · ");
      if (inner.length > 0) return atom(`sum_{${inner.join(",")}}(${body})`);
      // A lone factor with no contraction only reorders axes; say so, since the text shows no order.
      if (e.factors.length === 1) return atom(`transpose[${e.edges.map((d) => d.name).join(",")}](${body})`);
      return { text: body, binding: Binding.Product };
    }
    case "sum": {
      // A positively scaled single term (`0.5·x`) reads as a product and needs no parentheses.
      const scaled = e.terms.length === 1 && e.weights[0] > 0;
      return { text: sumText(e.terms, e.weights, child), binding: scaled ? Binding.Product : Binding.Sum };
    }
    case "elementwise": {
      const args = e.args.map((a) => child(a).text);
      if (e.param !== null) args.push(formatNumber(e.param));
      return atom(`${displayName(e.fn)}(${args.join(", ")})`);
    }
    case "edgeFunction":
      return atom(`${e.fn}_{${e.edge}}(${child(e.arg).text})`);
    case "rename":
      return atom(`rename(${child(e.arg).text}, ${e.mapping.map(([from, to]) => `${from}→${to}`).join(", ")})`);
    case "stopGradient":
      return atom(`sg(${child(e.arg).text})`);
  }
}

/** A compact one-line text form: `toText(dot(x, W))` → `sum_{in}(x[batch,in] · W[in,out])`. */
export function toText(e: Expr): string {
  return foldDag(e, printNode).text;
}
