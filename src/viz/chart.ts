/**
 * Training-curve charts: Vega-Lite specs built from logged rows, rendered to SVG in Node with
 * vega's headless renderer (no canvas), and packed as the MIME bundle a Jupyter kernel displays.
 */
import type { TopLevelSpec } from "vega-lite";
import { check } from "../errors.js";
import { svgImage } from "../print/html.js";
import { writeFileAtomic } from "../util/atomicWrite.js";

/** Schema URL for the installed Vega-Lite major version (6). */
export const VEGALITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";
/** Jupyter MIME type of a Vega-Lite 6 spec; frontends that only know v5 fall back to the SVG. */
export const VEGALITE_MIME = "application/vnd.vegalite.v6+json";

/** Field names of the long ("folded") format that lineChart plots: one row per point per series. */
export const SERIES_FIELD = "series";
export const VALUE_FIELD = "value";

/** One logged row, e.g. `{ step: 10, loss: 2.3, heldOutLoss: null }`; missing cells are skipped. */
export type ChartCell = number | string | null | undefined;
export type ChartRow = Readonly<Record<string, ChartCell>>;

export interface LineChartOptions {
  title: string;
  data: readonly ChartRow[];
  /** Field on the x axis, e.g. "step"; numeric values give a quantitative axis, strings an ordinal one. */
  x: string;
  /** One field, or several plotted as separate series with a "series" legend. */
  y: string | readonly string[];
  /** Field that splits the rows into coloured lines (e.g. a run name); with several y, series become dashes. */
  color?: string;
  xTitle?: string;
  yTitle?: string;
  /** Logarithmic y scale; values <= 0 are then skipped, as they have no place on it. */
  logY?: boolean;
  width?: number;
  height?: number;
}

type LongRow = Record<string, number | string>;
interface NominalChannel {
  field: string;
  type: "nominal";
  title: string;
}

/** The Vega-Lite spec lineChart returns: plain JSON, assignable to vega-lite's TopLevelSpec. */
export interface LineChartSpec {
  $schema: typeof VEGALITE_SCHEMA;
  title: string;
  width: number;
  height: number;
  data: { values: LongRow[] };
  mark: { type: "line"; point: boolean };
  encoding: {
    x: { field: string; type: "quantitative" | "ordinal"; title: string };
    y: {
      field: typeof VALUE_FIELD;
      type: "quantitative";
      title: string;
      scale: { type: "linear"; zero: false } | { type: "log" };
    };
    color?: NominalChannel;
    strokeDash?: NominalChannel;
  };
}

const DEFAULT_WIDTH = 400;
const DEFAULT_HEIGHT = 250;
// Markers on every point help when curves are short; on long runs they only add clutter.
const MAX_POINTS_WITH_MARKERS = 30;

/**
 * A Vega-Lite line chart of one or more logged series:
 * `lineChart({ title: "loss", data: log, x: "step", y: ["loss", "heldOutLoss"], logY: true })`.
 */
export function lineChart(options: LineChartOptions): LineChartSpec {
  const { title, x, color, logY = false, width = DEFAULT_WIDTH, height = DEFAULT_HEIGHT } = options;
  const ys = typeof options.y === "string" ? [options.y] : [...options.y];
  check(ys.length > 0, () => `lineChart "${title}": y names no field`);
  for (const [name, size] of [["width", width], ["height", height]] as const) {
    check(Number.isFinite(size) && size > 0, () => `lineChart "${title}": ${name} must be a positive number, got ${size}`);
  }
  for (const field of color === undefined ? [x] : [x, color]) {
    check(field !== SERIES_FIELD && field !== VALUE_FIELD, () =>
      `lineChart "${title}": field "${field}" clashes with the "${SERIES_FIELD}"/"${VALUE_FIELD}" fields of the folded data; rename it`);
  }

  const values = foldRows(options, ys, logY);
  const allXNumeric = values.every((row) => typeof row[x] === "number");
  const seriesChannel: NominalChannel = { field: SERIES_FIELD, type: "nominal", title: SERIES_FIELD };
  const colorChannel: NominalChannel | undefined =
    color !== undefined ? { field: escapeField(color), type: "nominal", title: color } : ys.length > 1 ? seriesChannel : undefined;
  const dashChannel = color !== undefined && ys.length > 1 ? seriesChannel : undefined;

  return {
    $schema: VEGALITE_SCHEMA,
    title,
    width,
    height,
    data: { values },
    mark: { type: "line", point: values.length <= MAX_POINTS_WITH_MARKERS },
    encoding: {
      x: { field: escapeField(x), type: allXNumeric ? "quantitative" : "ordinal", title: options.xTitle ?? x },
      y: {
        field: VALUE_FIELD,
        type: "quantitative",
        title: options.yTitle ?? (ys.length === 1 ? ys[0] : VALUE_FIELD),
        // Loss curves live far from zero; a zero-based axis would flatten them.
        scale: logY ? { type: "log" } : { type: "linear", zero: false },
      },
      ...(colorChannel === undefined ? {} : { color: colorChannel }),
      ...(dashChannel === undefined ? {} : { strokeDash: dashChannel }),
    },
  };
}

/** Long format: one row { x, [color], series, value } per plottable (row, y field) pair. */
function foldRows(options: LineChartOptions, ys: readonly string[], logY: boolean): LongRow[] {
  const { title, data, x, color } = options;
  const values: LongRow[] = [];
  data.forEach((row, index) => {
    const xValue = row[x];
    if (!isPlottableKey(xValue)) return;
    const colorValue = color === undefined ? undefined : row[color];
    if (color !== undefined && !isPlottableKey(colorValue)) return;
    for (const series of ys) {
      const value = row[series];
      check(typeof value !== "string", () => `lineChart "${title}": row ${index} holds the string "${value}" in y field "${series}"`);
      // NaN/Infinity/null have no point on the chart (and NaN would turn into null in JSON).
      if (value === null || value === undefined || !Number.isFinite(value)) continue;
      if (logY && value <= 0) continue;
      const long: LongRow = { [x]: xValue, [SERIES_FIELD]: series, [VALUE_FIELD]: value };
      if (color !== undefined && isPlottableKey(colorValue)) long[color] = colorValue;
      values.push(long);
    }
  });
  return values;
}

function isPlottableKey(cell: ChartCell): cell is number | string {
  return typeof cell === "string" || (typeof cell === "number" && Number.isFinite(cell));
}

/** Vega-Lite reads "a.b" and "a[0]" as nested access; a logged field name is always flat. */
function escapeField(name: string): string {
  return name.replace(/[.[\]\\]/g, "\\$&");
}

/**
 * vega and vega-lite load on the first render, not with the package: vega-canvas awaits at top
 * level, which a CommonJS caller (`npx tsx -e 'import ... from "./src/index.ts"'`) cannot require,
 * and most users of ricci never draw a chart (the import alone costs ~0.3 s).
 */
interface VegaModules {
  vega: typeof import("vega");
  vegaLite: typeof import("vega-lite");
}
let vegaModules: Promise<VegaModules> | undefined;
function loadVega(): Promise<VegaModules> {
  vegaModules ??= Promise.all([import("vega"), import("vega-lite")]).then(([vega, vegaLite]) => ({ vega, vegaLite }));
  return vegaModules;
}

/**
 * Renders any Vega-Lite spec to an SVG string, headless and deterministic:
 * `const svg = await renderSvg(lineChart({ title: "loss", data, x: "step", y: "loss" }))`.
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const { vega, vegaLite } = await loadVega();
  // vega tags inline data rows with ids in place; render a copy so the caller's spec stays pure JSON.
  const { spec: vegaSpec } = vegaLite.compile(structuredClone(spec));
  const view = new vega.View(vega.parse(vegaSpec), { renderer: "none" });
  try {
    return renumberDefIds(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/**
 * vega numbers clip paths and gradients from process-wide counters ("clip7"), so the same spec
 * would render differently on its second call; renumber them in order of first appearance.
 */
function renumberDefIds(svg: string): string {
  const renamed = new Map<string, string>();
  // vega's own first ids: clip1, gradient_0.
  const next: Record<string, number> = { clip: 1, gradient_: 0 };
  return svg.replace(/(id="|url\(#)((clip|gradient_)\d+)/g, (_match, lead: string, id: string, kind: string) => {
    let fresh = renamed.get(id);
    if (fresh === undefined) {
      fresh = `${kind}${next[kind]++}`;
      renamed.set(id, fresh);
    }
    return lead + fresh;
  });
}

/**
 * What a Jupyter kernel sends for a chart: the live spec, the rendered chart as HTML and as SVG,
 * and a text line. Front ends without a Vega-Lite 6 renderer (Notebook 6, JupyterLab's renderer
 * knows v3–v5, nbconvert) show the HTML: an `<img>` of the SVG, which survives HTML sanitisers and
 * nbconvert's export (a bare image/svg+xml output is emptied there; see print/html.ts).
 */
export interface ChartBundle {
  [VEGALITE_MIME]: TopLevelSpec;
  "text/html": string;
  "image/svg+xml": string;
  "text/plain": string;
}

/** The display bundle of a chart: `display(await chartBundle(lineChart({ ... })))`. */
export async function chartBundle(spec: TopLevelSpec): Promise<ChartBundle> {
  const svg = await renderSvg(spec);
  // A JSON round trip guarantees the stored spec is exactly what the notebook file will hold.
  const json = JSON.parse(JSON.stringify(spec)) as TopLevelSpec;
  const text = describeChart(spec);
  return { [VEGALITE_MIME]: json, "text/html": svgImage(svg, text), "image/svg+xml": svg, "text/plain": text };
}

/** A one-line plain-text stand-in, e.g. `<chart "loss": line, 40 points>`. */
function describeChart(spec: TopLevelSpec): string {
  const title = titleText(spec.title);
  const parts: string[] = [];
  if ("mark" in spec) parts.push(typeof spec.mark === "string" ? spec.mark : spec.mark.type);
  if (spec.data !== undefined && spec.data !== null && "values" in spec.data && Array.isArray(spec.data.values)) {
    parts.push(`${spec.data.values.length} points`);
  }
  return `<chart${title === undefined ? "" : ` "${title}"`}${parts.length > 0 ? `: ${parts.join(", ")}` : ""}>`;
}

function titleText(title: TopLevelSpec["title"]): string | undefined {
  if (title === undefined) return undefined;
  const text = typeof title === "string" || Array.isArray(title) ? title : title.text;
  if (typeof text === "string") return text;
  return Array.isArray(text) ? text.join(" ") : undefined;
}

/**
 * Renders the spec and writes the SVG atomically (temp file beside it, then rename), so a reader
 * never sees half a chart: `await writeChart("runs/loss.svg", lineChart({ ... }))`.
 */
export async function writeChart(path: string, spec: TopLevelSpec): Promise<void> {
  const svg = await renderSvg(spec);
  await writeFileAtomic(path, svg, "chart");
}
