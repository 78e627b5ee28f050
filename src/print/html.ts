/**
 * Expressions as HTML for notebooks: each step of the derivation (derivation.ts) on a row, its
 * formula as `$$…$$` display maths beside its tensor diagram.
 *
 * Why this form: a front end shows one MIME type of a bundle, and every one of them ranks
 * `text/html` first (Notebook 6's output area, JupyterLab's rendermime at rank 50 against 70
 * for LaTeX and 80 for SVG, nbconvert's HTML exporter), so formula and diagram must both live in
 * the HTML. All three typeset `$…$` maths inside HTML output with MathJax. The diagram is an
 * `<img>` holding the SVG as a data URL, not inline `<svg>`: HTML sanitisers keep an `<img
 * src="data:…">` but strip `<svg>` (Notebook 6 and JupyterLab sanitise untrusted outputs,
 * nbconvert with --sanitize-html), and images keep the ids inside one SVG (vega's `clip1`) from
 * clashing with another's on the same page. Inline styles lay steps out side by side; a
 * sanitiser that drops them leaves formula above diagram, still both shown.
 */
import type { Expr } from "../dsl/expr.js";
import { type DerivationLatexOptions, derivation, stepLatex } from "./derivation.js";
import { toSvg, type SvgOptions } from "./svg.js";
import { toText } from "./text.js";

/** Text as HTML: `escapeHtml("a < b")` → `a &lt; b`. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/** The longest alt text of a diagram (the expression's text form, cut). */
const MAX_ALT = 300;

/**
 * An SVG document as an `<img>` with a data URL, at its natural size but never wider than its
 * container: `svgImage(toSvg(e), "diagram of x·W")`.
 */
export function svgImage(svg: string, alt: string): string {
  const size = /<svg\b[^>]*?\bwidth="([\d.]+)"[^>]*?\bheight="([\d.]+)"/.exec(svg);
  const dimensions = size === null ? "" : ` width="${size[1]}" height="${size[2]}"`;
  const shortAlt = alt.length > MAX_ALT ? `${alt.slice(0, MAX_ALT - 1)}…` : alt;
  const data = Buffer.from(svg, "utf8").toString("base64");
  return `<img src="data:image/svg+xml;base64,${data}"${dimensions} alt="${escapeHtml(shortAlt)}" style="max-width:100%;height:auto">`;
}

export interface HtmlOptions extends DerivationLatexOptions {
  readonly svg?: SvgOptions;
}

const ROW_STYLE = "display:flex;flex-wrap:wrap;align-items:center;gap:0.25em 2em";
// A formula wider than the output scrolls sideways; overflow-y hidden stops MathJax's display
// margins from adding a vertical scrollbar too.
const FORMULA_STYLE = "flex:1 1 auto;min-width:16em;max-width:100%;overflow-x:auto;overflow-y:hidden";
const DIAGRAM_STYLE = "flex:0 1 auto;max-width:100%";

/**
 * HTML showing `e` as a derivation, each step's LaTeX (for the page's MathJax) beside its
 * diagram: `toHtml(dot(x, W))` → `<div class="ricci-expression">…$$\sum_{…} x_{…} W_{…}$$…<img …></div>`.
 */
export function toHtml(e: Expr, options: HtmlOptions = {}): string {
  const rows = derivation(e, options).map((step, i) => {
    const formula = stepLatex(step, { ...options, where: i === 1 })
      .map((block) => `$$${escapeHtml(block)}$$`)
      .join("\n");
    const diagram = svgImage(toSvg(step.expr, options.svg), `tensor diagram of ${step.name === null ? "" : `${step.name} = `}${toText(step.expr)}`);
    return [
      `<div class="ricci-step" style="${ROW_STYLE}">`,
      `<div class="ricci-formula" style="${FORMULA_STYLE}">\n${formula}\n</div>`,
      `<div class="ricci-diagram" style="${DIAGRAM_STYLE}">${diagram}</div>`,
      "</div>",
    ].join("\n");
  });
  return `<div class="ricci-expression">\n${rows.join("\n")}\n</div>`;
}
