/**
 * Preference pairs for reward modelling and DPO: for each arithmetic problem a chosen response
 * (the canonical correct one, "=42") and a rejected one — a plausible mistake, well formed but
 * wrong (off by one, off by ten, two digits swapped, another operator's result), or the right
 * number in a broken format ("42", "=42.", "==42", "="). Responses carry no EOS, like
 * `formatExample`'s; append EOS when encoding (`encodeExample` does).
 */
import { RicciError } from "../errors.js";
import { makeRng, subSeed } from "../util/random.js";
import {
  applyOperator, arithmeticProblems, checkAnswer, formatExample, OPERATORS,
  type ArithmeticOptions, type ArithmeticPresetName, type ArithmeticProblem, type ProblemSplit,
} from "./arithmetic.js";

/** How a rejected response is wrong; "otherWrong" only for sampled responses that match no other kind. */
export type RejectionKind = "offByOne" | "offByTen" | "digitSwap" | "wrongOperator" | "malformed" | "otherWrong";
/** The kinds `preferencePairs` constructs. */
export type ConstructedKind = Exclude<RejectionKind, "otherWrong">;
export const REJECTION_KINDS: readonly ConstructedKind[] = ["offByOne", "offByTen", "digitSwap", "wrongOperator", "malformed"];
/** Every kind a rejected response can be classed as (`rejectionKindOf`). */
export const ALL_REJECTION_KINDS: readonly RejectionKind[] = [...REJECTION_KINDS, "otherWrong"];

export interface PreferencePair {
  readonly prompt: string;
  readonly chosen: string;
  readonly rejected: string;
  /** How the rejected response was made (a fallback may replace the kind first drawn). */
  readonly rejectedKind: RejectionKind;
}

/** `answer ± delta` with a random sign, kept non-negative when the answer is. */
function shifted(answer: number, delta: number, rng: () => number): number {
  const candidate = rng() < 0.5 ? answer - delta : answer + delta;
  return candidate < 0 && answer >= 0 ? answer + delta : candidate;
}

/** The answer with two adjacent, different digits swapped (sign kept), or null if all digits agree. */
function digitSwapped(answer: number, rng: () => number): number | null {
  const digits = [...String(Math.abs(answer))];
  const swappable = digits.slice(0, -1).flatMap((d, i) => (d !== digits[i + 1] ? [i] : []));
  if (swappable.length === 0) return null;
  const i = swappable[Math.floor(rng() * swappable.length)];
  [digits[i], digits[i + 1]] = [digits[i + 1], digits[i]];
  const magnitude = Number(digits.join(""));
  return answer < 0 ? -magnitude : magnitude;
}

/** Another operator's result on the same operands (non-negative ones first), or null if all agree. */
function otherOperatorResult(problem: ArithmeticProblem, rng: () => number): number | null {
  const results = OPERATORS.filter((op) => op !== problem.op)
    .map((op) => applyOperator(problem.a, op, problem.b))
    .filter((r) => r !== problem.answer);
  const preferred = results.filter((r) => r >= 0 || problem.answer < 0);
  const pool = preferred.length > 0 ? preferred : results;
  return pool.length === 0 ? null : pool[Math.floor(rng() * pool.length)];
}

/** The correct number in a format the checker rejects. */
function malformed(answer: number, rng: () => number): string {
  const variants = [`${answer}`, `=${answer}.`, `==${answer}`, "="];
  return variants[Math.floor(rng() * variants.length)];
}

/**
 * The kind of a response the verifier rejects, for reports: `rejectionKindOf(p, "=43")` is
 * "offByOne" when p's answer is 42. Malformed first, then the constructed kinds' patterns.
 */
export function rejectionKindOf(problem: ArithmeticProblem, response: string): RejectionKind {
  const check = checkAnswer(problem, response);
  if (!check.wellFormed) return "malformed";
  const given = check.parsed;
  if (given === null || given === problem.answer) return "otherWrong";
  const distance = Math.abs(given - problem.answer);
  if (distance === 1) return "offByOne";
  if (distance === 10) return "offByTen";
  const digits = (n: number): string => [...String(Math.abs(n))].sort().join("");
  if (Math.sign(given) === Math.sign(problem.answer) && digits(given) === digits(problem.answer)) return "digitSwap";
  const others = OPERATORS.filter((op) => op !== problem.op).map((op) => applyOperator(problem.a, op, problem.b));
  return others.includes(given) ? "wrongOperator" : "otherWrong";
}

/** One rejected response of the drawn kind, falling back to off-by-one where the kind cannot apply. */
function rejectedResponse(problem: ArithmeticProblem, kind: ConstructedKind, rng: () => number): [string, RejectionKind] {
  const wrong = (n: number | null, k: RejectionKind): [string, RejectionKind] =>
    n === null || n === problem.answer ? [`=${shifted(problem.answer, 1, rng)}`, "offByOne"] : [`=${n}`, k];
  switch (kind) {
    case "offByOne":
      return wrong(shifted(problem.answer, 1, rng), kind);
    case "offByTen":
      return wrong(shifted(problem.answer, 10, rng), kind);
    case "digitSwap":
      return wrong(digitSwapped(problem.answer, rng), kind);
    case "wrongOperator":
      return wrong(otherOperatorResult(problem, rng), kind);
    case "malformed":
      return [malformed(problem.answer, rng), kind];
    default: {
      const never: never = kind;
      throw new RicciError(`preferences: unknown rejection kind ${String(never)}`);
    }
  }
}

/**
 * A chosen/rejected pair per problem: `preferencePairs(arithmeticProblems().train, 7)`.
 * Each pair depends only on the seed and the problem, not on its place in the list.
 */
export function preferencePairs(problems: readonly ArithmeticProblem[], seed: number): PreferencePair[] {
  return problems.map((problem) => {
    const rng = makeRng(subSeed(seed, `preference ${problem.prompt}`));
    const kind = REJECTION_KINDS[Math.floor(rng() * REJECTION_KINDS.length)];
    const [rejected, rejectedKind] = rejectedResponse(problem, kind, rng);
    const check = checkAnswer(problem, rejected);
    if (check.correct && check.wellFormed) {
      throw new RicciError(`preferences: rejected response "${rejected}" for "${problem.prompt}" is a correct answer`);
    }
    return { prompt: problem.prompt, chosen: formatExample(problem).response, rejected, rejectedKind };
  });
}

/** Pairs on every side of the task's fixed split: `preferenceDataset("default", 7).validation`. */
export function preferenceDataset(
  options: ArithmeticOptions | ArithmeticPresetName = "default",
  seed = 0,
): Record<ProblemSplit, PreferencePair[]> {
  const { train, validation, test } = arithmeticProblems(options);
  return { train: preferencePairs(train, seed), validation: preferencePairs(validation, seed), test: preferencePairs(test, seed) };
}
