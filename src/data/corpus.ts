/**
 * A small generated pretraining corpus: simple lowercase English about objects, colours,
 * counting and people, plus arithmetic facts in words and digits ("seven plus five is
 * twelve. 7+5=12."). Arithmetic facts are drawn only from the task's *train* side, so
 * pretraining never shows a test problem of `arithmeticProblems` (any preset).
 *
 * Document i comes from its own generator (seeded by the seed and i), so the "ci" corpus is a
 * prefix of the "full" one. Every tenth document (i % 10 = 9) is held out. In the returned
 * text each document is written `<bos>…<eos>`, so `charTokenizer.encode(train)` marks
 * document boundaries with the same BOS/EOS tokens that the task sequences use.
 */
import { RicciError } from "../errors.js";
import { makeRng, subSeed } from "../util/random.js";
import { applyOperator, isHeldOut, type Operator } from "./arithmetic.js";

export interface Corpus {
  /** Training documents, each written `<bos>…<eos>`, concatenated. */
  readonly train: string;
  readonly heldOut: string;
  /** The same documents without markers. */
  readonly trainDocuments: readonly string[];
  readonly heldOutDocuments: readonly string[];
}

export type CorpusSize = "ci" | "full";

/** Characters (with markers) each corpus size reaches before it stops adding documents. */
export const CORPUS_CHARS: Readonly<Record<CorpusSize, number>> = { ci: 40_000, full: 400_000 };

const ONES = [
  "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
  "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
];
const TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

/** An integer in words (words separated by spaces): `numberWords(124)` is "one hundred twenty four". */
export function numberWords(n: number): string {
  if (!Number.isInteger(n) || Math.abs(n) > 999) throw new RicciError(`numberWords: expected an integer in [-999, 999], got ${n}`);
  if (n < 0) return `minus ${numberWords(-n)}`;
  if (n < 20) return ONES[n];
  if (n < 100) return n % 10 === 0 ? TENS[n / 10] : `${TENS[Math.floor(n / 10)]} ${ONES[n % 10]}`;
  const rest = n % 100;
  return `${ONES[Math.floor(n / 100)]} hundred${rest === 0 ? "" : ` ${numberWords(rest)}`}`;
}

const COLOURS = ["red", "blue", "green", "yellow", "black", "white", "brown", "pink", "orange", "purple", "grey"];
const ADJECTIVES = ["big", "small", "old", "new", "round", "soft", "shiny", "heavy", "little", "tall"];
const NAMES = ["tom", "ann", "sam", "mia", "ben", "lily", "max", "zoe", "leo", "eva", "noah", "ruth"];
/** [singular, plural] */
const OBJECTS: readonly (readonly [string, string])[] = [
  ["ball", "balls"], ["cup", "cups"], ["box", "boxes"], ["book", "books"], ["apple", "apples"],
  ["hat", "hats"], ["car", "cars"], ["bird", "birds"], ["fish", "fish"], ["key", "keys"],
  ["shoe", "shoes"], ["coin", "coins"], ["star", "stars"], ["frog", "frogs"], ["dog", "dogs"],
  ["cat", "cats"], ["egg", "eggs"], ["pen", "pens"], ["chair", "chairs"], ["bag", "bags"],
];
const PLACES = [
  "on the table", "under the bed", "in the box", "by the door", "near the tree", "on the shelf",
  "in the garden", "behind the chair", "in the kitchen", "on the floor",
];
const OPERATOR_WORDS: Readonly<Record<Operator, string>> = { "+": "plus", "-": "minus", "*": "times" };

type Rng = () => number;
const pick = <T>(items: readonly T[], rng: Rng): T => items[Math.floor(rng() * items.length)];
const between = (lo: number, hi: number, rng: Rng): number => lo + Math.floor(rng() * (hi - lo + 1));
const noun = (object: readonly [string, string], n: number): string => (n === 1 ? object[0] : object[1]);

/** Operands a, b in [lo, hi] for `op` whose problem is on the task's train side (differences ≥ 0 unless allowed). */
function trainTriple(op: Operator, lo: number, hi: number, rng: Rng, allowNegative = false): [number, number] {
  for (;;) {
    const a = between(lo, hi, rng);
    const b = between(lo, hi, rng);
    if (op === "-" && a < b && !allowNegative) continue;
    if (!isHeldOut(a, op, b)) return [a, b];
  }
}

/** One sentence (or a few that belong together), ending in "." or "?"-then-answer. */
const SENTENCES: readonly ((rng: Rng) => string)[] = [
  (rng) => `the ${pick(COLOURS, rng)} ${pick(OBJECTS, rng)[0]} is ${pick(PLACES, rng)}.`,
  (rng) => {
    const n = between(1, 12, rng);
    return `there ${n === 1 ? "is" : "are"} ${numberWords(n)} ${pick(COLOURS, rng)} ${noun(pick(OBJECTS, rng), n)} ${pick(PLACES, rng)}.`;
  },
  (rng) => `${pick(NAMES, rng)} has a ${pick(ADJECTIVES, rng)} ${pick(COLOURS, rng)} ${pick(OBJECTS, rng)[0]}.`,
  (rng) => {
    const object = pick(OBJECTS, rng)[0];
    const colour = pick(COLOURS, rng);
    return `the ${object} is ${colour}. what colour is the ${object}? the ${object} is ${colour}.`;
  },
  (rng) => {
    const from = between(0, 15, rng);
    const count = between(3, 7, rng);
    const words = Array.from({ length: count }, (_, k) => numberWords(from + k));
    return `count from ${words[0]} to ${words[count - 1]}: ${words.join(", ")}.`;
  },
  (rng) => {
    const from = between(0, 95, rng);
    return `${Array.from({ length: 5 }, (_, k) => from + k).join(", ")}.`;
  },
  (rng) => {
    const [x, y] = [between(0, 30, rng), between(0, 30, rng)];
    if (x === y) return `${numberWords(x)} is equal to ${numberWords(y)}.`;
    return `${numberWords(x)} is ${x > y ? "more" : "less"} than ${numberWords(y)}. ${x} is ${x > y ? "bigger" : "smaller"} than ${y}.`;
  },
  (rng) => {
    const n = between(0, 40, rng);
    return `${numberWords(n)} is an ${n % 2 === 0 ? "even" : "odd"} number.`;
  },
  // Arithmetic facts in words and digits, small operands.
  (rng) => {
    const op = pick<Operator>(["+", "-", "*"], rng);
    const [a, b] = trainTriple(op, 0, op === "*" ? 12 : 20, rng);
    const c = applyOperator(a, op, b);
    return `${numberWords(a)} ${OPERATOR_WORDS[op]} ${numberWords(b)} is ${numberWords(c)}. ${a}${op}${b}=${c}.`;
  },
  (rng) => {
    const [a, b] = trainTriple("+", 0, 20, rng);
    return `what is ${numberWords(a)} plus ${numberWords(b)}? it is ${numberWords(a + b)}.`;
  },
  // Arithmetic facts in digits, larger operands (some differences negative).
  (rng) => {
    const op = pick<Operator>(["+", "-", "*"], rng);
    const [a, b] = op === "*" ? trainTriple(op, 0, 40, rng) : trainTriple(op, 0, 99, rng, rng() < 0.2);
    return `${a}${op}${b}=${applyOperator(a, op, b)}.`;
  },
  // Little stories whose numbers add up.
  (rng) => {
    const name = pick(NAMES, rng);
    const object = pick(OBJECTS, rng);
    const [n, m] = trainTriple("+", 1, 9, rng);
    return `${name} has ${numberWords(n)} ${noun(object, n)}. ${name} gets ${numberWords(m)} more. now ${name} has ${numberWords(n + m)} ${noun(object, n + m)}.`;
  },
  (rng) => {
    const name = pick(NAMES, rng);
    const object = pick(OBJECTS, rng);
    const [n, m] = trainTriple("-", 1, 12, rng);
    return `${name} had ${numberWords(n)} ${noun(object, n)}, then gave away ${numberWords(m)}. ${name} has ${numberWords(n - m)} ${noun(object, n - m)} left.`;
  },
];

/** Document i: 4–10 sentences, mostly joined by spaces, sometimes by newlines. */
function corpusDocument(seed: number, index: number): string {
  const rng = makeRng(subSeed(seed, `corpus document ${index}`));
  const sentences = Array.from({ length: between(4, 10, rng) }, () => pick(SENTENCES, rng)(rng));
  return sentences.reduce((doc, s) => `${doc}${rng() < 0.2 ? "\n" : " "}${s}`);
}

/** Whether document `index` is held out (fixed: every tenth). */
export function isHeldOutDocument(index: number): boolean {
  return index % 10 === 9;
}

/** The generated corpus: `const { train, heldOut } = pretrainCorpus(0, "ci")`. */
export function pretrainCorpus(seed: number, size: CorpusSize): Corpus {
  const target = CORPUS_CHARS[size];
  if (target === undefined) throw new RicciError(`pretrainCorpus: size must be "ci" or "full", got "${String(size)}"`);
  const trainDocuments: string[] = [];
  const heldOutDocuments: string[] = [];
  let chars = 0;
  for (let index = 0; chars < target; index++) {
    const doc = corpusDocument(seed, index);
    (isHeldOutDocument(index) ? heldOutDocuments : trainDocuments).push(doc);
    chars += doc.length + "<bos><eos>".length;
  }
  const join = (docs: readonly string[]): string => docs.map((d) => `<bos>${d}<eos>`).join("");
  return { train: join(trainDocuments), heldOut: join(heldOutDocuments), trainDocuments, heldOutDocuments };
}

/** Next-token windows, row-major [batch, context]: `targets` is `tokens` shifted by one. */
export interface TokenWindows {
  readonly tokens: Int32Array;
  readonly targets: Int32Array;
  readonly batch: number;
  readonly context: number;
}

/** Random windows of a token stream: `sampleWindows(charTokenizer.encode(train), 16, 64, rng)`. */
export function sampleWindows(tokens: ArrayLike<number>, batch: number, context: number, rng: () => number): TokenWindows {
  if (!Number.isInteger(batch) || batch < 1) throw new RicciError(`sampleWindows: batch must be a positive integer, got ${batch}`);
  if (!Number.isInteger(context) || context < 1) throw new RicciError(`sampleWindows: context must be a positive integer, got ${context}`);
  if (tokens.length < context + 1) {
    throw new RicciError(`sampleWindows: ${tokens.length} tokens are too few for windows of context ${context} plus one target`);
  }
  const inputs = new Int32Array(batch * context);
  const targets = new Int32Array(batch * context);
  const starts = tokens.length - context; // start ∈ [0, length − context − 1]
  for (let row = 0; row < batch; row++) {
    const start = Math.floor(rng() * starts);
    for (let t = 0; t < context; t++) {
      inputs[row * context + t] = tokens[start + t];
      targets[row * context + t] = tokens[start + t + 1];
    }
  }
  return { tokens: inputs, targets, batch, context };
}
