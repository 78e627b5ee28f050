/** The one error type ricci throws for bad input; its message names the edges, sizes and names involved. */
export class RicciError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RicciError";
  }
}

/** Throws a RicciError unless `condition` holds. */
export function check(condition: unknown, message: () => string): asserts condition {
  if (!condition) throw new RicciError(message());
}
