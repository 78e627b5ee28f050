#!/usr/bin/env node
/**
 * The `ricci` command (package.json "bin"):
 *
 *   npx ricci kernel install [--user | --prefix <dir>] [--name <name>]   register the Jupyter kernel
 *   npx ricci <pretrain|sft|rm|ppo|grpo|dpo|trpo|pipeline> [options]     the training pipeline
 *
 * The first is install.ts; everything else goes to the pipeline's command line (src/cli/main.ts,
 * built), which loads the models and trainers only when asked for.
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { INSTALL_USAGE, installCommand } from "./install.js";
import { PACKAGE_ROOT } from "./packages.js";

const [command, subcommand, ...rest] = process.argv.slice(2);
if (command === undefined || command === "help" || command === "--help" || command === "-h") {
  console.log(`${INSTALL_USAGE}\n       ricci <pretrain|sft|rm|ppo|grpo|dpo|trpo|pipeline> [--size ci|full] [--root runs] [--seed 0] …`);
} else if (command === "kernel") {
  if (subcommand !== "install") {
    console.error(INSTALL_USAGE);
    process.exit(2);
  }
  try {
    console.log(installCommand(rest));
  } catch (error) {
    console.error(`ricci kernel install: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
} else {
  await import(pathToFileURL(join(PACKAGE_ROOT, "dist", "cli", "main.js")).href);
}
