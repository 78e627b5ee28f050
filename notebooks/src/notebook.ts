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
