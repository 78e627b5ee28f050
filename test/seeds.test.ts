/** Statistics over seeds (src/pipeline/seeds.ts): the t-interval of a mean and the paired bootstrap interval of a gain. */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeLabels } from "../src/pipeline/report.js";
import { meanInterval, pairedGain, writeSeedsReport } from "../src/pipeline/seeds.js";

describe("intervals over seeds", () => {
  it("give the mean and its 95% t-interval", () => {
    const { mean, halfWidth } = meanInterval([1, 2, 3]);
    expect(mean).toBe(2);
    expect(halfWidth).toBeCloseTo(4.303 / Math.sqrt(3), 6); // sd 1, t(2) = 4.303
    expect(Number.isNaN(meanInterval([0.5]).halfWidth)).toBe(true);
    expect(() => meanInterval([])).toThrow(/no values/);
  });

  it("pair the problems: a uniform gain is exact, no change is zero, a mixed one is bracketed", () => {
    expect(pairedGain(["0000", "0000"], ["1111", "1111"])).toEqual({ gain: 1, low: 1, high: 1 });
    const mixed = pairedGain(["0000", "0101"], ["1111", "1111"]); // gains 1 and 0.5 per seed
    expect(mixed.gain).toBe(0.75);
    expect(mixed.high).toBe(1);
    expect(mixed.low).toBeGreaterThanOrEqual(0);
    expect(mixed.low).toBeLessThan(0.75);
    expect(pairedGain(["0110", "1001"], ["0110", "1001"])).toEqual({ gain: 0, low: 0, high: 0 });
    // 500 problems, 60 more right after than before and 20 fewer: +8 points, the interval excludes 0.
    const before = "1".repeat(200) + "0".repeat(300);
    const after = "0".repeat(20) + "1".repeat(180) + "1".repeat(60) + "0".repeat(240);
    const g = pairedGain([before, before], [after, after]);
    expect(g.gain).toBeCloseTo(0.08, 12);
    expect(g.low).toBeGreaterThan(0.04);
    expect(g.high).toBeLessThan(0.12);
    expect(g.low).toBeLessThan(g.gain);
    expect(() => pairedGain(["01"], ["011"])).toThrow(/seed 0 has 2 problems before and 3 after/);
  });
});

describe("label budgets in the reports", () => {
  it("say what each stage trained on", () => {
    expect(describeLabels({ goldAnswers: 1000, verifierCalls: 0, preferencePairs: 0 })).toBe("1,000 gold answers");
    expect(describeLabels({ goldAnswers: 0, verifierCalls: 40000, preferencePairs: 3129 })).toBe("40,000 verifier calls → 3,129 pairs");
    expect(describeLabels({ goldAnswers: 0, verifierCalls: 0, preferencePairs: 0 })).toBe("none");
    expect(describeLabels(undefined)).toBe("–");
  });

  it("the seeds report has a labels column and the reward model's label budget", () => {
    const root = mkdtempSync(join(tmpdir(), "ricci-seeds-"));
    const run = (sft: string, dpo: string) => [
      { stage: "sft", summary: { testAccuracy: 0.5, testCorrect: sft, labels: { goldAnswers: 1000, verifierCalls: 0, preferencePairs: 0 } } },
      { stage: "rm", summary: { testPairwiseAccuracy: 0.8, testConstructedPairwiseAccuracy: 0.9, labels: { goldAnswers: 0, verifierCalls: 40000, preferencePairs: 3000 } } },
      { stage: "dpo", summary: { testAccuracy: 0.75, testCorrect: dpo, labels: { goldAnswers: 0, verifierCalls: 40000, preferencePairs: 3000 } } },
    ];
    const path = writeSeedsReport(root, "ci", [0, 1], [run("0101", "1101"), run("0011", "1011")]);
    const text = readFileSync(path, "utf8");
    expect(text).toMatch(/\| sft \| 50\.0 ± 0\.0 \| 50\.0, 50\.0 \| – \| 1,000 gold answers \|/);
    expect(text).toMatch(/\| dpo \| 75\.0 ± 0\.0 \| 75\.0, 75\.0 \| \+25\.0 \[[^\]]*\] \| 40,000 verifier calls → 3,000 pairs \|/);
    expect(text).toContain("Reward model (40,000 verifier calls → 3,000 pairs), test pairwise accuracy: 80.0%");
    expect(text).toContain("constructed from gold answers (plausible mistakes): 90.0%");
    expect(text).not.toContain("TRPO's largest");
  });

  it("states TRPO's largest proposed-step KL per seed against δ, in a file of the caller's choosing", () => {
    const root = mkdtempSync(join(tmpdir(), "ricci-seeds-"));
    const run = (maxStepKl: number) => [
      { stage: "sft", summary: { testAccuracy: 0.5, testCorrect: "01" } },
      { stage: "trpo", summary: { testAccuracy: 0.5, testCorrect: "10", maxStepKl, klBound: 0.001 } },
    ];
    const path = writeSeedsReport(root, "full", [0, 1], [run(0.0012), run(0.0009)], "seeds-trpo.md");
    expect(path).toBe(join(root, "full", "seeds-trpo.md"));
    expect(readFileSync(path, "utf8")).toContain("TRPO's largest proposed-step KL (the full step, accepted or not) per seed: 1.20δ, 0.90δ (δ = 0.001; the check is ≤ 1.5δ).");
  });
});
