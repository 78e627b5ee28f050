/**
 * The ONNX lowering target: ricci's plan traced once into an ONNX graph (OnnxGraph), one
 * InferenceSession per compiled set of outputs and dtype, created on first run and kept.
 * Inputs are passed to ONNX Runtime without copies where they already have the compute dtype.
 */
import { formatEdges, volume } from "../../dsl/edges.js";
import { RicciError } from "../../errors.js";
import { type Expr, type Variable, topologicalOrder } from "../../dsl/expr.js";
import { type InputValue, checkFinite, checkLength, checkTensorShape, flatten, isTensorLike } from "../../dsl/values.js";
import type { Named } from "../layout.js";
import { asOutput, lowerNode } from "../plan.js";
import { type FloatType, OnnxGraph } from "./graph.js";
import type { ValueSpec } from "./proto.js";
import { type OnnxRuntime, type OnnxSession, type OrtTensor } from "./runtime.js";

export interface OnnxPlan {
  /** The model's bytes (for export and inspection). */
  readonly model: Uint8Array;
  /** The model's declared inputs. */
  readonly inputs: readonly ValueSpec[];
  /** Node counts by op type. */
  readonly opCounts: Readonly<Record<string, number>>;
  /** Runs the plan: one ONNX Runtime call. Outputs are keyed like the compiled outputs. */
  run(runtime: OnnxRuntime, inputs: Readonly<Record<string, unknown>>, checkNumerics: boolean): Record<string, OrtTensor>;
}

/** An ONNX-safe, unique value name for each output key. */
function outputNames(keys: readonly string[]): string[] {
  return keys.map((k, i) => `ricci::out${i}_${k.replace(/[^A-Za-z0-9_]/g, "_")}`);
}

export interface TraceOptions {
  /** Variables whose values are baked into the model as initializers (an exported model's weights). */
  readonly constants?: Readonly<Record<string, Float32Array | Float64Array>>;
  /** Declare the variables used as one-hot indices (token ids) as int64 inputs, cast inside. */
  readonly integerIndices?: boolean;
  /** Output value names (default: derived from the keys). */
  readonly outputNames?: readonly string[];
}

/** Traces the plan of `roots` into an ONNX model computing in `dtype`. */
export function onnxPlan(keys: readonly string[], roots: readonly Expr[], variables: readonly Variable[], dtype: FloatType, options: TraceOptions = {}): OnnxPlan {
  const graph = new OnnxGraph(dtype);
  const constants = options.constants ?? {};
  const order = topologicalOrder(roots);
  const indices = new Set(options.integerIndices === true ? order.flatMap((n) => (n.kind === "oneHot" && n.index.kind === "variable" ? [n.index.name] : [])) : []);
  const values = new Map<number, Named<string>>();
  for (const node of order) {
    const value: Named<string> = node.kind !== "variable"
      ? lowerNode(graph, node, (e) => values.get(e.id)!)
      : { tensor: variableValue(graph, node, constants[node.name], indices.has(node.name)), edges: node.edges };
    values.set(node.id, { ...value, layouts: new Map() });
  }
  const names = options.outputNames ?? outputNames(keys);
  const outputs = roots.map((root, i) => ({ name: names[i], value: asOutput(graph, values.get(root.id)!, root), dims: root.edges.map((e) => e.size) }));
  const inputs = variables
    .filter((v) => constants[v.name] === undefined)
    .map((v) => ({ name: v.name, type: indices.has(v.name) ? ("int64" as const) : dtype, dims: v.edges.map((e) => e.size) }));
  const model = graph.encode("ricci", inputs, outputs, `outputs: ${keys.join(", ")}`);
  let session: OnnxSession | null = null;
  let sessionRuntime: OnnxRuntime | null = null;
  const opCounts = graph.opCounts();
  return {
    model,
    inputs,
    opCounts,
    run(runtime, given, checkNumerics) {
      if (session === null || sessionRuntime !== runtime) {
        session = runtime.session(model);
        sessionRuntime = runtime;
      }
      const feeds: Record<string, OrtTensor> = {};
      for (const v of variables) feeds[v.name] = runtime.tensor(dtype, inputData(v, given[v.name], dtype, checkNumerics), v.edges.map((e) => e.size));
      let out: Record<string, OrtTensor>;
      try {
        out = session.run(feeds, names);
      } catch (e) {
        throw new RicciError(`ONNX Runtime failed to run the plan of ${keys.join(", ")}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
      }
      const result: Record<string, OrtTensor> = {};
      keys.forEach((k, i) => (result[k] = out[names[i]]));
      return result;
    },
  };
}

/**
 * Host copies of tensors by tensor object. tf.Tensors are immutable, so a tensor fed again (the
 * parameters at every decoding step, a KV cache that a previous run returned) is read from the
 * tfjs backend once; the copy goes when the tensor object does.
 */
const hostData = new WeakMap<object, Float32Array | Float64Array>();

/** Records that `tensor` holds `data` (a tensor made from a run's output). */
export function rememberHostData(tensor: object, data: Float32Array | Float64Array): void {
  hostData.set(tensor, data);
}

/** A variable in the traced graph: its input, a baked constant, or its int64 input cast to the compute dtype. */
function variableValue(graph: OnnxGraph, v: Variable, baked: Float32Array | Float64Array | undefined, integer: boolean): string {
  if (baked !== undefined) {
    if (baked.length !== volume(v.edges)) throw new RicciError(`constant for variable "${v.name}" with edges ${formatEdges(v.edges)} has ${baked.length} entries, expected ${volume(v.edges)}`);
    return graph.constant(baked, v.edges.map((e) => e.size));
  }
  const input = graph.input(v.name, v.edges.map((e) => e.size));
  return integer ? graph.node("Cast", [input], { to: { int: graph.dtype === "float32" ? 1 : 11 } }) : input;
}

/** A variable's value as a typed array of `dtype`, without a copy where it already is one. */
function inputData(v: Variable, value: unknown, dtype: FloatType, checkNumerics: boolean): Float32Array | Float64Array {
  const wanted = dtype === "float32" ? Float32Array : Float64Array;
  let data: ArrayLike<number>;
  if (isTensorLike(value)) {
    checkTensorShape(v, value.shape);
    const known = hostData.get(value);
    if (known instanceof wanted) data = known;
    else {
      data = value.dataSync();
      if (data instanceof wanted) hostData.set(value, data);
    }
  } else if (value instanceof wanted) {
    checkLength(v, value.length);
    data = value;
  } else {
    data = flatten(v, value as InputValue | undefined);
  }
  if (checkNumerics) checkFinite(v.name, v.edges, data);
  return data instanceof wanted ? data : wanted.from(data);
}
