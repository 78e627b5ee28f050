/**
 * Input values at the boundary (src/dsl/values.ts): what evaluate and compile accept for a
 * variable — a number for a scalar, nested arrays, typed arrays, tensors — and the error each
 * misfit gets, naming the variable, its edges and the shapes.
 */
import { describe, expect, it } from "vitest";
import { variable } from "../src/dsl/build.js";
import { checkLength, checkTensorShape, flatten, isTensorLike } from "../src/dsl/values.js";
import { RicciError } from "../src/errors.js";

const x = variable("x", { a: 2, b: 3 });
const scalar = variable("s", {});
const tensor = (shape: number[], data: number[]) => ({ shape, dataSync: () => Float32Array.from(data) });

describe("values that fit", () => {
  it("a number for a scalar variable, nested arrays, typed arrays and tensors, row-major", () => {
    expect(Array.from(flatten(scalar, 3))).toEqual([3]);
    expect(Array.from(flatten(x, [[1, 2, 3], [4, 5, 6]]))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(flatten(x, Int32Array.of(1, 2, 3, 4, 5, 6)))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(flatten(x, tensor([2, 3], [6, 5, 4, 3, 2, 1])))).toEqual([6, 5, 4, 3, 2, 1]);
  });

  it("a tensor is an object with an array shape and a dataSync function", () => {
    expect(isTensorLike(tensor([2], [1, 2]))).toBe(true);
    expect(isTensorLike(null)).toBe(false);
    expect(isTensorLike({ shape: [2], dataSync: [1, 2] })).toBe(false);
    expect(isTensorLike({ shape: 2, dataSync: () => [1, 2] })).toBe(false);
  });
});

describe("values that do not fit, each with an error naming the variable", () => {
  const where = 'variable "x" with edges {a: 2, b: 3}';
  const rejects = (value: unknown, message: string): void => {
    expect(() => flatten(x, value as never)).toThrow(RicciError);
    expect(() => flatten(x, value as never)).toThrow(message);
  };

  it("a missing value", () => {
    rejects(undefined, `missing value for ${where}`);
    rejects(null, `missing value for ${where}`);
  });

  it("a number for a variable with edges", () => {
    rejects(4, `${where} expects shape [2, 3], got a number`);
  });

  it("nested arrays of another shape, ragged ones, and non-numbers inside", () => {
    rejects([[1, 2], [3, 4]], `${where} expects shape [2, 3], got shape [2, 2]`);
    rejects([1, 2], `${where} expects shape [2, 3], got shape [2]`);
    rejects([[1, 2, 3], [4, 5]], `${where}: nested array is ragged at depth 1 (expected length 3)`);
    rejects([[1, 2, "three"], [4, 5, 6]], `${where}: nested array is ragged or holds a non-number`);
    const deeper = variable("y", { a: 2, b: 3, c: 1 });
    expect(() => flatten(deeper, [[1, 2, 3], [4, 5, 6]])).toThrow('variable "y" with edges {a: 2, b: 3, c: 1} expects shape [2, 3, 1], got shape [2, 3]');
  });

  it("a typed array of another length, and a tensor of another shape", () => {
    rejects(Float64Array.of(1, 2, 3, 4, 5), `${where} expects 6 entries (shape [2, 3]), got a typed array of length 5`);
    expect(() => checkLength(x, 7)).toThrow("got a typed array of length 7");
    rejects(tensor([3, 2], [1, 2, 3, 4, 5, 6]), `${where} expects shape [2, 3], got shape [3, 2]`);
    expect(() => checkTensorShape(x, [2])).toThrow(`${where} expects shape [2, 3], got a tensor of shape [2]`);
    expect(() => checkTensorShape(x, [2, 3, 1])).toThrow("got a tensor of shape [2, 3, 1]");
    expect(() => checkTensorShape(x, [2, 3])).not.toThrow();
  });

  it("values of other types", () => {
    rejects("abc", `${where}: unsupported value of type string`);
    rejects({ shape: [2, 3], dataSync: "not a function" }, `${where}: unsupported value of type object`);
  });
});
