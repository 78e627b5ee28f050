/**
 * Tensors with named axes during lowering, and the layout moves between them. Transposes
 * merge runs of axes that stay adjacent, so a logical rank-6 permutation often runs as a
 * rank-2 or rank-3 one (rank ≥ 5 transposes are ~100× slower on wasm; see BACKENDS.md).
 */
import type { Edge } from "../dsl/edges.js";
import { tf } from "./backend.js";

/** A tfjs tensor whose axes are the named edges `edges`, in that order. */
export interface Named {
  readonly tensor: tf.Tensor;
  readonly edges: readonly Edge[];
  /**
   * Transposed copies already made, by axis order: a value feeding several contractions
   * (an activation used by the gradients of Wq, Wk and Wv) is transposed once. The plan owns
   * and frees these; they are kept out of tf.tidy.
   */
  readonly layouts?: Map<string, tf.Tensor>;
}

export const names = (edges: readonly Edge[]): string[] => edges.map((e) => e.name);
const sizeProduct = (edges: readonly Edge[]): number => edges.reduce((n, e) => n * e.size, 1);

/** `perm` on `shape` with axes that move together merged (size-1 axes dropped). */
function merge(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  const kept = perm.filter((p) => shape[p] !== 1);
  // Group runs of source axes that are consecutive in the target order.
  const groups: number[][] = [];
  for (const p of kept) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last[last.length - 1] + 1 === p) last.push(p);
    else groups.push([p]);
  }
  const bySource = [...groups].sort((a, b) => a[0] - b[0]);
  return { shape: bySource.map((g) => g.reduce((n, p) => n * shape[p], 1)), perm: groups.map((g) => bySource.indexOf(g)) };
}

/** Permutes `t` (shape `shape`) by `perm`, merging axes that move together. */
export function transposeMerged(t: tf.Tensor, shape: readonly number[], perm: readonly number[]): tf.Tensor {
  if (perm.every((p, i) => p === i)) return t;
  const merged = merge(shape, perm);
  const outShape = perm.map((p) => shape[p]);
  if (merged.perm.every((p, i) => p === i)) return tf.reshape(t, outShape);
  if (merged.shape.length === 2) return tf.reshape(transpose2d(t, merged.shape[0], merged.shape[1]), outShape);
  if (merged.shape.length <= 4) return tf.reshape(tf.transpose(tf.reshape(t, merged.shape), merged.perm), outShape);
  // Rank ≥ 5 after merging: two rank-≤4 transposes beat one rank-5 (see BACKENDS.md).
  const via = twoStepRoute(merged.shape, merged.perm);
  if (via === null) return tf.reshape(tf.transpose(tf.reshape(t, merged.shape), merged.perm), outShape);
  const middleShape = via.map((p) => merged.shape[p]);
  const second = merged.perm.map((p) => via.indexOf(p));
  const middle = transposeMerged(tf.reshape(t, merged.shape), merged.shape, via);
  return tf.reshape(transposeMerged(middle, middleShape, second), outShape);
}

const routes = new Map<string, number[] | null>();

/**
 * An intermediate order `via` such that source→via and via→target each merge to rank ≤ 4,
 * moving as little as possible in the first step; null when none exists. Cached by shape+perm.
 */
function twoStepRoute(shape: readonly number[], perm: readonly number[]): number[] | null {
  const key = `${shape.join(",")}|${perm.join(",")}`;
  if (routes.has(key)) return routes.get(key)!;
  let best: number[] | null = null;
  let bestRank = Infinity;
  for (const via of permutations(perm.length)) {
    const first = merge(shape, via);
    const second = merge(via.map((p) => shape[p]), perm.map((p) => via.indexOf(p)));
    if (first.shape.length > 4 || second.shape.length > 4) continue;
    const rank = first.shape.length + second.shape.length;
    if (rank < bestRank) {
      best = via;
      bestRank = rank;
    }
  }
  routes.set(key, best);
  return best;
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

/**
 * [r, c] → [c, r]. wasm's rank-2 transpose is ~3× slower than the same move written as a
 * rank-4 one ([r1, r2, c1, c2] → [c1, c2, r1, r2]), measured on [2048, 128] and [512, 512].
 */
function transpose2d(t: tf.Tensor, rows: number, cols: number): tf.Tensor {
  const split = (n: number): [number, number] | null => (n >= 32 && n % 2 === 0 ? [2, n / 2] : null);
  const r = split(rows);
  const c = split(cols);
  if (r === null || c === null) return tf.transpose(tf.reshape(t, [rows, cols]), [1, 0]);
  return tf.transpose(tf.reshape(t, [...r, ...c]), [2, 3, 0, 1]);
}

/** `x` with its axes in the order `order` (a permutation of its edge names). */
export function arrange(x: Named, order: readonly string[]): tf.Tensor {
  const from = names(x.edges);
  const perm = order.map((n) => from.indexOf(n));
  const key = order.join(",");
  const cached = x.layouts?.get(key);
  if (cached !== undefined) return cached;
  const t = transposeMerged(x.tensor, x.edges.map((e) => e.size), perm);
  if (x.layouts !== undefined && t.dataId !== x.tensor.dataId) x.layouts.set(key, tf.keep(t));
  return t;
}

/**
 * `x` laid out for broadcasting against `target` edges: its own edges in target order, with
 * size-1 axes where it lacks one.
 */
export function alignTo(x: Named, target: readonly Edge[]): tf.Tensor {
  const own = new Set(names(x.edges));
  const order = names(target).filter((n) => own.has(n));
  const t = arrange(x, order);
  if (order.length === target.length) return t;
  return tf.reshape(t, target.map((e) => (own.has(e.name) ? e.size : 1)));
}

/** Sums `x` over the named edges. */
export function sumOver(x: Named, edges: readonly string[]): Named {
  if (edges.length === 0) return x;
  const axes = edges.map((n) => names(x.edges).indexOf(n));
  return { tensor: tf.sum(x.tensor, axes), edges: x.edges.filter((e) => !edges.includes(e.name)) };
}

/** Reshape helper: the product of sizes of a group of edges (1 for none). */
export const groupSize = sizeProduct;
