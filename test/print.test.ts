import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type DerivationOptions, type Expr, type Inputs, MATHJAX2_MAX_BUFFER, add, constant, crossEntropy, delta, derivation, dot, einsum, evaluate, exp, fn, gather, grad, grpoLoss, hvp,
  logSoftmax, logsumexp, max, mean, minimum, mul, ones, pow, rename, scale, simplify, softmax, stopGradient, sub, sum, tanh, toHtml,
  toLatex, toLatexDerivation, toSvg, toText, variable, variablesOf,
} from "../src/index.js";
import { serialize } from "../src/print/diagram.js";
import { formatNumber } from "../src/print/format.js";
import { breakLines, displayBlocks, topLevelPieces, visualWidth } from "../src/print/layout.js";
import { readableEdgeNames, withReadableEdgeNames } from "../src/print/readable.js";

const W = variable("W", { in: 4, out: 3 });
const x = variable("x", { batch: 8, in: 4 });
const loss = mean(logsumexp(dot(x, W), "out"));
const A = variable("A", { i: 2, j: 3 });
const B = variable("B", { j: 3, k: 4 });
const C = variable("C", { k: 4, l: 5 });
const a = variable("a", { i: 3 });
const b = variable("b", { i: 3 });
const c = variable("c", { i: 3 });

// --- independent checkers ------------------------------------------------------------------------

/** Braces and \left/\right pairs nest properly (escaped braces like \{ do not count). */
function latexBalanced(tex: string): boolean {
  const stack: string[] = [];
  for (let i = 0; i < tex.length; i++) {
    const ch = tex[i];
    if (ch === "\\") {
      const m = /^[A-Za-z]+/.exec(tex.slice(i + 1));
      if (m === null) {
        i++; // an escaped character: \{ \} \, \# \_
        continue;
      }
      const command = m[0];
      i += command.length;
      if (command === "left" || command === "right") {
        const rest = tex.slice(i + 1);
        const delimiter = /^(\\[{}|]|\\langle|\\rangle|[().|[\]])/.exec(rest);
        if (delimiter === null) return false;
        i += delimiter[0].length;
        if (command === "left") stack.push("left");
        else if (stack.pop() !== "left") return false;
      }
      continue;
    }
    if (ch === "{") stack.push("{");
    if (ch === "}" && stack.pop() !== "{") return false;
  }
  return stack.length === 0;
}

interface XmlNode {
  readonly tag: string;
  readonly attrs: Record<string, string>;
  readonly children: XmlNode[];
  text: string;
}

/** A strict little XML parser: every byte must belong to a tag or to escaped text; tags must nest. */
function parseXml(source: string): XmlNode {
  const token = /<(\/?)([a-zA-Z]+)((?:\s+[a-zA-Z][a-zA-Z:-]*="[^"<>]*")*)\s*(\/?)>|([^<]+)/gy;
  const root: XmlNode = { tag: "#root", attrs: {}, children: [], text: "" };
  const stack: XmlNode[] = [root];
  let at = 0;
  while (at < source.length) {
    token.lastIndex = at;
    const m = token.exec(source);
    if (m === null) throw new Error(`malformed XML at ${at}: ${source.slice(at, at + 40)}`);
    at = token.lastIndex;
    const [, closing, tag, attrText, selfClosing, text] = m;
    const top = stack[stack.length - 1];
    if (text !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(text) || text.includes(">")) throw new Error(`unescaped text: ${text}`);
      top.text += text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, "&");
      continue;
    }
    if (closing === "/") {
      if (top.tag !== tag) throw new Error(`</${tag}> closes <${top.tag}>`);
      stack.pop();
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const [, k, v] of attrText.matchAll(/([a-zA-Z][a-zA-Z:-]*)="([^"]*)"/g)) {
      if (k in attrs) throw new Error(`duplicate attribute ${k}`);
      attrs[k] = v;
    }
    const node: XmlNode = { tag, attrs, children: [], text: "" };
    top.children.push(node);
    if (selfClosing !== "/") stack.push(node);
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1].tag}>`);
  return root;
}

function* walk(n: XmlNode): Generator<XmlNode> {
  yield n;
  for (const c of n.children) yield* walk(c);
}

const ALLOWED = new Set(["svg", "g", "rect", "path", "circle", "text"]);

/** Parses an SVG document and checks the rules every diagram must follow. */
function checkedSvg(svg: string): XmlNode {
  const root = parseXml(svg.trim());
  expect(root.children).toHaveLength(1);
  const top = root.children[0];
  expect(top.tag).toBe("svg");
  expect(top.attrs.xmlns).toBe("http://www.w3.org/2000/svg");
  const [vx, vy, vw, vh] = top.attrs.viewBox.split(" ").map(Number);
  expect([vx, vy]).toEqual([0, 0]);
  expect(Number(top.attrs.width)).toBe(vw);
  expect(Number(top.attrs.height)).toBe(vh);
  for (const n of walk(top)) {
    expect(ALLOWED.has(n.tag)).toBe(true);
    for (const [k, v] of Object.entries(n.attrs)) {
      expect(k).not.toMatch(/href/i);
      expect(v).not.toMatch(/url\(|NaN|Infinity|undefined/);
    }
  }
  return top;
}

const texts = (n: XmlNode): string[] => [...walk(n)].filter((m) => m.tag === "text").map((m) => m.text);
const groups = (n: XmlNode, cls: string): XmlNode[] => [...walk(n)].filter((m) => m.tag === "g" && (m.attrs.class ?? "").split(" ").includes(cls));
const count = (n: XmlNode, tag: string): number => [...walk(n)].filter((m) => m.tag === tag).length;

/** The drawn wire for a contracted edge: a group with a path and a text naming the edge. */
function labelledWire(svg: XmlNode, name: string): boolean {
  return groups(svg, "wire").some(
    (g) => g.attrs["data-edge"] === name && g.children.some((c) => c.tag === "path") && g.children.some((c) => c.tag === "text" && c.text === name),
  );
}

interface Rect {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  readonly what: string;
}

/** Absolute bounds of every box and every text (monospace: 0.6 em per character). */
function layoutBounds(svg: XmlNode): { boxes: Rect[]; labels: Rect[] } {
  const boxes: Rect[] = [];
  const labels: Rect[] = [];
  const visit = (n: XmlNode, dx: number, dy: number): void => {
    let ox = dx;
    let oy = dy;
    const t = /translate\(([-\d.]+),([-\d.]+)\)/.exec(n.attrs.transform ?? "");
    if (t !== null) {
      ox += Number(t[1]);
      oy += Number(t[2]);
    }
    if (n.tag === "rect") {
      const [x, y, w, h] = ["x", "y", "width", "height"].map((k) => Number(n.attrs[k]));
      boxes.push({ x0: ox + x, y0: oy + y, x1: ox + x + w, y1: oy + y + h, what: "rect" });
    }
    if (n.tag === "text") {
      const size = Number(n.attrs["font-size"]);
      const w = [...n.text].length * size * 0.6;
      const x = ox + Number(n.attrs.x);
      const y = oy + Number(n.attrs.y);
      const anchor = n.attrs["text-anchor"] ?? "start";
      const x0 = anchor === "start" ? x : anchor === "middle" ? x - w / 2 : x - w;
      labels.push({ x0, y0: y - size * 0.75, x1: x0 + w, y1: y + size * 0.2, what: n.text });
    }
    for (const c of n.children) visit(c, ox, oy);
  };
  visit(svg, 0, 0);
  return { boxes, labels };
}

const intersects = (p: Rect, q: Rect): boolean => p.x0 < q.x1 && q.x0 < p.x1 && p.y0 < q.y1 && q.y0 < p.y1;
const inside = (p: Rect, q: Rect): boolean => p.x0 >= q.x0 && p.x1 <= q.x1 && p.y0 >= q.y0 && p.y1 <= q.y1;

/** Expression tree walk with multiplicity (the drawing inlines shared nodes). */
function occurrences(e: Expr, visit: (node: Expr, parent: Expr | null) => void, parent: Expr | null = null): void {
  visit(e, parent);
  const kids =
    e.kind === "product" ? e.factors : e.kind === "sum" ? e.terms : e.kind === "elementwise" ? e.args : e.kind === "oneHot" ? [e.index] : "arg" in e ? [e.arg] : [];
  for (const k of kids) occurrences(k, visit, e);
}

// --- toText --------------------------------------------------------------------------------------

describe("toText", () => {
  it("prints contractions, reductions and edge functions compactly", () => {
    expect(toText(dot(x, W))).toBe("sum_{in}(x[batch,in] · W[in,out])");
    // mean over batch of 8 is the weight 1/8.
    expect(toText(loss)).toBe("0.125·sum_{batch}(logsumexp_{out}(sum_{in}(x[batch,in] · W[in,out])))");
    expect(toText(softmax(W, "out"))).toBe("softmax_{out}(W[in,out])");
  });

  it("prints weighted sums with signs and folds scalar constants into the sign", () => {
    expect(toText(add(scale(a, 0.5), b))).toBe("0.5·a[i] + b[i]");
    expect(toText(sub(a, scale(b, 0.5)))).toBe("a[i] - 0.5·b[i]");
    expect(toText(sub(b, a))).toBe("b[i] - a[i]");
    expect(toText(add(scale(a, -1), b))).toBe("-a[i] + b[i]");
    expect(toText(sub(a, 3))).toBe("a[i] - 3");
    expect(toText(add(a, 1 / 3))).toBe("a[i] + 1/3");
  });

  it("prints functions, renames, constants and gradients stops", () => {
    expect(toText(exp(a))).toBe("exp(a[i])");
    expect(toText(pow(a, 2))).toBe("pow(a[i], 2)");
    expect(toText(rename(W, { in: "k" }))).toBe("rename(W[in,out], in→k)");
    expect(toText(stopGradient(exp(a)))).toBe("sg(exp(a[i]))");
    expect(toText(constant(2, { t: 3 }))).toBe("2[t]");
    expect(toText(delta({ i: 3, j: 3 }))).toBe("δ[i,j]");
    expect(toText(fn("softplus_t", "log(1 + exp(x))")(a))).toBe("softplus_t(a[i])");
    expect(toText(minimum(a, b))).toBe("minimum(a[i], b[i])");
  });

  it("parenthesises a sum inside a product", () => {
    expect(toText(mul(add(a, b), c))).toBe("(a[i] + b[i]) · c[i]");
  });

  it("inlines shared subexpressions and is deterministic", () => {
    const shared = dot(x, W);
    const e = add(exp(shared), tanh(shared));
    const t = toText(e);
    expect(t.split("sum_{in}(x[batch,in] · W[in,out])")).toHaveLength(3);
    expect(toText(add(exp(dot(x, W)), tanh(dot(x, W))))).toBe(t);
  });

  it("handles expressions thousands of nodes deep", () => {
    let e: Expr = a;
    for (let i = 0; i < 5000; i++) e = tanh(e);
    const t = toText(e);
    expect(t.startsWith("tanh(tanh(")).toBe(true);
    expect(t.length).toBe(5000 * "tanh()".length + "a[i]".length);
  });
});

describe("formatNumber", () => {
  it("writes numbers short and exact enough", () => {
    expect(formatNumber(0.125)).toBe("0.125");
    expect(formatNumber(1 / 3)).toBe("1/3");
    expect(formatNumber(-1 / 96)).toBe("-1/96");
    expect(formatNumber(0.1 + 0.2)).toBe("0.3");
    expect(formatNumber(1e-8)).toBe("1e-8");
    expect(formatNumber(-2)).toBe("-2");
  });
});

// --- toLatex -------------------------------------------------------------------------------------

describe("toLatex", () => {
  it("prints index notation with upright multi-letter edge names", () => {
    expect(toLatex(W)).toBe("W_{\\mathrm{in},\\mathrm{out}}");
    expect(toLatex(dot(x, W))).toBe("\\sum_{\\mathrm{in}} x_{\\mathrm{batch},\\mathrm{in}} W_{\\mathrm{in},\\mathrm{out}}");
    expect(toLatex(dot(dot(A, B), C))).toBe("\\sum_{k} \\left(\\sum_{j} A_{i,j} B_{j,k}\\right) C_{k,l}");
    expect(toLatex(variable("logits", { vocab: 5 }))).toBe("\\mathrm{logits}_{\\mathrm{vocab}}");
  });

  it("prints weighted sums with proper signs", () => {
    expect(toLatex(sub(a, scale(b, 0.5)))).toBe("a_{i} - 0.5 b_{i}");
    expect(toLatex(add(scale(a, -1), b))).toBe("-a_{i} + b_{i}");
    expect(toLatex(sub(a, 3))).toBe("a_{i} - 3");
    expect(toLatex(scale(a, 1 / 3))).toBe("\\frac{1}{3} a_{i}");
  });

  it("prints elementwise functions through the rule table, user functions included", () => {
    expect(toLatex(exp(a))).toBe("e^{a_{i}}");
    expect(toLatex(tanh(a))).toBe("\\tanh\\left(a_{i}\\right)");
    expect(toLatex(pow(a, 0.5))).toBe("\\sqrt{a_{i}}");
    expect(toLatex(fn("swishy", "x / (1 + exp(-x))")(a))).toBe("\\operatorname{swishy}\\left(a_{i}\\right)");
  });

  it("prints edge functions with their edge as a subscript", () => {
    const logits = variable("z", { vocab: 5 });
    expect(toLatex(softmax(logits, "vocab"))).toBe("\\operatorname{softmax}_{\\mathrm{vocab}}\\left(z_{\\mathrm{vocab}}\\right)");
    expect(toLatex(logsumexp(W, "out"))).toBe("\\operatorname{logsumexp}_{\\mathrm{out}}\\left(W_{\\mathrm{in},\\mathrm{out}}\\right)");
    expect(toLatex(max(a, "i"))).toBe("\\max_{i}\\left(a_{i}\\right)");
  });

  it("prints constants, delta, oneHot, rename and stopGradient", () => {
    expect(toLatex(ones({ t: 5 }))).toBe("\\mathbf{1}_{t}");
    expect(toLatex(constant(0.5))).toBe("0.5");
    expect(toLatex(delta({ i: 3, j: 3 }))).toBe("\\delta_{i,j}");
    const ids = variable("ids", { b: 2 });
    const E = variable("E", { vocab: 5, d: 2 });
    expect(toLatex(gather(E, ids, "vocab"))).toBe("\\sum_{\\mathrm{vocab}} \\mathrm{onehot}_{\\mathrm{vocab}}\\left(\\mathrm{ids}_{b}\\right) E_{\\mathrm{vocab},d}");
    expect(toLatex(rename(W, { in: "k" }))).toBe("W_{\\mathrm{in}\\to k,\\mathrm{out}}");
    expect(toLatex(rename(exp(a), { i: "j" }))).toBe("\\left.e^{a_{i}}\\right|_{i\\to j}");
    expect(toLatex(stopGradient(exp(a)))).toBe("\\operatorname{sg}\\left(e^{a_{i}}\\right)");
  });

  it("parenthesises sums inside products", () => {
    expect(toLatex(mul(add(a, b), c))).toBe("\\left(a_{i} + b_{i}\\right) c_{i}");
    expect(toLatex(dot(sub(A, A), B))).toContain("\\mathbf{0}");
    expect(toLatex(dot(add(A, mul(A, A)), B))).toBe("\\sum_{j} \\left(A_{i,j} + A_{i,j} A_{i,j}\\right) B_{j,k}");
  });

  it("the balance checker rejects unbalanced input", () => {
    expect(latexBalanced("\\left(a\\right)")).toBe(true);
    expect(latexBalanced("\\left(a")).toBe(false);
    expect(latexBalanced("{a")).toBe(false);
    expect(latexBalanced("\\left({a\\right)}")).toBe(false);
    expect(latexBalanced("\\{a")).toBe(true);
  });

  it("balances braces and \\left/\\right for losses and their derivatives", () => {
    const U = variable("U", { in: 4, out: 3 });
    const y = variable("y", { batch: 8, out: 3 });
    const ce = mean(sum(mul(y, logSoftmax(dot(x, W), "out")), "out"));
    const sq = fn("sq_t", "x^2");
    const exprs = [
      loss, grad(loss, W), hvp(loss, W, U), ce, grad(ce, W), hvp(ce, W, U),
      grad(mean(sq(tanh(dot(x, W)))), W), grad(mean(minimum(dot(x, W), 0.5)), W),
      grad(mean(stopGradient(x)), x), grad(sum(rename(exp(W), { in: "k" })), W),
    ];
    for (const e of exprs) expect(latexBalanced(toLatex(e))).toBe(true);
    expect(toLatex(grad(loss, W))).toContain("\\operatorname{softmax}_{\\mathrm{out}}");
  });
});

// --- toSvg ---------------------------------------------------------------------------------------

describe("toSvg", () => {
  it("draws a product as one box per factor, a labelled wire per contracted edge, dangling free edges", () => {
    const svg = checkedSvg(toSvg(dot(dot(A, B), C)));
    expect(count(svg, "rect")).toBe(3);
    expect(groups(svg, "box").map((g) => [...walk(g)].find((c) => c.tag === "text")?.text)).toEqual(["A", "B", "C"]);
    expect(labelledWire(svg, "j")).toBe(true);
    expect(labelledWire(svg, "k")).toBe(true);
    const free = groups(svg, "free-edge");
    expect(free.map((g) => g.attrs["data-edge"]).sort()).toEqual(["i", "l"]);
    // Each free edge ends in its name and size.
    for (const g of free) expect(g.children.filter((c) => c.tag === "text").map((c) => c.text)).toEqual([g.attrs["data-edge"], g.attrs["data-edge"] === "i" ? "2" : "5"]);
  });

  it("draws dot(x, W) with the free edges on the outside and no overlaps", () => {
    const source = toSvg(dot(x, W));
    const svg = checkedSvg(source);
    expect(count(svg, "rect")).toBe(2);
    expect(labelledWire(svg, "in")).toBe(true);
    expect(texts(svg)).toEqual(expect.arrayContaining(["batch", "out", "8", "3"]));
    const { labels } = layoutBounds(svg);
    const at = (name: string): Rect => labels.find((l) => l.what === name)!;
    expect(at("batch").x1).toBeLessThan(at("x").x0);
    expect(at("out").x0).toBeGreaterThan(at("W").x1);
    expect(toSvg(dot(x, W), { showSizes: false })).not.toContain(">8<");
  });

  it("joins an edge shared by three or more wire ends at a copy dot", () => {
    const kept = checkedSvg(toSvg(mul(a, b, c)));
    expect(count(kept, "rect")).toBe(3);
    const hub = groups(kept, "hub").filter((g) => g.attrs["data-edge"] === "i");
    expect(hub).toHaveLength(1);
    expect(hub[0].children.filter((n) => n.tag === "circle")).toHaveLength(1);
    expect(hub[0].children.filter((n) => n.tag === "path")).toHaveLength(3);
    expect(groups(kept, "free-edge").map((g) => g.attrs["data-edge"])).toEqual(["i"]);

    const contracted = checkedSvg(toSvg(einsum([a, b, c], [])));
    expect(labelledWire(contracted, "i")).toBe(true);
    expect(count(contracted, "circle")).toBe(1);
    expect(groups(contracted, "free-edge")).toHaveLength(0);

    // Two neighbours sharing a kept edge: a dot on the wire between them, dangling from it.
    const pair = checkedSvg(toSvg(mul(a, b)));
    expect(groups(pair, "bridge").some((g) => g.children.some((n) => n.tag === "circle"))).toBe(true);
  });

  it("caps an edge summed on one factor and draws delta as a dot", () => {
    const summed = checkedSvg(toSvg(sum(A, "j")));
    expect(labelledWire(summed, "j")).toBe(true);
    expect(groups(summed, "cap")).toHaveLength(1);
    const d = checkedSvg(toSvg(dot(delta({ i: 3, k: 3 }), c, "i")));
    expect(groups(d, "copy")).toHaveLength(1);
    expect(count(d, "rect")).toBe(1);
  });

  it("draws sums side by side with signs and weights", () => {
    const svg = checkedSvg(toSvg(sub(scale(a, 0.5), b)));
    const ops = groups(svg, "operator").map((g) => g.children[0].text);
    const weights = groups(svg, "weight").map((g) => g.children[0].text);
    expect(ops).toEqual(["−"]);
    expect(weights).toEqual(["0.5 ·"]);
    expect(count(svg, "rect")).toBe(2);
  });

  it("frames functions around their argument and names them", () => {
    const e = checkedSvg(toSvg(exp(a)));
    const frames = groups(e, "frame");
    expect(frames.map((f) => f.children.find((n) => n.tag === "text")?.text)).toEqual(["exp"]);
    const logits = variable("logits", { batch: 2, vocab: 5 });
    const s = checkedSvg(toSvg(softmax(logits, "vocab")));
    expect(texts(s)).toContain("softmax_vocab");
    expect(groups(s, "free-edge").map((g) => g.attrs["data-edge"]).sort()).toEqual(["batch", "vocab"]);
    // logsumexp removes its edge: it ends inside the frame, and only batch leaves the drawing.
    const l = checkedSvg(toSvg(logsumexp(logits, "vocab")));
    const lse = groups(l, "frame")[0];
    expect(lse.children.find((n) => n.tag === "text")?.text).toBe("logsumexp_vocab");
    const dangling = groups(l, "free-edge").map((g) => g.attrs["data-edge"]).sort();
    expect(dangling).toEqual(["batch", "vocab"]); // vocab's stub is the one inside the frame
    expect(groups(checkedSvg(toSvg(stopGradient(exp(a)))), "frame")).toHaveLength(2);
    expect(texts(checkedSvg(toSvg(rename(W, { in: "k" }))))).toEqual(expect.arrayContaining(["W", "in→k", "k", "out"]));
  });

  it("keeps labels apart and off the box borders for typical expressions", () => {
    const typical = [dot(x, W), loss, grad(loss, W), dot(dot(A, B), C), mul(a, b), mean(logSoftmax(dot(x, W), "out"))];
    for (const e of typical) {
      const { boxes, labels } = layoutBounds(checkedSvg(toSvg(e)));
      for (let i = 0; i < labels.length; i++) {
        for (let j = i + 1; j < labels.length; j++) {
          expect(intersects(labels[i], labels[j]), `${labels[i].what} / ${labels[j].what} in ${toText(e)}`).toBe(false);
        }
        for (const box of boxes) {
          const ok = !intersects(labels[i], box) || inside(labels[i], box);
          expect(ok, `${labels[i].what} crosses a box border in ${toText(e)}`).toBe(true);
        }
      }
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
          const p = boxes[i];
          const q = boxes[j];
          expect(!intersects(p, q) || inside(p, q) || inside(q, p), `boxes overlap in ${toText(e)}`).toBe(true);
        }
      }
    }
  });

  it("escapes text and is deterministic", () => {
    expect(serialize({ tag: "text", attrs: { x: 0, "data-edge": 'a"b' }, text: "a<b & c>d" })).toBe('<text x="0" data-edge="a&quot;b">a&lt;b &amp; c&gt;d</text>');
    const build = (): Expr => grad(mean(logsumexp(dot(variable("x", { batch: 8, in: 4 }), variable("W", { in: 4, out: 3 })), "out")), W);
    expect(toSvg(build())).toBe(toSvg(build()));
  });

  it("draws gradients and Hessian-vector products as well-formed SVG", () => {
    const U = variable("U", { in: 4, out: 3 });
    for (const e of [grad(loss, W), hvp(loss, W, U), grad(mean(tanh(dot(x, W))), x)]) {
      const svg = checkedSvg(toSvg(e));
      for (const d of e.edges) expect(texts(svg)).toContain(d.name);
    }
  });
});

// --- random expressions -----------------------------------------------------------------------------

const p = variable("p", { i: 2 });
const q = variable("q", { i: 2, j: 3 });
const r = variable("r", { j: 3 });
const has = (e: Expr, name: string): boolean => e.edges.some((d) => d.name === name);

const { expr: randomExpr } = fc.letrec<{ expr: Expr }>((tie) => ({
  expr: fc.oneof(
    { depthSize: "small", maxDepth: 4 },
    fc.constantFrom<Expr>(p, q, r),
    fc.tuple(tie("expr"), tie("expr")).map(([u, v]) => add(u, v)),
    fc.tuple(tie("expr"), tie("expr")).map(([u, v]) => sub(u, scale(v, 0.5))),
    fc.tuple(tie("expr"), tie("expr")).map(([u, v]) => mul(u, v)),
    fc.tuple(tie("expr"), tie("expr")).map(([u, v]) => dot(u, v)),
    fc.tuple(tie("expr"), tie("expr")).map(([u, v]) => minimum(u, v)),
    tie("expr").map((u) => exp(u)),
    tie("expr").map((u) => tanh(u)),
    tie("expr").map((u) => scale(u, -2)),
    tie("expr").map((u) => stopGradient(u)),
    tie("expr").map((u) => (has(u, "j") ? softmax(u, "j") : u)),
    tie("expr").map((u) => (has(u, "i") ? logsumexp(u, "i") : u)),
    tie("expr").map((u) => (has(u, "i") && !has(u, "k") ? rename(u, { i: "k" }) : u)),
    tie("expr").map((u) => (u.edges.length > 0 ? sum(u, u.edges[0].name) : u)),
  ),
}));

describe("printers on random expressions", () => {
  it("LaTeX balances, text is stable, SVG is well formed and draws every variable and contraction", () => {
    fc.assert(
      fc.property(randomExpr, (e) => {
        const targets = [e, grad(sum(e), [p, q, r])[0]];
        for (const t of targets) {
          expect(latexBalanced(toLatex(t))).toBe(true);
          expect(toText(t)).toBe(toText(t));
          const source = toSvg(t);
          expect(toSvg(t)).toBe(source);
          const svg = checkedSvg(source);
          // One variable box per variable occurrence (renamed variables draw as rename boxes).
          let variables = 0;
          let renamed = 0;
          const contracted = new Set<string>();
          occurrences(t, (node, parent) => {
            if (node.kind === "variable") parent?.kind === "rename" ? renamed++ : variables++;
            if (node.kind === "product") {
              for (const f of node.factors) for (const d of f.edges) if (!has(node, d.name)) contracted.add(d.name);
            }
          });
          expect(groups(svg, "box").filter((g) => g.attrs["data-kind"] === "variable")).toHaveLength(variables);
          expect(groups(svg, "box").filter((g) => g.attrs["data-kind"] === "rename")).toHaveLength(renamed);
          for (const name of contracted) expect(labelledWire(svg, name)).toBe(true);
          for (const d of t.edges) expect(texts(svg)).toContain(d.name);
        }
      }),
      { numRuns: 80, seed: 20240607 },
    );
  });
});

// --- readable edge names, derivations, layout, HTML ------------------------------------------------

/** Notebook 05's GRPO gradient (notebooks/src/05-grpo.ts): simplification leaves reserved `#` edges in it. */
function grpoGradient(): { gradient: Expr; inputs: Expr[] } {
  const te = { group: 2, sample: 3, t: 4 };
  const [logp, oldLogp, refLogp, mask] = ["logp", "oldLogp", "refLogp", "mask"].map((n) => variable(n, te));
  const rewards = variable("rewards", { group: 2, sample: 3 });
  const g = grpoLoss({ logp, oldLogp, refLogp, rewards, mask });
  return { gradient: simplify(grad(g.loss, logp)), inputs: [logp, oldLogp, refLogp, mask, rewards] };
}

/** Deterministic pseudo-random values for every variable of `e` (masks 0/1, the rest in (-1, 1)). */
function valuesFor(e: Expr, seed = 1): Record<string, Float64Array> {
  let state = seed;
  const next = (): number => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648);
  const values: Record<string, Float64Array> = {};
  for (const v of variablesOf(e)) {
    const n = v.edges.reduce((k, d) => k * d.size, 1);
    values[v.name] = Float64Array.from({ length: n }, () => (v.name === "mask" ? (next() < 0.7 ? 1 : 0) : next() * 2 - 1));
  }
  return values;
}

/** The value of a derivation: each definition evaluated once the names it uses have values, the first step last. */
function evaluateDerivation(e: Expr, inputs: Inputs, options: DerivationOptions = {}): Float64Array {
  const steps = derivation(e, options);
  const values: Record<string, Float64Array> = { ...(inputs as Record<string, Float64Array>) };
  const ready = (step: (typeof steps)[number]): boolean => variablesOf(step.expr).every((v) => v.name in values);
  let pending = steps.slice(1);
  while (pending.length > 0) {
    const next = pending.find(ready);
    if (next === undefined) throw new Error(`definitions use each other in a cycle: ${pending.map((s) => s.name).join(", ")}`);
    values[next.name!] = evaluate(next.expr, values).data;
    pending = pending.filter((s) => s !== next);
  }
  return evaluate(steps[0].expr, values).data;
}

/** The LaTeX inside every `$$…$$` of a text, HTML entities decoded. */
function displayMaths(text: string): string[] {
  return [...text.matchAll(/\$\$([\s\S]*?)\$\$/g)].map((m) => m[1].replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&amp;/g, "&"));
}

describe("readable edge names", () => {
  it("names ricci's reserved # edges after the edge they are renamed from, with primes, and prints no #", () => {
    const { gradient } = grpoGradient();
    const reserved = readableEdgeNames(gradient);
    // The test is only meaningful if simplification really left reserved names.
    expect([...reserved.keys()].every((name) => name.startsWith("#"))).toBe(true);
    expect(reserved.size).toBeGreaterThanOrEqual(2);
    expect(new Set(reserved.values()).size).toBe(reserved.size);
    expect([...reserved.values()]).toEqual(expect.arrayContaining(["sample'", "sample''"]));
    expect(toText(gradient)).toContain("#");
    const latex = toLatex(gradient);
    expect(latex).not.toContain("#");
    expect(latex).toContain("\\mathrm{sample}'");
    expect(latexBalanced(latex)).toBe(true);
    expect(toSvg(gradient)).not.toContain("#0");
  });

  it("prints a one-hot's reserved edge and its rename readably (notebook 01's cross-entropy gradient)", () => {
    const z = variable("logits", { batch: 2, seq: 3, vocab: 5 });
    const ce = crossEntropy({ logits: z, targets: variable("targets", { batch: 2, seq: 3 }), mask: variable("mask", { batch: 2, seq: 3 }) });
    const gradient = simplify(grad(ce, z));
    expect(toText(gradient)).toContain("onehot_{#0}");
    const latex = toLatex(gradient);
    expect(latex).not.toContain("#");
    expect(latex).toContain("\\mathrm{onehot}_{\\mathrm{vocab}'}");
    expect(latex).toContain("\\right|_{\\mathrm{vocab}'\\to \\mathrm{vocab}}");
  });

  it("is a renaming of bound edges only: the value is unchanged", () => {
    const { gradient } = grpoGradient();
    const values = valuesFor(gradient);
    const readable = withReadableEdgeNames(gradient);
    expect(readable).not.toBe(gradient);
    expect(readable.edges).toEqual(gradient.edges);
    expect(Array.from(evaluate(readable, values).data)).toEqual(Array.from(evaluate(gradient, values).data));
    // An expression without reserved names is returned as it is.
    expect(withReadableEdgeNames(dot(x, W))).toBe(dot(x, W));
  });

  it("keeps primes as primes in LaTeX names", () => {
    expect(toLatex(variable("v", { "sample'": 2 }))).toBe("v_{\\mathrm{sample}'}");
    expect(toLatex(variable("v", { "k''": 2 }))).toBe("v_{k''}");
  });
});

describe("derivation", () => {
  it("leaves a small expression whole", () => {
    const steps = derivation(dot(x, W));
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ name: null, placeholder: null });
    expect(steps[0].expr).toBe(dot(x, W));
    expect(toLatexDerivation(dot(x, W))).toEqual([toLatex(dot(x, W))]);
  });

  it("names a subexpression printed several times, once, in terms of which the rest reads", () => {
    const centred = sub(a, mean(a));
    const e = mul(centred, pow(add(sum(mul(centred, centred)), 1e-4), -0.5));
    const steps = derivation(e, { sharedWidth: 4 });
    expect(steps.length).toBeGreaterThan(1);
    const [main, ...parts] = steps;
    // The centred term is defined once and used by name twice in the main step.
    const name = parts.find((p) => toText(p.expr) === toText(centred))?.name;
    expect(name).toBeDefined();
    expect(toText(main.expr).split(`${name}[i]`).length - 1).toBeGreaterThanOrEqual(2);
    expect(toText(main.expr)).not.toContain(toText(centred));
  });

  it("computes what the expression computes (definitions substituted back), for notebook 05's GRPO gradient", () => {
    const { gradient } = grpoGradient();
    const steps = derivation(gradient);
    expect(steps.length).toBeGreaterThan(3);
    // Names are distinct capital letters, none a variable's name.
    const names = steps.slice(1).map((s) => s.name!);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^[A-Z]\d*$/);
    for (const v of variablesOf(gradient)) expect(names).not.toContain(v.name);
    for (const seed of [1, 2, 3]) {
      const values = valuesFor(gradient, seed);
      const expected = Array.from(evaluate(gradient, values).data);
      const got = Array.from(evaluateDerivation(gradient, values));
      expect(got.length).toBe(expected.length);
      got.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 12));
    }
  });

  it("prints notebook 05's GRPO gradient in blocks MathJax 2 accepts: each under its 5120-character buffer, no #", () => {
    const { gradient } = grpoGradient();
    expect(MATHJAX2_MAX_BUFFER).toBe(5 * 1024);
    // As one formula the gradient is over the buffer: the reason for the derivation.
    expect(toLatex(gradient).length).toBeGreaterThan(MATHJAX2_MAX_BUFFER);
    const blocks = toLatexDerivation(gradient);
    expect(blocks.length).toBeGreaterThan(1);
    for (const block of blocks) {
      expect(block.length).toBeLessThan(MATHJAX2_MAX_BUFFER);
      expect(block).not.toContain("#");
      expect(latexBalanced(block)).toBe(true);
    }
    expect(blocks[1]).toMatch(/^(\\begin\{aligned\})?\\text\{where\}/);
    // Every named part is defined by exactly one block.
    for (const step of derivation(gradient).slice(1)) {
      expect(blocks.filter((b) => b.includes(`${toLatex(step.placeholder!)} = `) || b.includes(`${toLatex(step.placeholder!)} &= `))).toHaveLength(1);
    }
    const html = toHtml(gradient);
    for (const tex of displayMaths(html)) {
      expect(tex.length).toBeLessThan(MATHJAX2_MAX_BUFFER);
      expect(tex).not.toContain("#");
    }
  });

  it("splits a formula too long for one block at its terms, every block under the limit", () => {
    const terms = Array.from({ length: 300 }, (_, k) => variable(`v${k}`, { i: 2 }));
    const e = add(...terms);
    const blocks = toLatexDerivation(e, { maxBlockChars: 1000 });
    expect(blocks.length).toBeGreaterThan(3);
    for (const block of blocks) {
      expect(block.length).toBeLessThanOrEqual(1000);
      expect(latexBalanced(block)).toBe(true);
    }
    // No term is lost or cut: every variable appears exactly once across the blocks.
    const all = blocks.join(" ");
    for (let k = 0; k < 300; k++) expect(all.split(`\\mathrm{v${k}}_{i}`).length - 1).toBe(1);
  });
});

describe("layout", () => {
  it("measures what is drawn, not the markup", () => {
    expect(visualWidth("\\mathrm{batch}")).toBe(5);
    expect(visualWidth("x_{\\mathrm{batch}}")).toBeCloseTo(1 + 0.7 * 5);
    expect(visualWidth("\\left(a\\right)")).toBe(3);
    expect(visualWidth("\\frac{1}{150}")).toBeLessThan(4);
  });

  it("breaks only at the top level, before terms or between factors, never after a \\sum or a coefficient", () => {
    expect(topLevelPieces("a + b \\left(c + d\\right)", ["term"])).toEqual(["a", "+ b \\left(c + d\\right)"]);
    expect(topLevelPieces("\\frac{1}{3} \\sum_{\\mathrm{in}} x_{i} W_{j}", ["factor"])).toEqual(["\\frac{1}{3} \\sum_{\\mathrm{in}} x_{i}", "W_{j}"]);
    expect(topLevelPieces("e^{a + b} c", ["term"])).toEqual(["e^{a + b} c"]);
    expect(breakLines("a + b + c", 1)).toEqual(["a", "+ b", "+ c"]);
    expect(breakLines("a + b", 100)).toEqual(["a + b"]);
  });

  it("wraps long lines into an aligned environment under the definition's name", () => {
    const long = Array.from({ length: 20 }, (_, k) => `x_{${k}}`).join(" + ");
    const [block] = displayBlocks("A_{i}", long, { lineWidth: 20, maxChars: 4096 });
    expect(block.startsWith("\\begin{aligned}A_{i} &= x_{0}")).toBe(true);
    expect(block.endsWith("\\end{aligned}")).toBe(true);
    expect(block).toContain(" \\\\ &\\quad {}+ x_{");
    expect(displayBlocks("A", "a + b", { lineWidth: 20, maxChars: 4096 })).toEqual(["A = a + b"]);
  });
});

describe("toHtml", () => {
  it("shows each step's LaTeX as $$…$$ beside an <img> of its diagram", () => {
    const { gradient } = grpoGradient();
    const html = toHtml(gradient);
    const steps = derivation(gradient);
    expect(displayMaths(html)).toEqual(toLatexDerivation(gradient));
    const images = [...html.matchAll(/<img src="data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)" width="(\d+)" height="(\d+)" alt="([^"]*)"/g)];
    expect(images).toHaveLength(steps.length);
    images.forEach((m, i) => {
      const svg = Buffer.from(m[1], "base64").toString("utf8");
      expect(svg).toBe(toSvg(steps[i].expr));
      expect(svg).toContain(`width="${m[2]}" height="${m[3]}"`);
    });
    // A placeholder of the first step is drawn as a box named like its definition.
    const first = checkedSvg(toSvg(steps[0].expr));
    expect(texts(first)).toEqual(expect.arrayContaining(steps.slice(1).map((s) => s.name!).filter((n) => toText(steps[0].expr).includes(`${n}[`))));
  });

  it("escapes LaTeX for HTML (a comparison's > stays maths, not markup)", () => {
    const html = toHtml(mul(a, pow(sub(b, c), 2)));
    expect(html).not.toMatch(/\$\$[^$]*<(?!img|div|\/div)/);
    const gradientHtml = toHtml(grpoGradient().gradient);
    expect(gradientHtml).toContain("&gt;");
    expect(displayMaths(gradientHtml).some((tex) => tex.includes(" > "))).toBe(true);
  });
});

describe("derivations of random expressions", () => {
  it("compute the expression's value, balance every block and leave no # — also after simplify", () => {
    fc.assert(
      fc.property(randomExpr, fc.integer({ min: 1, max: 1000 }), (e, seed) => {
        const gradient = grad(sum(e), [p, q, r])[0];
        for (const t of [e, gradient, simplify(gradient)]) {
          // Narrow settings, so that even these small expressions get named parts.
          const options = { lineWidth: 8, maxStepWidth: 12, maxUnbreakableWidth: 8, sharedWidth: 2, minRemainderWidth: 2 };
          const values = valuesFor(t, seed);
          const expected = Array.from(evaluate(t, values).data);
          const steps = derivation(t, options);
          const got = Array.from(evaluateDerivation(t, values, options));
          got.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 9));
          expect(new Set(steps.map((s) => s.name)).size).toBe(steps.length);
          for (const block of toLatexDerivation(t, options)) {
            expect(latexBalanced(block)).toBe(true);
            expect(block).not.toContain("#");
          }
        }
      }),
      { numRuns: 60, seed: 20261207 },
    );
  });
});
