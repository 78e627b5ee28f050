/**
 * The summary statistics the trainers log and the stages report, in one place.
 */

/** The mean of `values`, NaN when there are none: `meanOf([1, 2, 3])` = 2. */
export function meanOf(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return values.length === 0 ? Number.NaN : sum / values.length;
}

/** The population standard deviation of `values` (NaN when there are none): `stdOf([1, 3])` = 1. */
export function stdOf(values: ArrayLike<number>): number {
  const m = meanOf(values);
  return Math.sqrt(meanOf(Array.from(values, (v) => (v - m) ** 2)));
}
