/**
 * Rich display: how a cell's value becomes a MIME bundle, and the `display`, `displayHandle` and
 * `clearOutput` functions that cells call (their types are in cell-api.d.ts).
 *
 *   expression (kind + edges)       → text/html (formula beside diagram), text/latex, image/svg+xml, text/plain
 *   Vega-Lite spec (lineChart)      → chartBundle: application/vnd.vegalite.v6+json, HTML, SVG, text
 *   [Symbol.for("ricci.display")]() → the bundle it returns (may be a Promise)
 *   a MIME bundle                   → itself
 *   anything else                   → text/plain (strings as they are, other values inspected)
 */
import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import type * as Ricci from "../../src/entries/all.js";
import type { Expr, Kind } from "../../src/index.js";
import type * as CellApi from "./cell-api.js";
import type { DisplayHandle, MimeBundle } from "./cell-api.js";
import type { CellOutput } from "./output.js";

export type RicciModule = typeof Ricci;

/** The symbol whose method turns an object into a MIME bundle. */
export const DISPLAY_SYMBOL = Symbol.for("ricci.display");

// A Record over Kind, so that a new node kind is a compile error here until it is listed.
const EXPRESSION_KINDS: Record<Kind, true> = {
  variable: true,
  constant: true,
  delta: true,
  oneHot: true,
  product: true,
  sum: true,
  elementwise: true,
  edgeFunction: true,
  rename: true,
  stopGradient: true,
};

const MIME_TYPE = /^[\w\-+.]+\/[\w\-+.]+$/;

function isRecord(value: unknown): value is Record<PropertyKey, unknown> {
  return typeof value === "object" && value !== null;
}

/** An expression node, recognised by shape so that nodes from any copy of ricci display. */
export function isExpression(value: unknown): value is Expr {
  return (
    isRecord(value) &&
    typeof value.kind === "string" &&
    Object.hasOwn(EXPRESSION_KINDS, value.kind) &&
    Array.isArray(value.edges) &&
    typeof value.id === "number"
  );
}

/** A Vega-Lite spec, as `lineChart` builds it: its `$schema` names vega-lite. */
function isVegaLiteSpec(value: unknown): boolean {
  return isRecord(value) && typeof value.$schema === "string" && value.$schema.includes("vega-lite");
}

/** A plain object whose keys are all MIME types, e.g. `{ "text/html": "<b>hi</b>" }`. */
export function isMimeBundle(value: unknown): value is MimeBundle {
  if (!isRecord(value) || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) return false;
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((key) => MIME_TYPE.test(key));
}

function plainText(value: unknown): string {
  return typeof value === "string" ? value : inspect(value);
}

/** What the kernel shows for a value: `await mimeBundleOf(ricci, dot(x, W))` → LaTeX, SVG and text. */
export async function mimeBundleOf(ricci: RicciModule, value: unknown): Promise<MimeBundle> {
  if (isRecord(value) && typeof value[DISPLAY_SYMBOL] === "function") {
    const bundle: unknown = await (value[DISPLAY_SYMBOL] as () => unknown).call(value);
    if (!isMimeBundle(bundle)) {
      throw new TypeError(`[Symbol.for("ricci.display")]() must return a MIME bundle such as { "text/plain": "…" }, got ${inspect(bundle)}`);
    }
    return bundle;
  }
  if (isExpression(value)) return expressionBundle(ricci, value);
  if (isVegaLiteSpec(value)) return { ...(await ricci.chartBundle(value as Parameters<RicciModule["chartBundle"]>[0])) };
  if (isMimeBundle(value)) return value;
  if (value instanceof ricci.tf.Tensor) return { "text/plain": value.toString() };
  return { "text/plain": plainText(value) };
}

/**
 * Formula and diagram of an expression; a printer that fails leaves its MIME type out, not the
 * others. Front ends show the first type they rank highest, and Notebook 6, JupyterLab and
 * nbconvert all rank text/html first: it holds both (each step's `$$…$$` beside its diagram, see
 * src/print/html.ts). The plain types serve other clients: LaTeX (the same derivation, one
 * `$$…$$` per block, each under MathJax 2's buffer), the SVG of the whole expression, and text.
 */
function expressionBundle(ricci: RicciModule, e: Expr): MimeBundle {
  const printers: [mimeType: string, print: () => string][] = [
    ["text/html", () => ricci.toHtml(e)],
    ["text/latex", () => ricci.toLatexDerivation(e).map((block) => `$$${block}$$`).join("\n")],
    ["image/svg+xml", () => ricci.toSvg(e)],
    ["text/plain", () => ricci.toText(e)],
  ];
  const bundle: MimeBundle = {};
  const failures: string[] = [];
  for (const [mimeType, print] of printers) {
    try {
      bundle[mimeType] = print();
    } catch (error) {
      failures.push(`${mimeType}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (failures.length === printers.length) throw new Error(`cannot display expression: ${failures.join("; ")}`);
  if (failures.length > 0) bundle["text/plain"] = `${String(bundle["text/plain"] ?? "")}\n(display failed for ${failures.join("; ")})`;
  return bundle;
}

export interface CellApiContext {
  ricci: RicciModule;
  /** The output of the cell running now (or last run): where a call made now should appear. */
  currentOutput(): CellOutput | undefined;
}

type Sent = { ok: true } | { ok: false; error: unknown };

/**
 * Renders and sends a value; the returned promise rejects on failure, while the cell only tracks
 * a never-rejecting twin: an un-awaited failing display then surfaces as an unhandled rejection.
 */
function sendTracked(output: CellOutput | undefined, send: () => Promise<void>): Promise<void> {
  const sent: Promise<Sent> = send().then(
    () => ({ ok: true }),
    (error: unknown) => ({ ok: false, error }),
  );
  output?.track(sent);
  return sent.then((result) => {
    if (!result.ok) throw result.error;
  });
}

/** A display area updated in place; updates are sent in order, and a burst of them collapses to the newest. */
class LiveDisplay implements DisplayHandle {
  readonly id = randomBytes(8).toString("hex");
  private shown = false;
  private next: { value: unknown; output: CellOutput } | undefined;
  private draining: Promise<void> | undefined;

  constructor(private readonly context: CellApiContext) {}

  update(value: unknown): Promise<void> {
    const output = this.context.currentOutput();
    if (output === undefined) return Promise.reject(new Error("displayHandle().update() called outside a cell"));
    this.next = { value, output };
    const draining = (this.draining ??= this.drain());
    return sendTracked(output, () => draining);
  }

  private async drain(): Promise<void> {
    try {
      while (this.next !== undefined) {
        const { value, output } = this.next;
        this.next = undefined;
        const bundle = await mimeBundleOf(this.context.ricci, value);
        output.display(bundle, this.id, this.shown);
        this.shown = true;
      }
    } finally {
      // Cleared in the same turn as the loop's last check, so an update arriving later starts a new drain.
      this.draining = undefined;
    }
  }
}

/** The runtime values behind cell-api.d.ts, bound to the kernel's current cell. */
export function createCellApi(context: CellApiContext): typeof CellApi {
  return {
    display(value: unknown): Promise<void> {
      const output = context.currentOutput();
      return sendTracked(output, async () => {
        const bundle = await mimeBundleOf(context.ricci, value);
        if (output === undefined) throw new Error("display() called outside a cell");
        output.display(bundle);
      });
    },
    displayHandle(): DisplayHandle {
      return new LiveDisplay(context);
    },
    clearOutput(wait = false): void {
      context.currentOutput()?.clear(wait);
    },
  };
}
