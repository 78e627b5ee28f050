/** Charts of training curves: Vega-Lite specs, headless SVG, Jupyter MIME bundles. */
export * from "./chart.js";
