/**
 * What the kernel displays (kernels/ricci/display.ts), without Jupyter: the MIME bundle of an
 * expression and of a chart. Every front end shows text/html first, so that is where formula and
 * diagram must both be; the LaTeX anywhere in a bundle must fit MathJax 2's buffer.
 */
import { describe, expect, it } from "vitest";
import { mimeBundleOf, type RicciModule } from "../kernels/ricci/display.js";
import * as ricci from "../src/entries/all.js";

const { MATHJAX2_MAX_BUFFER, derivation, dot, grad, grpoLoss, lineChart, simplify, toLatex, toLatexDerivation, toSvg, toText, variable } = ricci;
const module = ricci as unknown as RicciModule;

const decode = (html: string): string => html.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&amp;/g, "&");
/** The LaTeX inside every `$$…$$` of a text (entities decoded: MathJax reads the text, not the markup). */
const displayMaths = (text: string): string[] => [...text.matchAll(/\$\$([\s\S]*?)\$\$/g)].map((m) => decode(m[1]));
/** The SVG documents of every `<img src="data:image/svg+xml;base64,…">`. */
const embeddedSvgs = (html: string): string[] =>
  [...html.matchAll(/<img src="data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1], "base64").toString("utf8"));

/** Notebook 05's first code cell after setup (notebooks/src/05-grpo.ts). */
function grpoGradient(): ricci.Expr {
  const te = { group: 2, sample: 3, t: 4 };
  const [logp, oldLogp, refLogp, mask] = ["logp", "oldLogp", "refLogp", "mask"].map((n) => variable(n, te));
  const rewards = variable("rewards", { group: 2, sample: 3 });
  return simplify(grad(grpoLoss({ logp, oldLogp, refLogp, rewards, mask }).loss, logp));
}

describe("an expression's display bundle", () => {
  it("holds HTML with the formula as $$…$$ beside the diagram as an image, plus LaTeX, SVG and text", async () => {
    const e = dot(variable("x", { batch: 8, in: 4 }), variable("W", { in: 4, out: 3 }));
    const bundle = await mimeBundleOf(module, e);
    expect(Object.keys(bundle).sort()).toEqual(["image/svg+xml", "text/html", "text/latex", "text/plain"]);
    const html = bundle["text/html"] as string;
    expect(displayMaths(html)).toEqual([toLatex(e)]);
    expect(embeddedSvgs(html)).toEqual([toSvg(e)]);
    expect(bundle["text/latex"]).toBe(`$$${toLatex(e)}$$`);
    expect(bundle["image/svg+xml"]).toBe(toSvg(e));
    expect(bundle["text/plain"]).toBe(toText(e));
  });

  it("shows notebook 05's GRPO gradient as a derivation: a row per step, every LaTeX string under MathJax 2's buffer, no #", async () => {
    const e = grpoGradient();
    const bundle = await mimeBundleOf(module, e);
    const html = bundle["text/html"] as string;
    const latex = bundle["text/latex"] as string;
    const steps = derivation(e);
    expect(steps.length).toBeGreaterThan(1);
    expect(embeddedSvgs(html)).toEqual(steps.map((s) => toSvg(s.expr)));
    expect(displayMaths(html)).toEqual(toLatexDerivation(e));
    expect(displayMaths(latex)).toEqual(toLatexDerivation(e));
    // Every LaTeX string a front end could typeset: each block of the HTML and of text/latex.
    const strings = [...displayMaths(html), ...displayMaths(latex)];
    expect(strings.join("").length).toBeGreaterThan(MATHJAX2_MAX_BUFFER / 2);
    for (const tex of strings) {
      expect(tex.length).toBeLessThan(MATHJAX2_MAX_BUFFER);
      expect(tex).not.toContain("#");
    }
    // The one-formula form is what used to be sent, and it is over the buffer.
    expect(toLatex(e).length).toBeGreaterThan(MATHJAX2_MAX_BUFFER);
  });
});

describe("a chart's display bundle", () => {
  it("adds an HTML image of the chart to the Vega-Lite spec, SVG and text", async () => {
    const spec = lineChart({ title: "loss", data: [{ step: 1, loss: 2 }, { step: 2, loss: 1 }], x: "step", y: "loss" });
    const bundle = await mimeBundleOf(module, spec);
    expect(Object.keys(bundle).sort()).toEqual(["application/vnd.vegalite.v6+json", "image/svg+xml", "text/html", "text/plain"]);
    expect(embeddedSvgs(bundle["text/html"] as string)).toEqual([bundle["image/svg+xml"]]);
    expect(bundle["image/svg+xml"]).toContain(">loss</text>");
  });
});
