/**
 * compile: a set of expressions → one function of tf.Tensors. The plan (one step per node of
 * the shared expression graph, so common subexpressions run once) is built once and cached by
 * the outputs' node ids; each step runs in its own tf.tidy and intermediate tensors are
 * disposed as soon as their last consumer has run.
 */
import { formatEdges } from "../dsl/edges.js";
import { RicciError } from "../dsl/errors.js";
import { type Expr, type Variable, childrenOf, topologicalOrder } from "../dsl/expr.js";
import { type InputValue, checkFinite, flatten, isTensorLike } from "../dsl/values.js";
import { checkVariables } from "../dsl/variables.js";
import { activeBackend, initBackend, tf } from "./backend.js";
import type { Named as NamedOf } from "./layout.js";
import { asOutput, lowerNode } from "./plan.js";
import { tfjsOps } from "./tfjsOps.js";

type Named = NamedOf<tf.Tensor>;

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
            const v = lowerNode(tfjsOps, node, (e) => values.get(e.id)!);
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
        const t = tf.tidy(() => asOutput(tfjsOps, v, root)); // not through the layout cache: outputs leave the plan
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
