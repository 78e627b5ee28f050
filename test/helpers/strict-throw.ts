/**
 * A setup file of both vitest configs: `toThrow("message")` and `toThrow(/pattern/)` also require
 * that what is thrown is an Error.
 *
 * Chai's `throws`, which vitest's `toThrow` calls for a string or a pattern, checks the message
 * only when the thrown value is truthy: `expect(() => { throw undefined }).toThrow("no backend")`
 * passes. So a mutant that makes an error factory return nothing (`() => undefined`) passed every
 * test of its message (found by mutation testing: `float64Only` in src/lower/compile.ts).
 */
import { chai } from "vitest";

type Matcher = (this: Chai.AssertionStatic, expected?: unknown) => unknown;
/** What `thrown` holds until the subject throws (it may throw undefined or null). */
const NOTHING = Symbol("nothing thrown");

for (const name of ["toThrow", "toThrowError"]) {
  chai.util.overwriteMethod(chai.Assertion.prototype, name, (original: Matcher) =>
    function (this: Chai.AssertionStatic, expected?: unknown) {
      const subject: unknown = chai.util.flag(this, "object");
      const checksMessage = typeof expected === "string" || expected instanceof RegExp;
      if (!checksMessage || chai.util.flag(this, "negate") || chai.util.flag(this, "promise") || typeof subject !== "function") {
        return original.call(this, expected);
      }
      let thrown: unknown = NOTHING;
      chai.util.flag(this, "object", () => {
        try {
          return (subject as () => unknown)();
        } catch (error) {
          thrown = error;
          throw error;
        }
      });
      const result = original.call(this, expected);
      if (thrown !== NOTHING && !(thrown instanceof Error)) {
        throw new chai.AssertionError(`expected an Error whose message matches ${String(expected)}, but ${String(thrown)} was thrown`);
      }
      return result;
    },
  );
}
