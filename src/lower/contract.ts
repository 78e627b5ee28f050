/**
 * Lowering of products (einsums): a greedy pairwise contraction order, each pair emitted as
 * one 2-D matMul where the edges allow (batch-free), a batched matMul otherwise, or a
 * broadcast multiply in the larger operand's layout when nothing is summed. Operands are
 * transposed explicitly (never matMul's transpose flags, 10–15× slower on wasm) and the
 * orientation needing the least transposition is chosen. Written against TensorOps, so every lowering target gets the same
 * plan; tfjs callers run it inside tf.tidy, which frees the temporaries.
 */
import type { Edge } from "../dsl/edges.js";
import { type Named, alignTo, arrange, groupSize, names, sumOver } from "./layout.js";
import type { TensorOps } from "./ops.js";

const has = (edges: readonly Edge[], name: string): boolean => edges.some((e) => e.name === name);

/** The product of `operands`, keeping the edges named in `out` (in any order) and summing the rest. */
export function contractAll<T>(ops: TensorOps<T>, operands: readonly Named<T>[], out: readonly string[]): Named<T> {
  let live = [...operands];
  const neededOutside = (edge: string, skip: readonly number[]): boolean =>
    out.includes(edge) || live.some((o, k) => !skip.includes(k) && has(o.edges, edge));
  while (live.length > 1) {
    const [i, j] = choosePair(live, neededOutside);
    const keep = [...live[i].edges, ...live[j].edges].filter((e, k, all) => neededOutside(e.name, [i, j]) && all.findIndex((f) => f.name === e.name) === k);
    // The last pair may lay its result out in the product's own edge order (see contractPair).
    const result = contractPair(ops, live[i], live[j], names(keep), live.length === 2 ? out : undefined);
    live = [...live.filter((_, k) => k !== i && k !== j), result];
  }
  return sumOver(ops, live[0], names(live[0].edges).filter((n) => !out.includes(n)));
}

/** Greedy choice (as opt_einsum's "greedy"): the pair whose contraction shrinks memory most. */
function choosePair<T>(ops: readonly Named<T>[], neededOutside: (edge: string, skip: readonly number[]) => boolean): [number, number] {
  let best: [number, number] = [0, 1];
  let bestCost = Infinity;
  for (let i = 0; i < ops.length; i++) {
    for (let j = i + 1; j < ops.length; j++) {
      const shares = ops[i].edges.some((e) => has(ops[j].edges, e.name));
      const union = [...ops[i].edges, ...ops[j].edges.filter((e) => !has(ops[i].edges, e.name))];
      const kept = union.filter((e) => neededOutside(e.name, [i, j]));
      const cost = groupSize(kept) - groupSize(ops[i].edges) - groupSize(ops[j].edges) + (shares ? 0 : 1e15);
      if (cost < bestCost) {
        bestCost = cost;
        best = [i, j];
      }
    }
  }
  return best;
}

function needsMove<T>(x: Named<T>, order: readonly string[]): boolean {
  const current = x.edges.filter((e) => e.size !== 1).map((e) => e.name);
  const wanted = order.filter((n) => x.edges.find((e) => e.name === n)!.size !== 1);
  return current.some((n, k) => n !== wanted[k]);
}

/**
 * a·b summed over their shared edges not in `keep`; edges of one operand only, not kept, are
 * summed first. `order`, the product's own edge order, lays out an outer product's result.
 */
export function contractPair<T>(ops: TensorOps<T>, a0: Named<T>, b0: Named<T>, keep: readonly string[], order?: readonly string[]): Named<T> {
  const a = sumOver(ops, a0, names(a0.edges).filter((n) => !keep.includes(n) && !has(b0.edges, n)));
  const b = sumOver(ops, b0, names(b0.edges).filter((n) => !keep.includes(n) && !has(a0.edges, n)));
  const arrangeAs = (x: Named<T>, layout: readonly Edge[]): T => arrange(ops, x, names(layout));
  const larger = groupSize(a.edges) >= groupSize(b.edges) ? a : b;
  const shared = larger.edges.filter((e) => has(a.edges, e.name) && has(b.edges, e.name));
  const batch = shared.filter((e) => keep.includes(e.name));
  const contracted = shared.filter((e) => !keep.includes(e.name));
  const freeOf = (x: Named<T>): Edge[] => x.edges.filter((e) => !shared.some((s) => s.name === e.name));
  const Bt = groupSize(batch);
  if (contracted.length === 0) {
    // Nothing summed: the larger operand stays where it is and the smaller one broadcasts against
    // it (measured on the GPT step: 27% faster on ONNX Runtime, whose transposes of rank-5 cache
    // layouts dominated, and ~5% on wasm, than laying both out as [batch, a, 1]·[batch, 1, b]).
    // An outer product (each side has edges the other lacks) writes a result larger than both
    // operands; it is laid out in the product's own edge order when that is given (a KV-cache
    // write w ⊗ k lands in the cache's layout, not in one that then has to be transposed).
    const [big, small] = groupSize(a.edges) >= groupSize(b.edges) ? [a, b] : [b, a];
    const extra = small.edges.filter((e) => !has(big.edges, e.name));
    const outer = extra.length > 0 && big.edges.some((e) => !has(small.edges, e.name));
    const all = [...big.edges, ...extra];
    const ordered = order?.length === all.length && all.every((e) => order.includes(e.name));
    if (outer && ordered) {
      const edges = order.map((n) => all.find((e) => e.name === n)!);
      return { tensor: ops.binary("mul", alignTo(ops, big, edges), alignTo(ops, small, edges)), edges };
    }
    const edges = all;
    const bigT = extra.length === 0 ? big.tensor : ops.reshape(big.tensor, edges.map((e) => (has(big.edges, e.name) ? e.size : 1)));
    return { tensor: ops.binary("mul", bigT, alignTo(ops, small, edges)), edges };
  }
  // Orientation: left is laid out [batch, free, contracted], right [batch, contracted, free].
  const cost = (l: Named<T>, r: Named<T>): number =>
    (needsMove(l, names([...batch, ...freeOf(l), ...contracted])) ? groupSize(l.edges) : 0) +
    (needsMove(r, names([...batch, ...contracted, ...freeOf(r)])) ? groupSize(r.edges) : 0);
  const [left, right] = cost(a, b) <= cost(b, a) ? [a, b] : [b, a];
  const lf = freeOf(left);
  const rf = freeOf(right);
  const C = groupSize(contracted);
  const edges = [...batch, ...lf, ...rf];
  const shape = edges.map((e) => e.size);
  const l = arrangeAs(left, [...batch, ...lf, ...contracted]);
  const r = arrangeAs(right, [...batch, ...contracted, ...rf]);
  if (batch.length === 0) {
    return { tensor: ops.reshape(ops.matMul(ops.reshape(l, [groupSize(lf), C]), ops.reshape(r, [C, groupSize(rf)])), shape), edges };
  }
  if (lf.length === 0 && rf.length === 0) {
    // A batched dot product: multiply and sum beats a batched matMul of 1×C by C×1.
    return { tensor: ops.reshape(ops.sum(ops.binary("mul", ops.reshape(l, [Bt, C]), ops.reshape(r, [Bt, C])), [1]), shape), edges };
  }
  return { tensor: ops.reshape(ops.matMul(ops.reshape(l, [Bt, groupSize(lf), C]), ops.reshape(r, [Bt, C, groupSize(rf)])), shape), edges };
}
