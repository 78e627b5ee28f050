/**
 * The arithmetic task family of the whole post-training pipeline (SFT, reward model, PPO,
 * GRPO, DPO, TRPO).
 *
 * Format (what the model sees and must produce; all lowercase, as the tokenizer has no capitals):
 *   sequence  = BOS, prompt, response, EOS
 *   prompt    = "what is " a op b "?"           e.g. "what is 17+25?"   (op is "+", "-" or "*")
 *   response  = "=" answer                       e.g. "=42", "=-8", "=0"
 * `answer` is a canonical integer: an optional "-" then digits without leading zeros ("-0"
 * is not canonical). Operands are never negative; with `allowNegative` a difference can be.
 *
 * Checking a completion (the decoded tokens after the prompt): everything from the first
 * `<eos>` marker on is ignored; the response is *well formed* iff what is left is exactly
 * "=" answer; it is *correct* iff the first integer in it (lenient: "42", "= 42", "=42 ok"
 * count) equals the answer. Format and correctness earn separate credit (R1-style).
 *
 * Split: each problem belongs to one of three sides by a fixed hash — train (70%), validation
 * (10%: for choosing settings) and test (20%: for reporting only) — independent of the seed and
 * of the sizes requested, so sides never overlap and never move. The hash reads the problem up
 * to the task's symmetries: a+b and b+a (a*b and b*a) always share a side, so no held-out
 * problem has its commuted twin among the training problems.
 */
import { RicciError } from "../errors.js";
import { makeRng, subSeed } from "../util/random.js";
import type { Tokenizer } from "./tokenizer.js";

export type Operator = "+" | "-" | "*";
export const OPERATORS: readonly Operator[] = ["+", "-", "*"];

export interface ArithmeticProblem {
  /** "what is 17+25?" */
  readonly prompt: string;
  /** The exact result, e.g. 42. */
  readonly answer: number;
  readonly a: number;
  readonly b: number;
  readonly op: Operator;
}

/** Difficulty and sizes of a problem set; every field has a default (the "default" preset). */
export interface ArithmeticOptions {
  /** Which operators appear (default + and -). */
  readonly operators?: readonly Operator[];
  /** Most digits of each operand of + and - (1–3): operands are 0 … 10^digits − 1. */
  readonly digits?: number;
  /** Most digits of the two operands of *, in either order: [1, 2] gives 7*35 and 35*7. */
  readonly mulDigits?: readonly [number, number];
  /** Whether a difference may be negative (otherwise subtraction has a ≥ b). */
  readonly allowNegative?: boolean;
  readonly trainSize?: number;
  readonly validationSize?: number;
  readonly testSize?: number;
  /** Seeds which problems are drawn and their order, never the train/test assignment. */
  readonly seed?: number;
}

export type ArithmeticPresetName = "easy" | "default" | "hard";

/**
 * Named difficulty levels: `arithmeticProblems("hard")` or `{ ...ARITHMETIC_PRESETS.hard, seed: 3 }`.
 * - easy: 2-digit addition (tiny GPTs learn it to ~100%: a sanity check).
 * - default: 2-digit + and - (non-negative results): the pipeline's task. Add "*" to the
 *   operators for 1-digit × 2-digit products, which the 2-layer full-size GPT does not learn to
 *   generalise: 22% held-out after SFT and after PPO or GRPO alike (28% after SFT with answers
 *   written least-significant digit first).
 * - hard: 3-digit + and - with negative results, and 2-digit × 2-digit products.
 */
export const ARITHMETIC_PRESETS: Readonly<Record<ArithmeticPresetName, Required<ArithmeticOptions>>> = {
  easy: { operators: ["+"], digits: 2, mulDigits: [1, 1], allowNegative: false, trainSize: 4000, validationSize: 500, testSize: 500, seed: 0 },
  default: { operators: ["+", "-"], digits: 2, mulDigits: [1, 2], allowNegative: false, trainSize: 4000, validationSize: 500, testSize: 500, seed: 0 },
  hard: {
    operators: ["+", "-", "*"], digits: 3, mulDigits: [2, 2], allowNegative: true, trainSize: 4000, validationSize: 500, testSize: 500, seed: 0,
  },
};

/** The fractions of all problems on the test and validation sides (the rest is train). */
export const TEST_FRACTION = 0.2;
export const VALIDATION_FRACTION = 0.1;

export type ProblemSplit = "train" | "validation" | "test";
export const SPLITS: readonly ProblemSplit[] = ["train", "validation", "test"];

/** The result of `a op b`: `applyOperator(7, "*", 6)` is 42. */
export function applyOperator(a: number, op: Operator, b: number): number {
  switch (op) {
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "*":
      return a * b;
    default: {
      const never: never = op;
      throw new RicciError(`arithmetic: unknown operator ${String(never)}`);
    }
  }
}

/** A problem from its triple: `makeProblem(17, "+", 25)` has prompt "what is 17+25?" and answer 42. */
export function makeProblem(a: number, op: Operator, b: number): ArithmeticProblem {
  return { prompt: `what is ${a}${op}${b}?`, answer: applyOperator(a, op, b), a, b, op };
}

/** murmur3's 32-bit finaliser: a well-mixed hash of an integer key. */
function mix32(key: number): number {
  let h = key >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A unique integer per triple (operands below 1024). */
function tripleKey(a: number, op: Operator, b: number): number {
  return (OPERATORS.indexOf(op) * 1024 + a) * 1024 + b;
}

// A fixed salt: the split is part of the task's definition, not of a run's seed.
const SPLIT_SALT = 0x5eed5a17;

/** The task's symmetries: + and * commute, so a problem and its commuted twin are one class. */
const COMMUTATIVE: ReadonlySet<Operator> = new Set(["+", "*"]);

/** The key of a problem's class under the task's symmetries: `17+25` and `25+17` share one. */
function classKey(a: number, op: Operator, b: number): number {
  return COMMUTATIVE.has(op) && b < a ? tripleKey(b, op, a) : tripleKey(a, op, b);
}

/** The side a problem belongs to, fixed forever and shared by its commuted twin: `problemSplit(17, "+", 25)`. */
export function problemSplit(a: number, op: Operator, b: number): ProblemSplit {
  const bucket = mix32(classKey(a, op, b) ^ SPLIT_SALT) % 1000;
  if (bucket < TEST_FRACTION * 1000) return "test";
  return bucket < (TEST_FRACTION + VALIDATION_FRACTION) * 1000 ? "validation" : "train";
}

/** Whether a problem is held out from training (validation or test side). */
export function isHeldOut(a: number, op: Operator, b: number): boolean {
  return problemSplit(a, op, b) !== "train";
}

/** Options with defaults filled in and validated. */
function resolveOptions(options: ArithmeticOptions | ArithmeticPresetName): Required<ArithmeticOptions> {
  if (typeof options === "string") {
    const preset = ARITHMETIC_PRESETS[options];
    if (preset === undefined) throw new RicciError(`arithmetic: unknown preset "${options}" (easy, default, hard)`);
    return preset;
  }
  const d = ARITHMETIC_PRESETS.default;
  // Field by field, so that an explicit `undefined` also means "the default".
  const o: Required<ArithmeticOptions> = {
    operators: options.operators ?? d.operators,
    digits: options.digits ?? d.digits,
    mulDigits: options.mulDigits ?? d.mulDigits,
    allowNegative: options.allowNegative ?? d.allowNegative,
    trainSize: options.trainSize ?? d.trainSize,
    validationSize: options.validationSize ?? d.validationSize,
    testSize: options.testSize ?? d.testSize,
    seed: options.seed ?? d.seed,
  };
  const digitsOk = (d: number): boolean => Number.isInteger(d) && d >= 1 && d <= 3;
  if (!digitsOk(o.digits)) throw new RicciError(`arithmetic: digits must be 1, 2 or 3, got ${o.digits}`);
  if (o.mulDigits.length !== 2 || !o.mulDigits.every(digitsOk)) {
    throw new RicciError(`arithmetic: mulDigits must be two of 1, 2, 3, got [${o.mulDigits.join(", ")}]`);
  }
  if (o.operators.length === 0 || new Set(o.operators).size !== o.operators.length) {
    throw new RicciError(`arithmetic: operators must be distinct and non-empty, got [${o.operators.join(", ")}]`);
  }
  for (const op of o.operators) {
    if (!OPERATORS.includes(op)) throw new RicciError(`arithmetic: unknown operator "${op}" (use +, -, *)`);
  }
  for (const [name, n] of [["trainSize", o.trainSize], ["validationSize", o.validationSize], ["testSize", o.testSize]] as const) {
    if (!Number.isInteger(n) || n < 0) throw new RicciError(`arithmetic: ${name} must be a non-negative integer, got ${n}`);
  }
  return o;
}

/** Whether (a, op, b) is in the problem family `o` describes. */
function inFamily(o: Required<ArithmeticOptions>, a: number, op: Operator, b: number): boolean {
  if (op === "*") {
    const [m, n] = o.mulDigits.map((d) => 10 ** d);
    return (a < m && b < n) || (a < n && b < m);
  }
  return op === "+" || o.allowNegative || a >= b;
}

/** The largest operand of `op` in the family, plus one. */
function operandBound(o: Required<ArithmeticOptions>, op: Operator): number {
  return op === "*" ? 10 ** Math.max(...o.mulDigits) : 10 ** o.digits;
}

const availableCache = new Map<string, Record<ProblemSplit, number>>();

/** How many distinct problems each side of the family has (enumerated once per family). */
function available(o: Required<ArithmeticOptions>): Record<ProblemSplit, number> {
  const key = JSON.stringify([o.operators, o.digits, o.mulDigits, o.allowNegative]);
  const cached = availableCache.get(key);
  if (cached !== undefined) return cached;
  const counts = { train: 0, validation: 0, test: 0 };
  for (const op of o.operators) {
    const bound = operandBound(o, op);
    for (let a = 0; a < bound; a++) {
      for (let b = 0; b < bound; b++) {
        if (!inFamily(o, a, op, b)) continue;
        counts[problemSplit(a, op, b)]++;
      }
    }
  }
  availableCache.set(key, counts);
  return counts;
}

/** One candidate triple: an operator, then operands uniform over its digit ranges. */
function drawTriple(o: Required<ArithmeticOptions>, rng: () => number): [number, Operator, number] {
  const op = o.operators[Math.floor(rng() * o.operators.length)];
  const uniform = (n: number): number => Math.floor(rng() * n);
  if (op === "*") {
    const [m, n] = o.mulDigits.map((d) => 10 ** d);
    return rng() < 0.5 ? [uniform(m), op, uniform(n)] : [uniform(n), op, uniform(m)];
  }
  const bound = 10 ** o.digits;
  return [uniform(bound), op, uniform(bound)];
}

/**
 * Distinct problems on each side of the fixed split: `arithmeticProblems("default").test`.
 * Draws a seeded stream of triples and files each new one on its side, so asking for more
 * problems (same seed) extends every list without changing its beginning.
 */
export function arithmeticProblems(options: ArithmeticOptions | ArithmeticPresetName = "default"): Record<ProblemSplit, ArithmeticProblem[]> {
  const o = resolveOptions(options);
  const have = available(o);
  const wanted: Record<ProblemSplit, number> = { train: o.trainSize, validation: o.validationSize, test: o.testSize };
  if (SPLITS.some((side) => wanted[side] > have[side])) {
    throw new RicciError(
      `arithmetic: asked for ${wanted.train} train, ${wanted.validation} validation and ${wanted.test} test problems, but this family ` +
        `(operators ${o.operators.join(" ")}, digits ${o.digits}, mulDigits ${o.mulDigits.join("x")}, ` +
        `allowNegative ${o.allowNegative}) has only ${have.train}, ${have.validation} and ${have.test}`,
    );
  }
  const rng = makeRng(subSeed(o.seed, "arithmetic problems"));
  const seen = new Set<number>();
  const sides: Record<ProblemSplit, ArithmeticProblem[]> = { train: [], validation: [], test: [] };
  while (SPLITS.some((side) => sides[side].length < wanted[side])) {
    const [a, op, b] = drawTriple(o, rng);
    if (!inFamily(o, a, op, b)) continue;
    const key = tripleKey(a, op, b);
    if (seen.has(key)) continue;
    seen.add(key);
    const side = problemSplit(a, op, b);
    if (sides[side].length < wanted[side]) sides[side].push(makeProblem(a, op, b));
  }
  return sides;
}

/** A prompt and the response the model should learn to produce. */
export interface SftExample {
  readonly prompt: string;
  readonly response: string;
}

/** The canonical response text (EOS not included): `formatExample(makeProblem(17, "+", 25))` → {prompt: "what is 17+25?", response: "=42"}. */
export function formatExample(problem: ArithmeticProblem): SftExample {
  return { prompt: problem.prompt, response: `=${problem.answer}` };
}

export interface AnswerCheck {
  /** The first integer of the response equals the answer. */
  readonly correct: boolean;
  /** The response (up to `<eos>`) is exactly "=" and a canonical integer. */
  readonly wellFormed: boolean;
  /** The first integer in the response, or null if it has none. */
  readonly parsed: number | null;
}

export interface CheckOptions {
  /** Count a response as well formed only if it contains the `<eos>` marker (default false). */
  readonly requireEos?: boolean;
}

const WELL_FORMED = /^=(0|-?[1-9][0-9]*)$/;
const FIRST_INTEGER = /-?[0-9]+/;
const EOS_MARKER = "<eos>";

/** Grades a decoded completion: `checkAnswer(p, "=42<eos><pad>")` → {correct, wellFormed, parsed: 42}. */
export function checkAnswer(problem: Pick<ArithmeticProblem, "answer">, responseText: string, options: CheckOptions = {}): AnswerCheck {
  const eos = responseText.indexOf(EOS_MARKER);
  const body = eos >= 0 ? responseText.slice(0, eos) : responseText;
  const wellFormed = WELL_FORMED.test(body) && (eos >= 0 || options.requireEos !== true);
  const match = FIRST_INTEGER.exec(body);
  const parsed = match === null ? null : Number(match[0]);
  return { correct: parsed !== null && parsed === problem.answer, wellFormed, parsed };
}

export interface RewardWeights {
  readonly correct: number;
  readonly format: number;
  /**
   * Partial credit per answer digit (default 0): weight × the fraction of digit places, aligned
   * from the units, where the first integer of the response agrees with the answer (signs must
   * agree; the longer of the two numbers sets the places). A denser signal than exact match: a
   * wrong answer with the right units digit still earns some reward.
   */
  readonly digits?: number;
}

/**
 * The fraction of digit places (aligned from the units) where `given` agrees with `answer`:
 * `digitCredit(42, 47)` is 0.5, `digitCredit(42, 142)` is 2/3, `digitCredit(42, -42)` is 0.
 */
export function digitCredit(answer: number, given: number | null): number {
  if (given === null || Math.sign(given) * Math.sign(answer) < 0) return 0;
  const a = String(Math.abs(answer));
  const g = String(Math.abs(given));
  const places = Math.max(a.length, g.length);
  let same = 0;
  for (let i = 1; i <= places; i++) if (a.length >= i && g.length >= i && a[a.length - i] === g[g.length - i]) same++;
  return same / places;
}

/** Rule-based reward: weights.correct·[correct] + weights.format·[well formed]; `ruleReward(p, "=42")` is 1.1. */
export function ruleReward(
  problem: Pick<ArithmeticProblem, "answer">,
  responseText: string,
  weights: RewardWeights = { correct: 1, format: 0.1 },
  options: CheckOptions = {},
): number {
  const check = checkAnswer(problem, responseText, options);
  const partial = weights.digits === undefined || weights.digits === 0 ? 0 : weights.digits * digitCredit(problem.answer, check.parsed);
  return (check.correct ? weights.correct : 0) + (check.wellFormed ? weights.format : 0) + partial;
}

/** The model's input for a prompt (what sampling continues from): [BOS, ...prompt]. */
export function encodePrompt(prompt: string, tokenizer: Tokenizer): number[] {
  return [tokenizer.bosId, ...tokenizer.encode(prompt)];
}

/** [BOS, ...prompt, ...response, EOS] and the index of the first response token. */
export function encodeExample(example: SftExample, tokenizer: Tokenizer): { ids: number[]; responseStart: number } {
  const prompt = encodePrompt(example.prompt, tokenizer);
  return { ids: [...prompt, ...tokenizer.encode(example.response), tokenizer.eosId], responseStart: prompt.length };
}

/**
 * Token batch for supervised fine-tuning, each array row-major [batch, context].
 * Position t of a row holds input `tokens[t]` and the next token `targets[t]`; `lossMask[t]`
 * is 1 iff `targets[t]` is a response token or the closing EOS. Rows are left-aligned and
 * PAD-padded; `lengths[row]` counts the row's real tokens (BOS … EOS), so the EOS input
 * sits at `lengths[row] − 1` (where a reward model reads its score).
 */
export interface SftBatch {
  readonly tokens: Int32Array;
  readonly targets: Int32Array;
  readonly lossMask: Float32Array;
  readonly lengths: Int32Array;
  readonly batch: number;
  readonly context: number;
}

/** Packs the given examples in order, one row each: `packSft(test.map(formatExample), charTokenizer, 32)`. */
export function packSft(examples: readonly SftExample[], tokenizer: Tokenizer, context: number): SftBatch {
  if (!Number.isInteger(context) || context < 2) throw new RicciError(`sft: context must be an integer ≥ 2, got ${context}`);
  const batch = examples.length;
  const tokens = new Int32Array(batch * context).fill(tokenizer.padId);
  const targets = new Int32Array(batch * context).fill(tokenizer.padId);
  const lossMask = new Float32Array(batch * context);
  const lengths = new Int32Array(batch);
  examples.forEach((example, row) => {
    const { ids, responseStart } = encodeExample(example, tokenizer);
    if (ids.length > context) {
      throw new RicciError(
        `sft: "${example.prompt}${example.response}" needs ${ids.length} tokens with BOS and EOS, more than context ${context}`,
      );
    }
    lengths[row] = ids.length;
    const base = row * context;
    for (let t = 0; t < ids.length; t++) {
      tokens[base + t] = ids[t];
      if (t + 1 < ids.length) {
        targets[base + t] = ids[t + 1];
        if (t + 1 >= responseStart) lossMask[base + t] = 1;
      }
    }
  });
  return { tokens, targets, lossMask, lengths, batch, context };
}

/** A random SFT batch (examples drawn with replacement): `sftBatch(examples, charTokenizer, 16, 32, rng)`. */
export function sftBatch(
  examples: readonly SftExample[],
  tokenizer: Tokenizer,
  batch: number,
  context: number,
  rng: () => number,
): SftBatch {
  if (examples.length === 0) throw new RicciError("sft: no examples to draw a batch from");
  if (!Number.isInteger(batch) || batch < 1) throw new RicciError(`sft: batch must be a positive integer, got ${batch}`);
  const picked = Array.from({ length: batch }, () => examples[Math.floor(rng() * examples.length)]);
  return packSft(picked, tokenizer, context);
}
