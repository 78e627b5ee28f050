/**
 * compile: a set of expressions → one function of tf.Tensors. The plan (one step per node of
 * the shared expression graph, so common subexpressions run once) is built once and cached by
 * the outputs' node ids; each step runs in its own tf.tidy and intermediate tensors are
 * disposed as soon as their last consumer has run.
 */
import { type Edge, formatEdges } from "../dsl/edges.js";
import { RicciError } from "../dsl/errors.js";
import { type Expr, type Variable, childrenOf, topologicalOrder } from "../dsl/expr.js";
import { type InputValue, checkFinite, flatten, isTensorLike } from "../dsl/values.js";
import { checkVariables } from "../dsl/variables.js";
import { activeBackend, initBackend, tf } from "./backend.js";
import { contractAll } from "./contract.js";
import { applyElementwise } from "./elementwise.js";
import { type Named, alignTo, arrange, names } from "./layout.js";

export interface CompileOptions {
  /** Reject NaN/Inf in inputs (reads them back: slow). Default: RICCI_CHECK_NUMERICS=1. */
  readonly checkNumerics?: boolean;
}

/** Values by variable name: tf.Tensors, nested arrays or typed arrays in declared edge order. */
export type TensorInputs = Readonly<Record<string, InputValue | tf.Tensor>>;

export interface Compiled<K extends string> {
  /** Runs the plan: `const { loss, dW } = await step({ W, x })`. Outputs are owned by the caller. */
  (inputs: TensorInputs): Promise<Record<K, tf.Tensor>>;
  /** The same, synchronously (after `await initBackend()`). */
  runSync(inputs: TensorInputs): Record<K, tf.Tensor>;
  /** The variables the outputs depend on. */
  readonly variables: readonly Variable[];
  /** Number of steps (graph nodes) in the plan. */
  readonly steps: number;
}

type Values = Map<number, Named>;
type Step = (node: Expr, get: (e: Expr) => Named) => Named;

const cache = new Map<string, Compiled<string>>();

/** Lowers expressions to tfjs: `const step = compile({ loss, dW }); await step({ W, x })`. */
export function compile<K extends string>(outputs: Readonly<Record<K, Expr>>, options: CompileOptions = {}): Compiled<K> {
  const keys = Object.keys(outputs) as K[];
  if (keys.length === 0) throw new RicciError("compile: give at least one output expression, e.g. compile({ loss })");
  for (const k of keys) {
    const e = outputs[k] as unknown;
    if (typeof e !== "object" || e === null || typeof (e as Expr).kind !== "string") {
      throw new RicciError(`compile: output "${k}" is not a ricci expression`);
    }
  }
  const roots = keys.map((k) => outputs[k]);
  const checkNumerics = options.checkNumerics ?? process.env.RICCI_CHECK_NUMERICS === "1";
  const key = `${keys.map((k, i) => `${k}=${roots[i].id}`).join(";")}|${checkNumerics}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit as Compiled<K>;
  const compiled = buildPlan(keys, roots, checkNumerics);
  cache.set(key, compiled as Compiled<string>);
  return compiled;
}

function buildPlan<K extends string>(keys: readonly K[], roots: readonly Expr[], checkNumerics: boolean): Compiled<K> {
  const variables = [...checkVariables(roots).values()];
  const order = topologicalOrder(roots);
  const integerInputs = new Set(order.filter((n) => n.kind === "oneHot").map((n) => (n as { index: Expr }).index.id));
  // Uses of each node: by parents, plus one per output that returns it (those never drop to 0).
  const uses = new Map<number, number>();
  for (const node of order) for (const child of childrenOf(node)) uses.set(child.id, (uses.get(child.id) ?? 0) + 1);
  for (const r of roots) uses.set(r.id, (uses.get(r.id) ?? 0) + 1);

  const runSync = (inputs: TensorInputs): Record<K, tf.Tensor> => {
    if (activeBackend() === null) throw new RicciError("compile: no backend yet; `await initBackend()` first or call the async form");
    if (inputs === null || typeof inputs !== "object") throw new RicciError("compiled function: inputs must be an object of values by variable name");
    const values: Values = new Map();
    const owned = new Set<tf.Tensor>(); // tensors ricci created (and may dispose)
    const holders = new Map<tf.Tensor, number>();
    const remaining = new Map(uses);
    const hold = (t: tf.Tensor): void => void holders.set(t, (holders.get(t) ?? 0) + 1);
    const release = (node: Expr): void => {
      const left = remaining.get(node.id)! - 1;
      remaining.set(node.id, left);
      if (left > 0) return;
      const value = values.get(node.id)!;
      freeLayouts(value);
      const t = value.tensor;
      const h = holders.get(t)! - 1;
      holders.set(t, h);
      if (h === 0 && owned.has(t)) t.dispose();
    };
    try {
      for (const node of order) {
        let value: Named;
        if (node.kind === "variable") {
          value = { ...inputTensor(node, inputs[node.name], integerInputs.has(node.id), checkNumerics, owned), layouts: new Map() };
        } else {
          value = tf.tidy(() => {
            const v = (steps[node.kind] as Step)(node, (e) => values.get(e.id)!);
            return { tensor: v.tensor, edges: v.edges } as Named & tf.TensorContainerObject;
          }) as Named;
          value = { ...value, layouts: new Map() };
          if (!holders.has(value.tensor)) owned.add(value.tensor);
        }
        values.set(node.id, value);
        hold(value.tensor);
        for (const child of childrenOf(node)) release(child);
      }
      const result = {} as Record<K, tf.Tensor>;
      keys.forEach((k, i) => {
        const root = roots[i];
        const v = values.get(root.id)!;
        const plain: Named = { tensor: v.tensor, edges: v.edges }; // not the layout cache: outputs leave the plan
        const t = tf.tidy(() => arrange(materialize(plain, root.edges), names(root.edges)));
        // Hand the caller a tensor it may dispose without touching ricci's or its own inputs.
        result[k] = t === v.tensor && !owned.has(t) ? tf.clone(t) : t;
        owned.delete(result[k]);
      });
      return result;
    } finally {
      for (const v of values.values()) freeLayouts(v);
      for (const t of owned) if (!t.isDisposed) t.dispose();
    }
  };
  const run = async (inputs: TensorInputs): Promise<Record<K, tf.Tensor>> => {
    await initBackend();
    return runSync(inputs);
  };
  return Object.assign(run, { runSync, variables, steps: order.length });
}

function freeLayouts(v: Named): void {
  if (v.layouts === undefined) return;
  for (const t of v.layouts.values()) t.dispose();
  v.layouts.clear();
}

function inputTensor(v: Variable, value: InputValue | tf.Tensor | undefined, integer: boolean, checkNumerics: boolean, owned: Set<tf.Tensor>): Named {
  const shape = v.edges.map((e) => e.size);
  const dtype = integer ? "int32" : "float32";
  if (value instanceof tf.Tensor || (isTensorLike(value) && "dtype" in value)) {
    const t = value as tf.Tensor;
    const ok = t.shape.length === shape.length && t.shape.every((n, i) => n === shape[i]);
    if (!ok) throw new RicciError(`variable "${v.name}" with edges ${formatEdges(v.edges)} expects shape [${shape.join(", ")}], got a tensor of shape [${t.shape.join(", ")}]`);
    if (checkNumerics) checkFinite(v.name, v.edges, t.dataSync());
    if (t.dtype === dtype) return { tensor: t, edges: v.edges };
    const cast = tf.cast(t, dtype);
    owned.add(cast);
    return { tensor: cast, edges: v.edges };
  }
  const flat = flatten(v, value as InputValue | undefined);
  if (checkNumerics) checkFinite(v.name, v.edges, flat);
  const t = integer ? tf.tensor(Int32Array.from(flat), shape, "int32") : tf.tensor(Float32Array.from(flat), shape, "float32");
  owned.add(t);
  return { tensor: t, edges: v.edges };
}

/** A value with every edge of `edges` present (constants are kept as scalars until needed). */
function materialize(v: Named, edges: readonly Edge[]): Named {
  if (v.edges.length === edges.length) return v;
  return { tensor: tf.broadcastTo(alignTo(v, edges), edges.map((e) => e.size)), edges };
}

/** Edges of `node` that the present values carry, in the order of the largest of them. */
function presentEdges(node: Expr, values: readonly Named[]): Edge[] {
  const base = [...values].sort((a, b) => b.edges.length - a.edges.length)[0]?.edges ?? [];
  const present = node.edges.filter((e) => values.some((v) => v.edges.some((d) => d.name === e.name)));
  return [...base, ...present.filter((e) => !base.some((d) => d.name === e.name))];
}

function deltaTensor(edges: readonly Edge[]): tf.Tensor {
  const n = edges[0].size;
  const data = new Float32Array(edges.reduce((k, e) => k * e.size, 1));
  let stride = 0;
  for (let k = 0, s = 1; k < edges.length; k++, s *= n) stride += s;
  for (let i = 0; i < n; i++) data[i * stride] = 1;
  return tf.tensor(data, edges.map((e) => e.size));
}

/** One lowering rule per node kind. */
const steps: { [K in Exclude<Expr["kind"], "variable">]: (node: Extract<Expr, { kind: K }>, get: (e: Expr) => Named) => Named } = {
  constant: (node) => ({ tensor: tf.scalar(node.value), edges: [] }),
  delta: (node) => ({ tensor: deltaTensor(node.edges), edges: node.edges }),
  oneHot: (node, get) => {
    const index = materialize(get(node.index), node.index.edges);
    const t = tf.oneHot(tf.cast(index.tensor, "int32"), node.edge.size);
    return { tensor: tf.cast(t, "float32"), edges: [...index.edges, node.edge] };
  },
  product: (node, get) => {
    // Constants and values broadcast lazily (missing some of their edges) act like ones along
    // the missing edges: where no operand carries such an edge, summing it away multiplies by
    // its size and keeping it leaves the result broadcast (lazily) along it.
    let coefficient = 1;
    const operands: Named[] = [];
    for (const f of node.factors) {
      if (f.kind === "constant") coefficient *= f.value;
      else operands.push(get(f));
    }
    const carried = (name: string): boolean => operands.some((o) => o.edges.some((e) => e.name === name));
    const declared = new Map(node.factors.flatMap((f) => f.edges.map((e) => [e.name, e.size] as const)));
    for (const [name, size] of declared) if (!carried(name) && !node.edges.some((d) => d.name === name)) coefficient *= size;
    if (operands.length === 0) return { tensor: tf.scalar(coefficient), edges: [] };
    const out = names(node.edges).filter(carried);
    const result = contractAll(operands, out);
    return coefficient === 1 ? result : { tensor: tf.mul(result.tensor, tf.scalar(coefficient)), edges: result.edges };
  },
  sum: (node, get) => {
    const terms = node.terms.map(get);
    const target = presentEdges(node, terms);
    let acc: tf.Tensor | null = null;
    terms.forEach((t, k) => {
      const aligned = alignTo(t, target);
      const w = node.weights[k];
      const scaled = w === 1 ? aligned : tf.mul(aligned, tf.scalar(w));
      acc = acc === null ? scaled : tf.add(acc, scaled);
    });
    return { tensor: acc!, edges: target };
  },
  elementwise: (node, get) => {
    const args = node.args.map(get);
    const target = presentEdges(node, args);
    return { tensor: applyElementwise(node.fn, args.map((a) => alignTo(a, target)), node.param), edges: target };
  },
  edgeFunction: (node, get) => {
    const x = materialize(get(node.arg), node.arg.edges);
    const axis = names(x.edges).indexOf(node.edge);
    switch (node.fn) {
      case "logsumexp":
        return { tensor: tf.logSumExp(x.tensor, axis), edges: x.edges.filter((e) => e.name !== node.edge) };
      case "max":
        return { tensor: tf.max(x.tensor, axis), edges: x.edges.filter((e) => e.name !== node.edge) };
      case "softmax":
      case "logSoftmax": {
        // tfjs normalises along the last axis only: move the edge there.
        const edges = [...x.edges.filter((e) => e.name !== node.edge), x.edges[axis]];
        const t = arrange(x, names(edges));
        return { tensor: node.fn === "softmax" ? tf.softmax(t) : tf.logSoftmax(t), edges };
      }
    }
  },
  rename: (node, get) => {
    const v = get(node.arg);
    const map = new Map(node.mapping);
    return { tensor: v.tensor, edges: v.edges.map((e) => ({ name: map.get(e.name) ?? e.name, size: e.size })) };
  },
  stopGradient: (node, get) => get(node.arg),
};
