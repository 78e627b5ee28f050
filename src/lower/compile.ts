/**
 * compile: a set of expressions → one function. The plan (one step per node of the shared
 * expression graph, so common subexpressions run once) is built once and cached by the outputs'
 * node ids, and runs on the active backend: on ONNX Runtime as one traced graph (one native call
 * per run, see onnx/compile.ts); on tfjs eagerly, each step in its own tf.tidy, intermediate
 * tensors disposed as soon as their last consumer has run.
 */
import { RicciError } from "../errors.js";
import { type Expr, type Variable, childrenOf, topologicalOrder } from "../dsl/expr.js";
import { type InputValue, checkFinite, checkTensorShape, flatten, isTensorLike } from "../dsl/values.js";
import { checkVariables } from "../dsl/variables.js";
import { activeBackend, hostTensor, initBackend, onnxRuntime, tf } from "./backend.js";
import { type Named as NamedOf, forgetRoutes } from "./layout.js";
import type { FloatType } from "./onnx/graph.js";
import { type OnnxPlan, onnxPlan, rememberHostData } from "./onnx/compile.js";
import { asOutput, lowerNode } from "./plan.js";
import { tfjsOps } from "./tfjsOps.js";

type Named = NamedOf<tf.Tensor>;

export interface CompileOptions {
  /** Reject NaN/Inf in inputs (reads them back: slow). Default: RICCI_CHECK_NUMERICS=1. */
  readonly checkNumerics?: boolean;
  /**
   * The compute dtype. "float64" runs on the onnx backend only, and its outputs are read with
   * `runArrays` (tf.Tensors are float32). Default "float32".
   */
  readonly dtype?: FloatType;
}

/** An output read back as plain data: like `evaluate`'s result, in the expression's edge order. */
export interface ArrayOutput {
  readonly edges: readonly string[];
  readonly shape: readonly number[];
  readonly data: Float32Array | Float64Array;
}

/** Values by variable name: tf.Tensors, nested arrays or typed arrays in declared edge order. */
export type TensorInputs = Readonly<Record<string, InputValue | tf.Tensor>>;

export interface Compiled<K extends string> {
  /**
   * Runs the plan: `const { loss, dW } = await step({ W, x })`. Outputs are tf.Tensors, owned by
   * the caller: of the active tfjs backend, or on onnx tfjs cpu tensors over ONNX Runtime's own
   * output buffers (no copy; tfjs moves one to the glue backend when an op there needs it).
   */
  (inputs: TensorInputs): Promise<Record<K, tf.Tensor>>;
  /** The same, synchronously (after `await initBackend()`). */
  runSync(inputs: TensorInputs): Record<K, tf.Tensor>;
  /**
   * Runs the plan and returns plain typed arrays (no tf.Tensor on the way on onnx: the
   * cheapest read): `step.runArrays({ W, x }).loss.data[0]`.
   */
  runArrays(inputs: TensorInputs): Record<K, ArrayOutput>;
  /** The variables the outputs depend on. */
  readonly variables: readonly Variable[];
  /** Number of steps (graph nodes) in the plan. */
  readonly steps: number;
  /** The ONNX graph of this plan (traced on first use); also what `exportOnnx` writes. */
  onnx(): OnnxPlan;
}

type Values = Map<number, Named>;

const cache = new Map<string, Compiled<string>>();

/**
 * Forgets every compiled plan (with its ONNX Runtime session) and the layout module's memoized
 * transpose routes: the next `compile` plans and traces afresh. For a long session that compiled
 * many shapes it will not see again, and for mutation testing, which must re-plan under each mutant.
 */
export function clearCompiled(): void {
  cache.clear();
  forgetRoutes();
}

/** Lowers expressions for the active backend (ONNX Runtime or tfjs): `const step = compile({ loss, dW }); await step({ W, x })`. */
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
  const dtype = options.dtype ?? "float32";
  if (dtype !== "float32" && dtype !== "float64") throw new RicciError(`compile: dtype must be "float32" or "float64", got "${String(dtype)}"`);
  const key = `${keys.map((k, i) => `${k}=${roots[i].id}`).join(";")}|${checkNumerics}|${dtype}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit as Compiled<K>;
  const compiled = buildPlan(keys, roots, checkNumerics, dtype);
  cache.set(key, compiled as Compiled<string>);
  return compiled;
}

function buildPlan<K extends string>(keys: readonly K[], roots: readonly Expr[], checkNumerics: boolean, dtype: FloatType): Compiled<K> {
  const variables = [...checkVariables(roots).values()];
  const tfjsRun = tfjsRunner(keys, roots, checkNumerics);
  let traced: OnnxPlan | null = null;
  const onnx = (): OnnxPlan => (traced ??= onnxPlan(keys, roots, variables, dtype));
  const checkInputs = (inputs: TensorInputs): void => {
    if (activeBackend() === null) throw new RicciError("compile: no backend yet; `await initBackend()` first or call the async form");
    if (inputs === null || typeof inputs !== "object") throw new RicciError("compiled function: inputs must be an object of values by variable name");
  };
  const float64Only = (): RicciError =>
    new RicciError(`compile: dtype "float64" runs on the onnx backend only (active: ${activeBackend()}); initBackend("onnx")`);

  const runArrays = (inputs: TensorInputs): Record<K, ArrayOutput> => {
    checkInputs(inputs);
    const result = {} as Record<K, ArrayOutput>;
    const runtime = onnxRuntime();
    if (runtime !== null) {
      const out = onnx().run(runtime, inputs, checkNumerics);
      keys.forEach((k, i) => (result[k] = { edges: roots[i].edges.map((e) => e.name), shape: out[k].dims, data: out[k].data }));
      return result;
    }
    if (dtype === "float64") throw float64Only();
    const out = tfjsRun(inputs);
    keys.forEach((k, i) => {
      result[k] = { edges: roots[i].edges.map((e) => e.name), shape: out[k].shape, data: out[k].dataSync() as Float32Array };
      out[k].dispose();
    });
    return result;
  };
  const runSync = (inputs: TensorInputs): Record<K, tf.Tensor> => {
    checkInputs(inputs);
    if (dtype === "float64") throw new RicciError("compile: float64 outputs are not tf.Tensors (tfjs is float32); read them with runArrays");
    const runtime = onnxRuntime();
    if (runtime === null) return tfjsRun(inputs);
    const out = onnx().run(runtime, inputs, checkNumerics);
    const result = {} as Record<K, tf.Tensor>;
    for (const k of keys) {
      result[k] = hostTensor(out[k].data as Float32Array, out[k].dims);
      rememberHostData(result[k], out[k].data);
    }
    return result;
  };
  const run = async (inputs: TensorInputs): Promise<Record<K, tf.Tensor>> => {
    await initBackend();
    return runSync(inputs);
  };
  return Object.assign(run, { runSync, runArrays, variables, steps: topologicalOrder(roots).length, onnx });
}

/** The tfjs runner: eager steps, tensors freed after their last use. */
function tfjsRunner<K extends string>(keys: readonly K[], roots: readonly Expr[], checkNumerics: boolean): (inputs: TensorInputs) => Record<K, tf.Tensor> {
  const order = topologicalOrder(roots);
  const integerInputs = new Set(order.filter((n) => n.kind === "oneHot").map((n) => (n as { index: Expr }).index.id));
  // Uses of each node: by parents, plus one per output that returns it (those never drop to 0).
  const uses = new Map<number, number>();
  for (const node of order) for (const child of childrenOf(node)) uses.set(child.id, (uses.get(child.id) ?? 0) + 1);
  for (const r of roots) uses.set(r.id, (uses.get(r.id) ?? 0) + 1);

  return (inputs: TensorInputs): Record<K, tf.Tensor> => {
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
    checkTensorShape(v, t.shape);
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
