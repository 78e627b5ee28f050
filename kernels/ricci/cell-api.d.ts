/**
 * What the ricci kernel adds to every cell besides the ricci package itself. Types only: the
 * kernel supplies the values at run time (see display.ts), and its hidden first cell imports
 * these names so that cells type-check against them.
 */

/** A Jupyter MIME bundle: MIME type → data, e.g. `{ "text/plain": "hi", "image/svg+xml": "<svg…>" }`. */
export type MimeBundle = { [mimeType: string]: unknown };

/** One output area that can be replaced in place, e.g. a progress line: `const bar = displayHandle(); await bar.update(\`step ${i}\`)`. */
export interface DisplayHandle {
  /** The Jupyter display_id of the output area. */
  readonly id: string;
  /** Shows `value` in the area (the first call creates it, in the cell that calls it); resolves once sent. */
  update(value: unknown): Promise<void>;
}

/**
 * Shows a value as rich output in the current cell: an expression as LaTeX + SVG diagram + text, a
 * Vega-Lite chart spec as a chart, a MIME bundle as itself, anything else as text.
 * `display(grad(loss, W))`; await it to make sure it has been sent.
 */
export declare function display(value: unknown): Promise<void>;

/** A new replaceable output area: `const bar = displayHandle(); bar.update(lineChart({ … }))`. */
export declare function displayHandle(): DisplayHandle;

/** Clears the current cell's output; with `wait`, only when the next output arrives (no flicker). */
export declare function clearOutput(wait?: boolean): void;
