import { describe, expect, it } from "vitest";
import { meanOf, stdOf } from "../src/util/stats.js";

describe("meanOf and stdOf", () => {
  it("take typed and plain arrays, and say NaN for no values", () => {
    expect(meanOf([1, 2, 3])).toBe(2);
    expect(meanOf(Float32Array.of(0.5, 1.5))).toBe(1);
    expect(meanOf([])).toBeNaN();
    expect(stdOf([1, 3])).toBe(1); // population: √(((1−2)² + (3−2)²) / 2)
    expect(stdOf([4, 4, 4])).toBe(0);
    expect(stdOf([])).toBeNaN();
  });
});
