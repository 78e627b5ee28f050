/**
 * Laying out printed LaTeX: how wide a formula looks, where it may break, and how long lines
 * become display blocks. MathJax 2 (Jupyter Notebook 6, nbconvert's HTML) neither breaks long
 * display maths nor accepts long ones: when a macro expands (`\mathbb`, a prime), the expansion
 * plus the rest of the formula must stay under its TeX input buffer, `MAXBUFFER: 5*1024`
 * characters (jax/input/TeX/jax.js), or the formula shows as raw LaTeX with "MathJax internal
 * buffer size exceeded". So every block printed here stays well under that.
 */

/** MathJax 2's TeX buffer (characters): `MAXBUFFER: 5*1024` in its TeX input jax. */
export const MATHJAX2_MAX_BUFFER = 5 * 1024;

/** Room left for macro expansions (a `\mathbb` adds ~10 characters) under MATHJAX2_MAX_BUFFER. */
export const MAX_BLOCK_CHARS = 4 * 1024;

/** Control words drawn as their own name (`\max` is three letters wide); other control words are one symbol. */
const NAMED_OPERATORS = new Set(["max", "min", "log", "exp", "tanh", "sinh", "cosh", "sin", "cos", "tan", "arg", "det", "lim", "sup", "inf"]);
/** Control words that only style their argument or size a delimiter: no width of their own. */
const INVISIBLE = new Set(["left", "right", "mathrm", "mathbf", "mathbb", "mathit", "operatorname", "text", "displaystyle", "nolimits", "limits"]);
const SPACES: Record<string, number> = { quad: 2, qquad: 4, ",": 0.3, ";": 0.5, ":": 0.4, "!": 0, " ": 0.5 };

/**
 * How wide a LaTeX string looks, in average glyph widths: `visualWidth("x_{\\mathrm{batch}}")` ≈ 4.5.
 * Markup costs nothing, scripts count at 70%, fractions as their wider part; an estimate for
 * deciding where to break and what to name, not a typesetter.
 */
export function visualWidth(tex: string): number {
  return measure(tex, 0, 1).width;
}

interface Measured {
  width: number;
  end: number;
}

/** Width of `tex` from `start` to the `}` closing the current group (or the end), at `scale`. */
function measure(tex: string, start: number, scale: number): Measured {
  let width = 0;
  let i = start;
  while (i < tex.length) {
    const c = tex[i];
    if (c === "}") return { width, end: i + 1 };
    if (c === "{") {
      const inner = measure(tex, i + 1, scale);
      width += inner.width;
      i = inner.end;
    } else if (c === "_" || c === "^") {
      const script = measureArgument(tex, i + 1, scale * 0.7);
      width += script.width;
      i = script.end;
    } else if (c === "\\") {
      const word = /^\\([A-Za-z]+|.)/.exec(tex.slice(i))![1];
      i += word.length + 1;
      if (word === "frac") {
        const top = measureArgument(tex, i, scale * 0.8);
        const bottom = measureArgument(tex, top.end, scale * 0.8);
        width += Math.max(top.width, bottom.width) + 0.4 * scale;
        i = bottom.end;
      } else if (word === "begin" || word === "end") {
        i = measureArgument(tex, i, 0).end;
      } else if (word === "\\") {
        // A line break inside an environment: the widest line is what a caller cares about, and callers measure lines.
      } else if (word in SPACES) width += SPACES[word] * scale;
      else if (NAMED_OPERATORS.has(word)) width += word.length * scale;
      else if (word === "left" || word === "right") {
        // The delimiter that follows: `\left.` is invisible, others are one glyph.
        if (tex[i] === ".") i += 1;
      } else if (!INVISIBLE.has(word)) width += scale;
    } else if (c === " " || c === "&") {
      i += 1;
    } else {
      width += (c === "'" ? 0.3 : /[+\-=<>]/.test(c) ? 1.6 : 1) * scale;
      i += 1;
    }
  }
  return { width, end: i };
}

/** One argument: a `{…}` group, a control word or one character. */
function measureArgument(tex: string, start: number, scale: number): Measured {
  let i = start;
  while (tex[i] === " ") i += 1;
  if (tex[i] === "{") return measure(tex, i + 1, scale);
  if (tex[i] === "\\") {
    const word = /^\\([A-Za-z]+|.)/.exec(tex.slice(i))![0];
    return { width: measure(word, 0, scale).width, end: i + word.length };
  }
  return { width: i < tex.length ? scale : 0, end: Math.min(i + 1, tex.length) };
}

/** A place where a formula may break: before a term of a top-level sum, or between factors. */
type BreakKind = "term" | "factor";

/** A big operator with its subscript (`\sum_{…}`) or a bare coefficient binds to what follows: no break after it. */
const BINDS_FORWARD = /(\\sum_\{(?:[^{}]|\{[^{}]*\})*\}|\\sum|^-?(?:\\frac\{\d+\}\{\d+\}|[\d.]+))$/;
const OPERATOR_AT_END = /(?:[+\-=<>,]|\\(?:cdot|geq|leq|to|times|quad))$/;
const OPERATOR_AT_START = /^(?:[+\-=<>,]|\\(?:cdot|geq|leq|to|times))/;

/**
 * Splits `tex` at its top level (outside every `{…}` and `\left…\right`) into pieces at the
 * allowed breaks of `kinds`: `topLevelPieces("a + b c", ["term"])` → `["a", "+ b c"]`.
 */
export function topLevelPieces(tex: string, kinds: readonly BreakKind[] = ["term", "factor"]): string[] {
  const pieces: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < tex.length; i++) {
    const c = tex[i];
    if (c === "\\") {
      const word = /^\\([A-Za-z]+|.)/.exec(tex.slice(i))![1];
      if (word === "left") depth += 1;
      else if (word === "right") depth -= 1;
      i += word.length;
      continue;
    }
    if (c === "{") depth += 1;
    else if (c === "}") depth -= 1;
    else if (c === " " && depth === 0) {
      const before = tex.slice(start, i);
      const after = tex.slice(i + 1);
      const kind: BreakKind | null = /^[+-] /.test(after)
        ? "term"
        : OPERATOR_AT_END.test(before) || OPERATOR_AT_START.test(after) || BINDS_FORWARD.test(before)
          ? null
          : "factor";
      if (kind !== null && kinds.includes(kind) && before !== "") {
        pieces.push(before);
        start = i + 1;
      }
    }
  }
  pieces.push(tex.slice(start));
  return pieces;
}

/** The widest piece a formula cannot be broken inside, in visualWidth units. */
export function widestUnbreakable(tex: string): number {
  return Math.max(...topLevelPieces(tex).map(visualWidth));
}

/**
 * Lines of at most `width` (where breaks allow), breaking between terms first and between
 * factors only inside a term too wide for a line: `breakLines("a + b", 1)` → `["a", "+ b"]`.
 */
export function breakLines(tex: string, width: number): string[] {
  const lines: string[] = [];
  let current = "";
  const add = (piece: string): void => {
    const joined = current === "" ? piece : `${current} ${piece}`;
    if (current !== "" && visualWidth(joined) > width) {
      lines.push(current);
      current = piece;
    } else current = joined;
  };
  for (const term of topLevelPieces(tex, ["term"])) {
    if (visualWidth(term) <= width) {
      add(term);
      continue;
    }
    // A term broken between its factors gets lines of its own, so no line mixes two terms' factors.
    if (current !== "") lines.push(current);
    current = "";
    for (const piece of topLevelPieces(term, ["factor"])) add(piece);
    lines.push(current);
    current = "";
  }
  if (current !== "" || lines.length === 0) lines.push(current);
  return lines;
}

export interface BlockOptions {
  /** Line width in visualWidth units. */
  readonly lineWidth: number;
  /** Longest block, in characters of LaTeX. */
  readonly maxChars: number;
}

/**
 * Display blocks for `lhs = tex` (or `tex` when lhs is null): one line when it fits, else an
 * `aligned` environment with continuation lines indented, split into several blocks when one
 * would exceed `maxChars`. `displayBlocks("A_{i}", "a_{i} + b_{i}", …)` → `["A_{i} = a_{i} + b_{i}"]`.
 */
export function displayBlocks(lhs: string | null, tex: string, options: BlockOptions): string[] {
  const head = lhs === null ? "" : `${lhs} = `;
  const lines = breakLines(tex, Math.max(options.lineWidth - visualWidth(head), options.lineWidth / 2));
  if (lines.length === 1 && head.length + tex.length <= options.maxChars) return [`${head}${tex}`];
  // `{}` before a leading sign keeps it a binary operator after the indent.
  const rows = lines.map((line, i) => (i === 0 ? `${lhs ?? ""} &${lhs === null ? " " : "= "}${line}` : `&\\quad {}${line}`));
  const open = "\\begin{aligned}";
  const close = "\\end{aligned}";
  const blocks: string[] = [];
  let current: string[] = [];
  const text = (rowsOf: string[]): string => `${open}${rowsOf.join(" \\\\ ")}${close}`;
  for (const row of rows) {
    if (current.length > 0 && text([...current, row]).length > options.maxChars) {
      blocks.push(text(current));
      current = [];
    }
    current.push(row);
  }
  blocks.push(text(current));
  return blocks;
}
