/** Float64 tensors with named edges and the few kernels the reference evaluator needs. */
import { type Edge, findEdge, volume } from "../dsl/edges.js";

export interface Tensor64 {
  readonly edges: readonly Edge[];
  readonly data: Float64Array;
}

/** Row-major strides of `edges`, keyed by name. */
function stridesOf(edges: readonly Edge[]): Map<string, number> {
  const strides = new Map<string, number>();
  let s = 1;
  for (let k = edges.length - 1; k >= 0; k--) {
    strides.set(edges[k].name, s);
    s *= edges[k].size;
  }
  return strides;
}

/**
 * Visits every index of `space` (row-major), calling `visit` with the offsets it maps to in
 * each operand (strides per operand; a missing edge has stride 0, i.e. broadcasts).
 */
function forEachIndex(space: readonly Edge[], operandStrides: readonly Map<string, number>[], visit: (offsets: Int32Array) => void): void {
  const n = space.length;
  const strides = operandStrides.map((s) => space.map((e) => s.get(e.name) ?? 0));
  const offsets = new Int32Array(operandStrides.length);
  const counter = new Int32Array(n);
  const total = volume(space);
  for (let flat = 0; flat < total; flat++) {
    visit(offsets);
    for (let k = n - 1; k >= 0; k--) {
      counter[k]++;
      for (let o = 0; o < strides.length; o++) offsets[o] += strides[o][k];
      if (counter[k] < space[k].size) break;
      for (let o = 0; o < strides.length; o++) offsets[o] -= strides[o][k] * space[k].size;
      counter[k] = 0;
    }
  }
}

/** Σ over the edges of a and b not in `out` of a·b, laid out in `out` order. */
export function contract(a: Tensor64, b: Tensor64, out: readonly Edge[]): Tensor64 {
  const summed: Edge[] = [];
  for (const e of [...a.edges, ...b.edges]) {
    if (!findEdge(out, e.name) && !findEdge(summed, e.name)) summed.push(e);
  }
  const data = new Float64Array(volume(out));
  const outStrides = stridesOf(out);
  forEachIndex([...out, ...summed], [stridesOf(a.edges), stridesOf(b.edges), outStrides], (o) => {
    data[o[2]] += a.data[o[0]] * b.data[o[1]];
  });
  return { edges: out, data };
}

/** Σ over the edges of a not in `out`, laid out in `out` order (also a transpose). */
export function reduceTo(a: Tensor64, out: readonly Edge[]): Tensor64 {
  const data = new Float64Array(volume(out));
  forEachIndex(a.edges, [stridesOf(a.edges), stridesOf(out)], (o) => {
    data[o[1]] += a.data[o[0]];
  });
  return { edges: out, data };
}

/** `a` broadcast (by edge name) to `out`, which holds every edge of a. */
export function broadcastTo(a: Tensor64, out: readonly Edge[]): Tensor64 {
  const data = new Float64Array(volume(out));
  forEachIndex(out, [stridesOf(a.edges), stridesOf(out)], (o) => {
    data[o[1]] = a.data[o[0]];
  });
  return { edges: out, data };
}

/** f applied entrywise to operands broadcast to `out`. */
export function zipWith(operands: readonly Tensor64[], out: readonly Edge[], f: (xs: Float64Array) => number): Tensor64 {
  const data = new Float64Array(volume(out));
  const xs = new Float64Array(operands.length);
  const strides = [...operands.map((t) => stridesOf(t.edges)), stridesOf(out)];
  forEachIndex(out, strides, (o) => {
    for (let k = 0; k < operands.length; k++) xs[k] = operands[k].data[o[k]];
    data[o[operands.length]] = f(xs);
  });
  return { edges: out, data };
}

/**
 * Applies `f` to every fibre along `edge`: f reads `row` (length = the edge's size) and writes
 * its result into `result` (same length, or length 1 when the edge is removed).
 */
export function alongEdge(a: Tensor64, edge: string, keep: boolean, f: (row: Float64Array, result: Float64Array) => void): Tensor64 {
  const e = findEdge(a.edges, edge)!;
  const others = a.edges.filter((d) => d.name !== edge);
  const moved = reduceTo(a, [...others, e]); // edge last: fibres are contiguous
  const n = e.size;
  const rows = volume(others);
  const width = keep ? n : 1;
  const out = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) f(moved.data.subarray(r * n, r * n + n), out.subarray(r * width, r * width + width));
  const result: Tensor64 = { edges: keep ? [...others, e] : others, data: out };
  return keep ? reduceTo(result, a.edges) : result;
}
