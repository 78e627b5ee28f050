/**
 * Tensors with named axes during lowering, and the layout moves between them, for any
 * lowering target. Transposes merge runs of axes that stay adjacent, so a logical rank-6
 * permutation often runs as a rank-2 or rank-3 one (rank ≥ 5 transposes are ~100× slower on
 * wasm; see BACKENDS.md).
 */
import type { Edge } from "../dsl/edges.js";
import type { TensorOps } from "./ops.js";

/** A tensor of a lowering target (`T`) whose axes are the named edges `edges`, in that order. */
export interface Named<T> {
  readonly tensor: T;
  readonly edges: readonly Edge[];
  /**
   * Transposed copies already made, by axis order: a value feeding several contractions
   * (an activation used by the gradients of Wq, Wk and Wv) is transposed once. The plan owns
   * and frees these; they are kept out of tf.tidy.
   */
  readonly layouts?: Map<string, T>;
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
export function transposeMerged<T>(ops: TensorOps<T>, t: T, shape: readonly number[], perm: readonly number[]): T {
  if (perm.every((p, i) => p === i)) return t;
  const merged = merge(shape, perm);
  const outShape = perm.map((p) => shape[p]);
  if (merged.perm.every((p, i) => p === i)) return ops.reshape(t, outShape);
  const direct = (): T => ops.reshape(ops.transpose(ops.reshape(t, merged.shape), merged.perm), outShape);
  if (merged.shape.length <= ops.fastTransposeRank) return direct();
  // Rank ≥ 5 after merging on wasm: two rank-≤4 transposes beat one rank-5 (see BACKENDS.md).
  const via = twoStepRoute(merged.shape, merged.perm, ops.fastTransposeRank);
  if (via === null) return direct();
  const middleShape = via.map((p) => merged.shape[p]);
  const second = merged.perm.map((p) => via.indexOf(p));
  const middle = transposeMerged(ops, ops.reshape(t, merged.shape), merged.shape, via);
  return ops.reshape(transposeMerged(ops, middle, middleShape, second), outShape);
}

const routes = new Map<string, number[] | null>();

/** Empties the memo of `twoStepRoute` (see `clearCompiled`). */
export function forgetRoutes(): void {
  routes.clear();
}

/**
 * An intermediate order `via` such that source→via and via→target each merge to rank ≤
 * `maxRank`, moving as little as possible in the first step; null when none exists. Cached.
 */
function twoStepRoute(shape: readonly number[], perm: readonly number[], maxRank: number): number[] | null {
  const key = `${shape.join(",")}|${perm.join(",")}|${maxRank}`;
  if (routes.has(key)) return routes.get(key)!;
  let best: number[] | null = null;
  let bestRank = Infinity;
  for (const via of permutations(perm.length)) {
    const first = merge(shape, via);
    const second = merge(via.map((p) => shape[p]), perm.map((p) => via.indexOf(p)));
    if (first.shape.length > maxRank || second.shape.length > maxRank) continue;
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

/** `x` with its axes in the order `order` (a permutation of its edge names). */
export function arrange<T>(ops: TensorOps<T>, x: Named<T>, order: readonly string[]): T {
  const from = names(x.edges);
  const perm = order.map((n) => from.indexOf(n));
  const key = order.join(",");
  const cached = x.layouts?.get(key);
  if (cached !== undefined) return cached;
  const t = transposeMerged(ops, x.tensor, x.edges.map((e) => e.size), perm);
  if (x.layouts !== undefined && !ops.same(t, x.tensor)) x.layouts.set(key, ops.keep(t));
  return t;
}

/**
 * `x` laid out for broadcasting against `target` edges: its own edges in target order, with
 * size-1 axes where it lacks one.
 */
export function alignTo<T>(ops: TensorOps<T>, x: Named<T>, target: readonly Edge[]): T {
  const own = new Set(names(x.edges));
  const order = names(target).filter((n) => own.has(n));
  const t = arrange(ops, x, order);
  if (order.length === target.length) return t;
  return ops.reshape(t, target.map((e) => (own.has(e.name) ? e.size : 1)));
}

/** Sums `x` over the named edges. */
export function sumOver<T>(ops: TensorOps<T>, x: Named<T>, edges: readonly string[]): Named<T> {
  if (edges.length === 0) return x;
  const axes = edges.map((n) => names(x.edges).indexOf(n));
  return { tensor: ops.sum(x.tensor, axes), edges: x.edges.filter((e) => !edges.includes(e.name)) };
}

/** Reshape helper: the product of sizes of a group of edges (1 for none). */
export const groupSize = sizeProduct;
