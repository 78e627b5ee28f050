import { describe, expect, it } from "vitest";
import {
  ARITHMETIC_PRESETS, BOS_ID, CHARACTERS, EOS_ID, PAD_ID, arithmeticProblems, charTokenizer, checkAnswer, digitCredit,
  encodePrompt, formatExample, isHeldOut, makeProblem, problemSplit, numberWords, packSft, preferenceDataset, preferencePairs,
  pretrainCorpus, ruleReward, sampleWindows, sftBatch, stripSpecialMarkers,
  type ArithmeticProblem, type Operator,
} from "../src/data/index.js";
import { makeRng } from "../src/util/random.js";

const PRESETS = ["easy", "default", "hard"] as const;
const problemSets = Object.fromEntries(PRESETS.map((p) => [p, arithmeticProblems(p)])) as Record<
  (typeof PRESETS)[number],
  Record<"train" | "validation" | "test", ArithmeticProblem[]>
>;
const tripleKey = (p: { a: number; op: string; b: number }): string => `${p.a}${p.op}${p.b}`;

/** Independent oracle: the answer of a prompt string, parsed and computed here. */
function answerOfPrompt(prompt: string): number {
  const m = /^what is (\d+)([+\-*])(\d+)\?$/.exec(prompt);
  if (m === null) throw new Error(`not a task prompt: ${prompt}`);
  const [a, b] = [Number(m[1]), Number(m[3])];
  return m[2] === "+" ? a + b : m[2] === "-" ? a - b : a * b;
}

/** Independent oracle: English number words (as the corpus writes them) to a number. */
function wordsToNumber(words: string): number {
  const units = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"];
  const tens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
  let total = 0;
  let sign = 1;
  for (const w of words.split(" ")) {
    if (w === "minus") sign = -1;
    else if (w === "hundred") total *= 100;
    else if (units.includes(w)) total += units.indexOf(w);
    else if (tens.includes(w)) total += 10 * tens.indexOf(w);
    else throw new Error(`not a number word: ${w} in "${words}"`);
  }
  return sign * total;
}

describe("tokenizer", () => {
  it("has a small fixed vocabulary with PAD=0, BOS=1, EOS=2", () => {
    expect(charTokenizer.vocabSize).toBeLessThanOrEqual(64);
    expect(charTokenizer.vocabSize).toBe(3 + 2 + 8 + 10 + 26); // specials, \n and space, . , : ? + - * =, digits, a–z
    expect(new Set(charTokenizer.vocab).size).toBe(charTokenizer.vocabSize);
    expect([PAD_ID, BOS_ID, EOS_ID]).toEqual([0, 1, 2]);
    expect([charTokenizer.padId, charTokenizer.bosId, charTokenizer.eosId]).toEqual([0, 1, 2]);
  });

  it("encodes by the documented layout (specials, then CHARACTERS in order)", () => {
    expect(CHARACTERS.slice(0, 2)).toBe("\n ");
    // "\n" → 3, " " → 4, "a" is the 21st ordinary character (10 symbols, 10 digits before it) → 23.
    expect(charTokenizer.encode("\n a")).toEqual([3, 4, 23]);
    expect(charTokenizer.encode("<bos>0<eos><pad>")).toEqual([1, 3 + CHARACTERS.indexOf("0"), 2, 0]);
    expect(charTokenizer.decode([1, 23, 24, 2, 0])).toBe("<bos>ab<eos><pad>");
    expect(charTokenizer.decodeText([1, 23, 24, 2, 0])).toBe("ab");
    expect(charTokenizer.stripSpecials([1, 23, 2, 0, 24])).toEqual([23, 24]);
    expect(stripSpecialMarkers("<bos>=42<eos><pad>")).toBe("=42");
  });

  it("round-trips every id sequence through decode and encode", () => {
    const rng = makeRng(11);
    for (let trial = 0; trial < 200; trial++) {
      const ids = Array.from({ length: 1 + Math.floor(rng() * 30) }, () => Math.floor(rng() * charTokenizer.vocabSize));
      expect(charTokenizer.encode(charTokenizer.decode(ids))).toEqual(ids);
    }
  });

  it("names an unknown character and its position", () => {
    expect(() => charTokenizer.encode("What is 1+2?")).toThrow(/unknown character "W" \(U\+0057\) at position 0/);
    expect(() => charTokenizer.encode("abc!")).toThrow(/unknown character "!" \(U\+0021\) at position 3/);
    expect(() => charTokenizer.encode("a\tb")).toThrow(/unknown character U\+0009 at position 1/);
    expect(() => charTokenizer.encode("x<eo")).toThrow(/unknown character "<" .* at position 1/);
    expect(() => charTokenizer.decode([0, 49])).toThrow(/id 49 at position 1 is outside the vocabulary \[0, 49\)/);
  });

  it("round-trips the whole corpus and every task string", () => {
    for (const size of ["ci", "full"] as const) {
      const corpus = pretrainCorpus(0, size);
      for (const text of [corpus.train, corpus.heldOut]) expect(charTokenizer.decode(charTokenizer.encode(text))).toBe(text);
    }
    for (const preset of PRESETS) {
      const { train, test } = problemSets[preset];
      const pairs = preferencePairs([...train, ...test], 3);
      const strings = [
        ...[...train, ...test].flatMap((p) => Object.values(formatExample(p))),
        ...pairs.flatMap((p) => [p.prompt, p.chosen, p.rejected]),
      ];
      expect(strings.filter((s) => charTokenizer.decode(charTokenizer.encode(s)) !== s)).toEqual([]);
    }
  });
});

describe("pretraining corpus", () => {
  const ci = pretrainCorpus(0, "ci");
  const full = pretrainCorpus(0, "full");

  it("is deterministic per seed and differs between seeds", () => {
    const again = pretrainCorpus(0, "ci");
    expect(again.train).toBe(ci.train);
    expect(again.heldOut).toBe(ci.heldOut);
    const other = pretrainCorpus(1, "ci");
    expect(other.train).not.toBe(ci.train);
    expect(other.heldOut).not.toBe(ci.heldOut);
  });

  it("has a few hundred KB at full size, the ci size being a prefix", () => {
    const chars = (c: typeof ci): number => c.train.length + c.heldOut.length;
    expect(chars(full)).toBeGreaterThanOrEqual(400_000);
    expect(chars(full)).toBeLessThan(420_000);
    expect(chars(ci)).toBeGreaterThanOrEqual(40_000);
    expect(chars(ci)).toBeLessThan(50_000);
    expect(full.trainDocuments.slice(0, ci.trainDocuments.length)).toEqual(ci.trainDocuments);
    expect(full.heldOutDocuments.slice(0, ci.heldOutDocuments.length)).toEqual(ci.heldOutDocuments);
  });

  it("splits by document, about one in ten held out, no document on both sides", () => {
    const ratio = full.heldOutDocuments.length / (full.trainDocuments.length + full.heldOutDocuments.length);
    expect(ratio).toBeGreaterThan(0.09);
    expect(ratio).toBeLessThan(0.11);
    const heldOut = new Set(full.heldOutDocuments);
    expect(full.trainDocuments.filter((d) => heldOut.has(d))).toEqual([]);
    expect(full.train).toBe(full.trainDocuments.map((d) => `<bos>${d}<eos>`).join(""));
    expect(full.heldOut).toBe(full.heldOutDocuments.map((d) => `<bos>${d}<eos>`).join(""));
    for (const d of full.trainDocuments.slice(0, 50)) expect(d).not.toMatch(/<|>/);
  });

  it("states only true arithmetic facts, none from any held-out (validation or test) split", () => {
    const text = full.train + full.heldOut;
    const testTriples = new Set(PRESETS.flatMap((p) => [...problemSets[p].validation, ...problemSets[p].test].map(tripleKey)));
    const digitFacts = [...text.matchAll(/(\d+)([+\-*])(\d+)=(-?\d+)\./g)];
    expect(digitFacts.length).toBeGreaterThan(1000);
    for (const [, a, op, b, c] of digitFacts) {
      expect(answerOfPrompt(`what is ${a}${op}${b}?`)).toBe(Number(c));
      expect(testTriples.has(`${a}${op}${b}`)).toBe(false);
      expect(isHeldOut(Number(a), op as Operator, Number(b))).toBe(false);
    }
    const num = "((?:minus )?[a-z]+(?: [a-z]+)*?)";
    const wordFacts = [...text.matchAll(new RegExp(`(?:^|[.?] |\\n)${num} (plus|minus|times) ${num} is ${num}\\.`, "g"))];
    expect(wordFacts.length).toBeGreaterThan(500);
    for (const [, a, opWord, b, c] of wordFacts) {
      const op = ({ plus: "+", minus: "-", times: "*" } as const)[opWord as "plus" | "minus" | "times"];
      const [x, y] = [wordsToNumber(a), wordsToNumber(b)];
      expect(answerOfPrompt(`what is ${x}${op}${y}?`)).toBe(wordsToNumber(c));
      expect(isHeldOut(x, op, y)).toBe(false);
    }
  });

  it("writes numbers in words that parse back", () => {
    for (const n of [0, 7, 13, 20, 42, 99, 100, 305, 999, -18]) expect(wordsToNumber(numberWords(n))).toBe(n);
    expect(numberWords(124)).toBe("one hundred twenty four");
  });
});

describe("sampleWindows", () => {
  it("cuts contiguous windows with targets shifted by one", () => {
    const stream = Array.from({ length: 100 }, (_, i) => i); // token i at position i: windows reveal their start
    const { tokens, targets } = sampleWindows(stream, 64, 10, makeRng(5));
    expect(tokens.length).toBe(640);
    const starts = new Set<number>();
    for (let row = 0; row < 64; row++) {
      const start = tokens[row * 10];
      starts.add(start);
      expect(start + 10).toBeLessThanOrEqual(99); // the last target must exist
      for (let t = 0; t < 10; t++) {
        expect(tokens[row * 10 + t]).toBe(start + t);
        expect(targets[row * 10 + t]).toBe(start + t + 1);
      }
    }
    expect(starts.size).toBeGreaterThan(30);
    expect(sampleWindows(stream, 64, 10, makeRng(5)).tokens).toEqual(tokens);
    expect(sampleWindows(stream.slice(0, 11), 8, 10, makeRng(1)).tokens.every((v, i) => v === i % 10)).toBe(true);
    expect(() => sampleWindows(stream.slice(0, 10), 1, 10, makeRng(1))).toThrow(/too few/);
  });
});

describe("arithmetic task", () => {
  it("writes prompts and responses in the documented format", () => {
    const p = makeProblem(17, "+", 25);
    expect(p).toEqual({ prompt: "what is 17+25?", answer: 42, a: 17, b: 25, op: "+" });
    expect(formatExample(p)).toEqual({ prompt: "what is 17+25?", response: "=42" });
    expect(formatExample(makeProblem(12, "-", 30)).response).toBe("=-18");
    expect(formatExample(makeProblem(7, "*", 35)).response).toBe("=245");
  });

  it("gives distinct problems within each preset's family, with the right answers and sizes", () => {
    const families = {
      easy: { ops: ["+"], max: 99, mulMax: 9, negative: false },
      default: { ops: ["+", "-"], max: 99, mulMax: 99, negative: false },
      hard: { ops: ["+", "-", "*"], max: 999, mulMax: 99, negative: true },
    };
    for (const preset of PRESETS) {
      const { train, test } = problemSets[preset];
      const family = families[preset];
      expect(train.length).toBe(ARITHMETIC_PRESETS[preset].trainSize);
      expect(test.length).toBe(ARITHMETIC_PRESETS[preset].testSize);
      const all = [...train, ...test];
      expect(new Set(all.map(tripleKey)).size).toBe(all.length);
      expect(new Set(all.map((p) => p.op))).toEqual(new Set(family.ops));
      const outOfFamily = all.filter((p) => {
        const bound = p.op === "*" ? family.mulMax : family.max;
        return (
          p.answer !== answerOfPrompt(p.prompt) ||
          p.prompt !== `what is ${p.a}${p.op}${p.b}?` ||
          Math.max(p.a, p.b) > bound ||
          (!family.negative && p.answer < 0)
        );
      });
      expect(outOfFamily).toEqual([]);
      if (family.negative) expect(all.some((p) => p.answer < 0)).toBe(true);
    }
  });

  it("keeps train, validation and test disjoint and closed under commutation for every preset", () => {
    for (const preset of PRESETS) {
      const sets = problemSets[preset];
      expect(sets.validation.length).toBeGreaterThan(0);
      for (const side of ["train", "validation", "test"] as const) {
        // Every problem's commuted twin (a+b ↔ b+a, a*b ↔ b*a) is on the same side, whichever list it is in.
        for (const p of sets[side]) {
          expect(problemSplit(p.a, p.op, p.b)).toBe(side);
          if (p.op !== "-") expect(problemSplit(p.b, p.op, p.a)).toBe(side);
        }
        for (const other of ["train", "validation", "test"] as const) {
          if (other === side) continue;
          const keys = new Set(sets[other].map(tripleKey));
          const twins = new Set(sets[other].filter((p) => p.op !== "-").map((p) => `${p.b}${p.op}${p.a}`));
          expect(sets[side].filter((p) => keys.has(tripleKey(p)) || twins.has(tripleKey(p)))).toEqual([]);
        }
      }
    }
    // Over the whole family: a twin pair never straddles two sides; subtraction has no twin.
    let pairs = 0;
    for (let a = 0; a < 100; a++) for (let b = a + 1; b < 100; b++) for (const op of ["+", "*"] as const) {
      expect(problemSplit(a, op, b)).toBe(problemSplit(b, op, a));
      pairs++;
    }
    expect(pairs).toBe(9900);
    let straddling = 0;
    for (let a = 0; a < 100; a++) for (let b = 0; b < a; b++) if (problemSplit(a, "-", b) !== problemSplit(b, "-", a)) straddling++;
    expect(straddling).toBeGreaterThan(1000); // the hash does depend on order where the task does
  });

  it("keeps every problem on a fixed side whatever the seed or size", () => {
    const sides = new Map<string, "train" | "validation" | "test">();
    for (const seed of [0, 1, 2]) {
      for (const [trainSize, testSize] of [[50, 10], [3000, 600]]) {
        const { train, validation, test } = arithmeticProblems({ seed, trainSize, validationSize: testSize / 2, testSize });
        for (const [list, side] of [[train, "train"], [validation, "validation"], [test, "test"]] as const) {
          expect(list.filter((p) => (sides.get(tripleKey(p)) ?? side) !== side)).toEqual([]);
          for (const p of list) sides.set(tripleKey(p), side);
        }
      }
    }
    const small = arithmeticProblems({ seed: 4, trainSize: 100, testSize: 20 });
    const large = arithmeticProblems({ seed: 4, trainSize: 1000, testSize: 200 });
    expect(large.train.slice(0, 100)).toEqual(small.train);
    expect(large.test.slice(0, 20)).toEqual(small.test);
    expect(arithmeticProblems({ seed: 5, trainSize: 100, testSize: 20 }).train).not.toEqual(small.train);
  });

  it("puts about a fifth of all problems on the test side and a tenth on validation", () => {
    const count = { train: 0, validation: 0, test: 0 };
    for (let a = 0; a < 100; a++) for (let b = 0; b < 100; b++) count[problemSplit(a, "-", b)]++;
    expect(count.test).toBeGreaterThan(1850);
    expect(count.test).toBeLessThan(2150);
    expect(count.validation).toBeGreaterThan(850);
    expect(count.validation).toBeLessThan(1150);
  });

  it("can exhaust a small family and refuses to over-ask", () => {
    const tiny = { operators: ["+"] as Operator[], digits: 1, allowNegative: false };
    const count = { train: 0, validation: 0, test: 0 };
    for (let a = 0; a < 10; a++) for (let b = 0; b < 10; b++) count[problemSplit(a, "+", b)]++;
    const all = arithmeticProblems({ ...tiny, trainSize: count.train, validationSize: count.validation, testSize: count.test });
    expect(new Set([...all.train, ...all.validation, ...all.test].map(tripleKey)).size).toBe(100);
    expect(() => arithmeticProblems({ ...tiny, trainSize: count.train + 1, validationSize: 0, testSize: 0 })).toThrow(/has only/);
    expect(() => arithmeticProblems({ digits: 4 })).toThrow(/digits must be 1, 2 or 3/);
    expect(() => arithmeticProblems({ operators: ["/" as Operator] })).toThrow(/unknown operator "\/"/);
  });
});

describe("answer checking and rule reward", () => {
  const p = makeProblem(17, "+", 25);
  const negative = makeProblem(12, "-", 30);

  it("grades correct, wrong, malformed, negative and extra-text responses", () => {
    const cases: [ArithmeticProblem, string, boolean, boolean, number | null][] = [
      // problem, response, correct, wellFormed, parsed
      [p, "=42", true, true, 42],
      [p, "=42<eos>", true, true, 42],
      [p, "=42<eos><pad><pad>", true, true, 42],
      [p, "=42<eos>=99", true, true, 42],
      [p, "=43", false, true, 43],
      [p, "=43<eos>", false, true, 43],
      [p, "42", true, false, 42],
      [p, "= 42", true, false, 42],
      [p, "=042", true, false, 42],
      [p, "=42 apples", true, false, 42],
      [p, "=42=42", true, false, 42],
      [p, "=4213", false, true, 4213],
      [p, "=", false, false, null],
      [p, "", false, false, null],
      [p, "<eos>=42", false, false, null],
      [negative, "=-18", true, true, -18],
      [negative, "=18", false, true, 18],
      [negative, "=-18<eos>", true, true, -18],
      [negative, "=--18", true, false, -18], // lenient: the first integer counts
      [makeProblem(5, "-", 5), "=0", true, true, 0],
      [makeProblem(5, "-", 5), "=-0", true, false, -0],
    ];
    for (const [problem, response, correct, wellFormed, parsed] of cases) {
      expect({ response, ...checkAnswer(problem, response) }).toEqual({ response, correct, wellFormed, parsed });
    }
    expect(checkAnswer(p, "=42", { requireEos: true }).wellFormed).toBe(false);
    expect(checkAnswer(p, "=42<eos>", { requireEos: true }).wellFormed).toBe(true);
  });

  it("adds weighted credit for the answer and the format", () => {
    expect(ruleReward(p, "=42<eos>")).toBeCloseTo(1.1, 12);
    expect(ruleReward(p, "42")).toBe(1);
    expect(ruleReward(p, "=43")).toBeCloseTo(0.1, 12);
    expect(ruleReward(p, "the answer")).toBe(0);
    expect(ruleReward(p, "=42", { correct: 2, format: 0.5 })).toBe(2.5);
    expect(ruleReward(p, "=42", { correct: 1, format: 0.1 }, { requireEos: true })).toBe(1);
  });
});

describe("sft batches", () => {
  const examples = problemSets.hard.train.slice(0, 200).map(formatExample);

  it("masks exactly the response tokens and EOS; targets are the inputs shifted by one", () => {
    const context = 32;
    const { tokens, targets, lossMask, lengths } = sftBatch(examples, charTokenizer, 64, context, makeRng(9));
    const known = new Map(examples.map((e) => [e.prompt, e.response]));
    for (let row = 0; row < 64; row++) {
      const slice = (a: ArrayLike<number>): number[] => Array.from(a).slice(row * context, (row + 1) * context);
      const [rowTokens, rowTargets, rowMask] = [slice(tokens), slice(targets), slice(lossMask)];
      const length = lengths[row];
      const text = charTokenizer.decode(rowTokens.slice(0, length));
      const m = /^<bos>(what is [^?]*\?)(.*)<eos>$/.exec(text);
      expect(m).not.toBeNull();
      const [, prompt, response] = m as RegExpExecArray;
      expect(known.get(prompt)).toBe(response);
      expect(rowTokens.slice(length).every((id) => id === PAD_ID)).toBe(true);
      expect(rowTargets.slice(0, context - 1)).toEqual(rowTokens.slice(1));
      expect(rowTargets[context - 1]).toBe(PAD_ID);
      const maskedTargets = rowTargets.filter((_, t) => rowMask[t] === 1);
      expect(charTokenizer.decode(maskedTargets)).toBe(`${response}<eos>`);
      expect(rowMask.every((v) => v === 0 || v === 1)).toBe(true);
      const first = rowMask.indexOf(1);
      expect(first).toBe(encodePrompt(prompt, charTokenizer).length - 1); // predicts the first response token
      expect(rowMask.slice(first, first + response.length + 1).every((v) => v === 1)).toBe(true);
      expect(rowTokens[length - 1]).toBe(EOS_ID);
    }
    expect(sftBatch(examples, charTokenizer, 64, context, makeRng(9)).tokens).toEqual(tokens);
  });

  it("packs given examples in order and rejects ones longer than the context", () => {
    const packed = packSft([{ prompt: "what is 1+2?", response: "=3" }], charTokenizer, 20);
    // BOS + 12 prompt characters + 2 response characters + EOS = 16 tokens
    expect(packed.lengths[0]).toBe(16);
    expect(Array.from(packed.lossMask).map((v, t) => (v === 1 ? t : -1)).filter((t) => t >= 0)).toEqual([12, 13, 14]);
    expect(() => packSft([{ prompt: "what is 1+2?", response: "=3" }], charTokenizer, 15)).toThrow(/needs 16 tokens/);
  });
});

describe("preference pairs", () => {
  const { train, test } = preferenceDataset("default", 7);

  it("prefers the correct, well-formed answer to a wrong or malformed one", () => {
    const bad = [...train, ...test].filter((pair) => {
      const answer = { answer: answerOfPrompt(pair.prompt) };
      const chosen = checkAnswer(answer, pair.chosen);
      const rejected = checkAnswer(answer, pair.rejected);
      const rejectedAsKind =
        pair.rejectedKind === "malformed" ? !rejected.wellFormed : !rejected.correct && rejected.wellFormed;
      return pair.chosen !== `=${answer.answer}` || !(chosen.correct && chosen.wellFormed) ||
        (rejected.correct && rejected.wellFormed) || !rejectedAsKind;
    });
    expect(bad).toEqual([]);
    expect(train.length + test.length).toBe(4500);
    expect(new Set(train.map((p) => p.rejectedKind)).size).toBe(5);
  });

  it("keeps train and test prompts disjoint and is deterministic per seed", () => {
    const testPrompts = new Set(test.map((p) => p.prompt));
    expect(train.filter((p) => testPrompts.has(p.prompt))).toEqual([]);
    expect(preferenceDataset("default", 7).train).toEqual(train);
    const other = preferenceDataset("default", 8).train;
    expect(other.map((p) => p.prompt)).toEqual(train.map((p) => p.prompt));
    expect(other.filter((p, i) => p.rejected !== train[i].rejected).length).toBeGreaterThan(train.length / 2);
    const problems = problemSets.default.train;
    expect(preferencePairs([problems[10]], 7)[0]).toEqual(train[10]);
  });
});

describe("digit partial credit", () => {
  it("counts agreeing digit places from the units, over the longer number", () => {
    expect(digitCredit(42, 42)).toBe(1);
    expect(digitCredit(42, 47)).toBe(0.5);
    expect(digitCredit(42, 142)).toBeCloseTo(2 / 3, 12);
    expect(digitCredit(245, 45)).toBeCloseTo(2 / 3, 12);
    expect(digitCredit(42, -42)).toBe(0);
    expect(digitCredit(0, 0)).toBe(1);
    expect(digitCredit(42, null)).toBe(0);
  });

  it("adds weight × credit to the rule reward only when asked", () => {
    const p = makeProblem(17, "+", 25);
    expect(ruleReward(p, "=47<eos>")).toBeCloseTo(0.1, 12);
    expect(ruleReward(p, "=47<eos>", { correct: 1, format: 0.1, digits: 0.5 })).toBeCloseTo(0.1 + 0.25, 12);
    expect(ruleReward(p, "=42<eos>", { correct: 1, format: 0.1, digits: 0.5 })).toBeCloseTo(1.6, 12);
    expect(ruleReward(p, "no idea", { correct: 1, format: 0.1, digits: 0.5 })).toBe(0);
  });
});
