/** Every entry of the package at once (`ricci/all`): what the Jupyter kernel preloads into each notebook. */
export * from "../index.js";
export * from "./nn.js";
export * from "./train.js";
export * from "./rl.js";
export * from "./pipeline.js";
