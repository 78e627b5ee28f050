/** Data of the training pipeline: tokenizer, pretraining corpus, arithmetic task, preference pairs. */
export * from "./tokenizer.js";
export * from "./corpus.js";
export * from "./arithmetic.js";
export * from "./preferences.js";
