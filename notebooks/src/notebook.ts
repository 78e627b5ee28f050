/**
 * Notebooks are written here as TypeScript lists of cells and built into .ipynb files
 * (`npm run notebooks:build`), so they diff, review and type-check like code.
 */
export interface Cell {
  readonly kind: "markdown" | "code";
  readonly source: string;
}

/** Removes the common indentation of a template literal and its first and last blank lines. */
function dedent(text: string): string {
  const lines = text.replace(/^\n/, "").replace(/\n\s*$/, "").split("\n");
  const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => l.match(/^ */)![0].length));
  return lines.map((l) => l.slice(indent)).join("\n");
}

export const md = (text: string): Cell => ({ kind: "markdown", source: dedent(text) });
export const code = (text: string): Cell => ({ kind: "code", source: dedent(text) });

/** The .ipynb JSON of a list of cells, for the ricci kernel. */
export function toIpynb(cells: readonly Cell[]): object {
  const lines = (s: string): string[] => s.split("\n").map((l, i, all) => (i < all.length - 1 ? `${l}\n` : l));
  return {
    cells: cells.map((c, i) =>
      c.kind === "markdown"
        ? { cell_type: "markdown", id: `cell-${i}`, metadata: {}, source: lines(c.source) }
        : { cell_type: "code", id: `cell-${i}`, execution_count: null, metadata: {}, outputs: [], source: lines(c.source) },
    ),
    metadata: {
      kernelspec: { name: "ricci", display_name: "ricci (TypeScript)", language: "typescript" },
      language_info: { name: "typescript", file_extension: ".ts", mimetype: "text/typescript" },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

/** Shared first code cell: run size and output folder from the environment (CI: RICCI_SIZE=ci). */
export const setup = code(`
  await initBackend();
  const size = (process.env.RICCI_SIZE ?? "ci") as "ci" | "full";
  const root = process.env.RICCI_ROOT ?? "../runs";
  \`backend ${"${activeBackend()}"}, size ${"${size}"}, runs in ${"${root}"}\`
`);

/**
 * An RL notebook's "does it learn?" section: `algorithm` trains a fresh tiny GPT for seconds on
 * the digit-share reward (src/rl/digitTask.ts) with `train`, code that updates `policy` in place
 * (it may read `task`, `policy` and `reference`); `digits` is then the held-out rise, which the
 * notebook's outcome cell asserts with `digitsAssertion`.
 */
export function digitLearning(algorithm: string, train: string): Cell[] {
  const body = dedent(train).split("\n").map((l) => `  ${l}`).join("\n");
  return [
    md(`
      ## Does it learn? A reward a tiny model can chase in seconds

      At ci size the arithmetic task is more than a tiny model improves on in a few minutes of RL
      (the run above checks the mechanics; the gain in accuracy is measured at full size). So here
      ${algorithm} trains a fresh 1-layer GPT (d = 16) on a signal it can learn quickly: the reward is
      the share of digits among the first four tokens of each response (a random policy writes about
      20%). It trains on 400 prompts and is scored on 64 held-out ones, 8 samples each; the rise must
      exceed 4 standard errors of the difference, the bar the learning tests (test/learning.test.ts)
      hold every algorithm to, along with moving the other way when the reward is reversed.
    `),
    {
      kind: "code",
      source: [
        "async function learnDigits() {",
        "  const task = digitTask();",
        "  const policy = initGpt(task.config, 5);",
        "  const reference = copyParams(policy);",
        "  const before = await heldOutDigitShare(task.config, policy, task.heldOut);",
        body,
        "  const after = await heldOutDigitShare(task.config, policy, task.heldOut);",
        "  return { before: before.mean, after: after.mean, ...rise(before, after) };",
        "}",
        "const digits = await learnDigits();",
        "`held-out digit share ${digits.before.toFixed(3)} → ${digits.after.toFixed(3)}: ${digits.z.toFixed(1)} standard errors of the difference`",
      ].join("\n"),
    },
  ];
}

/** The outcome cell's check of `digitLearning`'s rise. */
export const digitsAssertion = "if (!(digits.z > 4)) throw new Error(`the held-out digit share rose by only ${digits.z.toFixed(1)} standard errors (${digits.before} → ${digits.after})`);";
