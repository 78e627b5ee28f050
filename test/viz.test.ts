import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { version as vegaLiteVersion, type TopLevelSpec } from "vega-lite";
import { RicciError } from "../src/index.js";
import { VEGALITE_MIME, VEGALITE_SCHEMA, chartBundle, lineChart, renderSvg, writeChart, type ChartRow } from "../src/entries/train.js";

// ---------------------------------------------------------------------------------------------
// An independent, minimal XML well-formedness check: one root, balanced tags, quoted attributes
// without duplicates, and no bare "<" or "&" in text or attribute values.

const TAG = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*="[^"]*")*)\s*(\/?)>/y;
const ATTRIBUTE = /\s+([A-Za-z_][\w:.-]*)="([^"]*)"/g;
const BARE_AMPERSAND = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;

function assertWellFormedXml(xml: string): void {
  const stack: string[] = [];
  let roots = 0;
  let at = 0;
  while (at < xml.length) {
    const lt = xml.indexOf("<", at);
    const text = xml.slice(at, lt === -1 ? xml.length : lt);
    if (BARE_AMPERSAND.test(text)) throw new Error(`bare & in text near ${at}: ${text.slice(0, 60)}`);
    if (stack.length === 0 && text.trim() !== "") throw new Error(`text outside the root near ${at}`);
    if (lt === -1) break;
    TAG.lastIndex = lt;
    const match = TAG.exec(xml);
    if (match === null) throw new Error(`malformed tag at ${lt}: ${xml.slice(lt, lt + 80)}`);
    const [whole, closing, name, attributes, selfClosing] = match;
    const seen = new Set<string>();
    for (const [, attribute, value] of attributes.matchAll(ATTRIBUTE)) {
      if (seen.has(attribute)) throw new Error(`duplicate attribute ${attribute} on <${name}>`);
      seen.add(attribute);
      if (value.includes("<") || BARE_AMPERSAND.test(value)) throw new Error(`unescaped value in ${name}@${attribute}`);
    }
    if (closing) {
      if (attributes !== "" || selfClosing) throw new Error(`odd closing tag ${whole}`);
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else {
      if (stack.length === 0) roots += 1;
      if (!selfClosing) stack.push(name);
    }
    at = lt + whole.length;
  }
  if (stack.length > 0) throw new Error(`unclosed tags: ${stack.join(" > ")}`);
  if (roots !== 1) throw new Error(`expected one root element, found ${roots}`);
}

function decodeEntities(text: string): string {
  return text
    .replace(/&#x([0-9a-fA-F]+);/g, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}

/** The decoded contents of every <text> element, i.e. every string drawn on the chart. */
function drawnTexts(svg: string): string[] {
  return [...svg.matchAll(/<text\b[^>]*>([^<]*)<\/text>/g)].map((m) => decodeEntities(m[1]));
}

/** Vertices of the line whose aria-label satisfies `pick`, read from its "M x,y L x,y ..." path data. */
function lineVertices(svg: string, pick: (label: string) => boolean): Array<[number, number]> {
  const paths = [...svg.matchAll(/<path aria-label="([^"]*)"[^>]*aria-roledescription="line mark" d="([^"]*)"/g)];
  const chosen = paths.filter((m) => pick(decodeEntities(m[1])));
  if (chosen.length !== 1) throw new Error(`expected one matching line, found ${chosen.length}`);
  const data = chosen[0][2];
  expect(data).toMatch(/^M[-\d.e]+,[-\d.e]+(L[-\d.e]+,[-\d.e]+)*$/);
  return data
    .slice(1)
    .split("L")
    .map((pair) => pair.split(",").map(Number) as [number, number]);
}

const ofSeries = (series: string) => (label: string) => label.endsWith(`series: ${series}`);

// ---------------------------------------------------------------------------------------------

// Four logged steps; the training loss is NaN at step 2 and the held-out loss missing at step 1.
const LOG: ChartRow[] = [
  { step: 0, loss: 4, heldOutLoss: 4.5 },
  { step: 1, loss: 3, heldOutLoss: null },
  { step: 2, loss: Number.NaN, heldOutLoss: 2.5 },
  { step: 3, loss: 2, heldOutLoss: 1.5 },
  { step: 4, loss: 1, heldOutLoss: 0.5 },
];

describe("lineChart spec", () => {
  it("declares the schema and MIME type of the installed vega-lite major version", () => {
    const major = vegaLiteVersion.split(".")[0];
    expect(VEGALITE_SCHEMA).toBe(`https://vega.github.io/schema/vega-lite/v${major}.json`);
    expect(VEGALITE_MIME).toBe(`application/vnd.vegalite.v${major}+json`);
  });

  it("folds several y fields into long rows with a series colour legend, skipping NaN and null", () => {
    const spec = lineChart({ title: "Loss", data: LOG, x: "step", y: ["loss", "heldOutLoss"], xTitle: "step", yTitle: "nats" });
    expect(spec.$schema).toBe(VEGALITE_SCHEMA);
    expect(spec.title).toBe("Loss");
    expect(spec.mark.type).toBe("line");
    expect(spec.data.values).toEqual([
      { step: 0, series: "loss", value: 4 },
      { step: 0, series: "heldOutLoss", value: 4.5 },
      { step: 1, series: "loss", value: 3 },
      { step: 2, series: "heldOutLoss", value: 2.5 },
      { step: 3, series: "loss", value: 2 },
      { step: 3, series: "heldOutLoss", value: 1.5 },
      { step: 4, series: "loss", value: 1 },
      { step: 4, series: "heldOutLoss", value: 0.5 },
    ]);
    expect(spec.encoding.x).toEqual({ field: "step", type: "quantitative", title: "step" });
    expect(spec.encoding.y).toMatchObject({ field: "value", type: "quantitative", title: "nats" });
    expect(spec.encoding.y.scale.type).toBe("linear");
    expect(spec.encoding.color).toEqual({ field: "series", type: "nominal", title: "series" });
    expect(spec.encoding.strokeDash).toBeUndefined();
    // Plain JSON: a round trip changes nothing (a NaN would have become null).
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  });

  it("plots a single field without a legend and titles the y axis with its name", () => {
    const spec = lineChart({ title: "Loss", data: LOG, x: "step", y: "loss" });
    expect(spec.data.values.map((row) => [row.step, row.value])).toEqual([[0, 4], [1, 3], [3, 2], [4, 1]]);
    expect(spec.encoding.y.title).toBe("loss");
    expect(spec.encoding.color).toBeUndefined();
    expect(spec.width).toBeGreaterThan(0);
    expect(spec.height).toBeGreaterThan(0);
  });

  it("colours by a given field and dashes by series when there are several y fields", () => {
    const runs: ChartRow[] = [
      { step: 0, run: "a", loss: 2, heldOutLoss: 3 },
      { step: 0, run: "b", loss: 1, heldOutLoss: 4 },
      { step: 1, run: null, loss: 5, heldOutLoss: 5 },
    ];
    const spec = lineChart({ title: "Runs", data: runs, x: "step", y: ["loss", "heldOutLoss"], color: "run", width: 300, height: 120 });
    expect(spec.encoding.color).toEqual({ field: "run", type: "nominal", title: "run" });
    expect(spec.encoding.strokeDash).toEqual({ field: "series", type: "nominal", title: "series" });
    expect(spec.data.values).toEqual([
      { step: 0, run: "a", series: "loss", value: 2 },
      { step: 0, run: "a", series: "heldOutLoss", value: 3 },
      { step: 0, run: "b", series: "loss", value: 1 },
      { step: 0, run: "b", series: "heldOutLoss", value: 4 },
    ]);
    expect([spec.width, spec.height]).toEqual([300, 120]);
  });

  it("uses a log scale on request and drops the values it cannot show", () => {
    const data: ChartRow[] = [{ step: 1, loss: 10 }, { step: 2, loss: 0 }, { step: 3, loss: -1 }, { step: 4, loss: 0.1 }, { step: 5, loss: Infinity }];
    const spec = lineChart({ title: "Loss", data, x: "step", y: "loss", logY: true });
    expect(spec.encoding.y.scale).toEqual({ type: "log" });
    expect(spec.data.values.map((row) => row.value)).toEqual([10, 0.1]);
  });

  it("makes the x axis ordinal when x values are strings", () => {
    const data: ChartRow[] = [{ epoch: "first", loss: 2 }, { epoch: "second", loss: 1 }];
    expect(lineChart({ title: "t", data, x: "epoch", y: "loss" }).encoding.x.type).toBe("ordinal");
  });

  it("rejects strings in y fields, clashing field names and empty sizes", () => {
    expect(() => lineChart({ title: "t", data: [{ step: 0, loss: "2.0" }], x: "step", y: "loss" })).toThrow(RicciError);
    expect(() => lineChart({ title: "t", data: [], x: "value", y: "loss" })).toThrow(/clashes/);
    expect(() => lineChart({ title: "t", data: [], x: "step", y: "loss", color: "series" })).toThrow(/clashes/);
    expect(() => lineChart({ title: "t", data: [], x: "step", y: [] })).toThrow(RicciError);
    expect(() => lineChart({ title: "t", data: [], x: "step", y: "loss", width: 0 })).toThrow(/width/);
  });
});

describe("renderSvg", () => {
  const spec = lineChart({ title: "Training loss", data: LOG, x: "step", y: ["loss", "heldOutLoss"], xTitle: "optimizer step", yTitle: "cross-entropy (nats)", width: 400, height: 200 });
  let svg = "";
  beforeAll(async () => {
    svg = await renderSvg(spec);
  });

  it("returns well-formed SVG with the title, axis titles and legend drawn", () => {
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    assertWellFormedXml(svg);
    const texts = drawnTexts(svg);
    for (const expected of ["Training loss", "optimizer step", "cross-entropy (nats)", "series", "loss", "heldOutLoss"]) {
      expect(texts).toContain(expected);
    }
  });

  it("draws each series through its finite points only, on linear scales", () => {
    const loss = lineVertices(svg, ofSeries("loss"));
    const heldOut = lineVertices(svg, ofSeries("heldOutLoss"));
    // x: steps 0..4 span the 400px plot, so step s sits at 100·s; the NaN at step 2 and the null
    // at step 1 leave no vertex.
    expect(loss.map(([x]) => x)).toEqual([0, 100, 300, 400]);
    expect(heldOut.map(([x]) => x)).toEqual([0, 200, 300, 400]);
    // y: one affine map value → pixel for both series, decreasing (SVG y grows downwards).
    const points: Array<[number, number]> = [
      ...[4, 3, 2, 1].map((v, i): [number, number] => [v, loss[i][1]]),
      ...[4.5, 2.5, 1.5, 0.5].map((v, i): [number, number] => [v, heldOut[i][1]]),
    ];
    const [[v0, y0], [v1, y1]] = [points[0], points[points.length - 1]];
    const slope = (y1 - y0) / (v1 - v0);
    expect(slope).toBeLessThan(0);
    for (const [v, y] of points) expect(y).toBeCloseTo(y0 + slope * (v - v0), 6);
    for (const [, y] of points) expect(y >= 0 && y <= 200).toBe(true);
  });

  it("is deterministic: same spec, same string, even for clipped marks rendered repeatedly", async () => {
    expect(await renderSvg(spec)).toBe(svg);
    // Rendering leaves the spec untouched (vega would otherwise tag its data rows in place).
    expect(spec.data.values.every((row) => Object.getOwnPropertySymbols(row).length === 0)).toBe(true);
    const clipped: TopLevelSpec = {
      $schema: VEGALITE_SCHEMA,
      data: { values: [{ a: 0, b: 1 }, { a: 1, b: 5 }, { a: 2, b: 2 }] },
      mark: { type: "line", clip: true },
      encoding: { x: { field: "a", type: "quantitative" }, y: { field: "b", type: "quantitative", scale: { domain: [0, 3] } } },
    };
    const first = await renderSvg(clipped);
    await renderSvg(spec);
    const [second, third] = await Promise.all([renderSvg(clipped), renderSvg(clipped)]);
    expect(first).toContain('clip-path="url(#clip1)"');
    expect(second).toBe(first);
    expect(third).toBe(first);
    assertWellFormedXml(first);
    // No clock or random state leaks in: a different chart renders differently, the same one never.
    const other = await renderSvg(lineChart({ title: "Training loss", data: LOG.slice(1), x: "step", y: "loss" }));
    expect(other).not.toBe(svg);
  });

  it("escapes markup in titles and handles field names with dots", async () => {
    const title = `Loss & "accuracy" <log>`;
    const data: ChartRow[] = [{ "train.step": 0, loss: 1 }, { "train.step": 10, loss: 0.5 }];
    const out = await renderSvg(lineChart({ title, data, x: "train.step", y: "loss", width: 100, height: 50 }));
    assertWellFormedXml(out);
    expect(drawnTexts(out)).toContain(title);
    expect(drawnTexts(out)).toContain("train.step");
    expect(lineVertices(out, () => true).map(([x]) => x)).toEqual([0, 100]);
  });
});

describe("chartBundle and writeChart", () => {
  const spec = lineChart({ title: "Held-out loss", data: LOG, x: "step", y: "heldOutLoss" });
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ricci-viz-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("packs the spec, its SVG as an <img> in HTML and as SVG, and a text line under four MIME keys", async () => {
    const bundle = await chartBundle(spec);
    expect(Object.keys(bundle).sort()).toEqual([VEGALITE_MIME, "text/html", "image/svg+xml", "text/plain"].sort());
    expect(bundle[VEGALITE_MIME]).toEqual(spec);
    expect(bundle[VEGALITE_MIME]).not.toBe(spec);
    expect(bundle["image/svg+xml"]).toBe(await renderSvg(spec));
    // The HTML fallback (what Notebook 6 and nbconvert show) is one image holding exactly that SVG.
    const image = /^<img src="data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)" width="(\d+)" height="(\d+)" alt="([^"]*)"[^>]*>$/.exec(bundle["text/html"]);
    expect(image).not.toBeNull();
    expect(Buffer.from(image![1], "base64").toString("utf8")).toBe(bundle["image/svg+xml"]);
    expect(bundle["image/svg+xml"]).toContain(`width="${image![2]}" height="${image![3]}"`);
    const alt = image![4].replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&amp;/g, "&");
    expect(alt).toBe(bundle["text/plain"]);
    expect(bundle["text/plain"]).toContain("Held-out loss");
    expect(bundle["text/plain"]).toContain("4 points");
    expect(JSON.parse(JSON.stringify(bundle))).toEqual(bundle);
  });

  it("writes the SVG atomically, replacing an older file and leaving no temp file", async () => {
    const path = join(dir, "loss.svg");
    await writeFile(path, "old contents");
    await writeChart(path, spec);
    expect(await readFile(path, "utf8")).toBe(await renderSvg(spec));
    expect(await readdir(dir)).toEqual(["loss.svg"]);
  });

  it("fails with a RicciError when the directory does not exist", async () => {
    await expect(writeChart(join(dir, "missing", "loss.svg"), spec)).rejects.toThrow(RicciError);
    expect(await readdir(dir)).toEqual(["loss.svg"]);
  });
});
