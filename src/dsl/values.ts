/**
 * Input values at the boundary: nested arrays, typed arrays (row-major) or tensors with
 * `shape` and `dataSync()` (tf.Tensor), given in the axis order of a variable's declared edges.
 */
import { type Edge, formatEdges, volume } from "./edges.js";
import { RicciError } from "../errors.js";
import type { Variable } from "./expr.js";

export type NestedArray = number | readonly NestedArray[];
/** What evaluate/compile accept for one variable. */
export type InputValue = NestedArray | Float64Array | Float32Array | Int32Array | TensorLike;

export interface TensorLike {
  readonly shape: readonly number[];
  dataSync(): ArrayLike<number>;
}

export function isTensorLike(v: unknown): v is TensorLike {
  return typeof v === "object" && v !== null && Array.isArray((v as TensorLike).shape) && typeof (v as TensorLike).dataSync === "function";
}

function shapeOfNested(v: NestedArray): number[] {
  const shape: number[] = [];
  let cur: NestedArray = v;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = (cur as readonly NestedArray[])[0];
  }
  return shape;
}

const shapeText = (shape: readonly number[]): string => `[${shape.join(", ")}]`;

/** Throws unless a typed array of `length` entries fits variable `v`. */
export function checkLength(v: Variable, length: number): void {
  if (length === volume(v.edges)) return;
  const where = `variable "${v.name}" with edges ${formatEdges(v.edges)}`;
  throw new RicciError(`${where} expects ${volume(v.edges)} entries (shape ${shapeText(v.edges.map((e) => e.size))}), got a typed array of length ${length}`);
}

/** Throws unless a tensor of shape `shape` fits variable `v` (a compiled function's input). */
export function checkTensorShape(v: Variable, shape: readonly number[]): void {
  const expected = v.edges.map((e) => e.size);
  if (shape.length === expected.length && shape.every((n, i) => n === expected[i])) return;
  throw new RicciError(`variable "${v.name}" with edges ${formatEdges(v.edges)} expects shape ${shapeText(expected)}, got a tensor of shape ${shapeText(shape)}`);
}

/** The value of `v` as row-major float64 entries, checked against its declared edges. */
export function flatten(v: Variable, value: InputValue | undefined): Float64Array {
  const expected = v.edges.map((e) => e.size);
  const where = `variable "${v.name}" with edges ${formatEdges(v.edges)}`;
  if (value === undefined || value === null) {
    throw new RicciError(`missing value for ${where}`);
  }
  if (typeof value === "number") {
    if (v.edges.length !== 0) throw new RicciError(`${where} expects shape ${shapeText(expected)}, got a number`);
    return Float64Array.of(value);
  }
  if (isTensorLike(value)) {
    checkShape(value.shape, expected, where);
    return Float64Array.from(value.dataSync());
  }
  if (ArrayBuffer.isView(value)) {
    const flat = value as Float64Array | Float32Array | Int32Array;
    checkLength(v, flat.length);
    return Float64Array.from(flat);
  }
  if (Array.isArray(value)) {
    checkShape(shapeOfNested(value), expected, where);
    const out = new Float64Array(volume(v.edges));
    let i = 0;
    const walk = (x: NestedArray, depth: number): void => {
      if (depth === expected.length) {
        if (typeof x !== "number") throw new RicciError(`${where}: nested array is ragged or holds a non-number`);
        out[i++] = x;
        return;
      }
      if (!Array.isArray(x) || x.length !== expected[depth]) {
        throw new RicciError(`${where}: nested array is ragged at depth ${depth} (expected length ${expected[depth]})`);
      }
      for (const y of x as readonly NestedArray[]) walk(y, depth + 1);
    };
    walk(value, 0);
    return out;
  }
  throw new RicciError(`${where}: unsupported value of type ${typeof value}`);
}

function checkShape(got: readonly number[], expected: readonly number[], where: string): void {
  if (got.length !== expected.length || got.some((n, i) => n !== expected[i])) {
    throw new RicciError(`${where} expects shape ${shapeText(expected)}, got shape ${shapeText(got)}`);
  }
}

/** Throws if any entry is NaN or ±Inf, naming the variable and the first bad position. */
export function checkFinite(name: string, edges: readonly Edge[], data: ArrayLike<number>): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      const index: string[] = [];
      let rest = i;
      for (let k = edges.length - 1; k >= 0; k--) {
        index.unshift(`${edges[k].name}=${rest % edges[k].size}`);
        rest = Math.floor(rest / edges[k].size);
      }
      throw new RicciError(`variable "${name}" holds ${data[i]} at {${index.join(", ")}} (edges ${formatEdges(edges)}); inputs must be finite`);
    }
  }
}
