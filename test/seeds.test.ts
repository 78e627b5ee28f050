/** Statistics over seeds (src/pipeline/seeds.ts): the t-interval of a mean and the paired bootstrap interval of a gain. */
import { describe, expect, it } from "vitest";
import { meanInterval, pairedGain } from "../src/pipeline/seeds.js";

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
