/**
 * The ONNX lowering target: ricci's plan traced once into an ONNX graph (OnnxGraph), one
 * InferenceSession per compiled set of outputs and dtype, created on first run and kept.
 * Inputs are passed to ONNX Runtime without copies where they already have the compute dtype.
 */
import { formatEdges, volume } from "../../dsl/edges.js";
import { RicciError } from "../../dsl/errors.js";
import { type Expr, type Variable, topologicalOrder } from "../../dsl/expr.js";
import { type InputValue, checkFinite, flatten, isTensorLike } from "../../dsl/values.js";
import type { Named } from "../layout.js";
import { asOutput, lowerNode } from "../plan.js";
import { type FloatType, OnnxGraph } from "./graph.js";
import { type OnnxRuntime, type OnnxSession, type OrtTensor } from "./runtime.js";

export interface OnnxPlan {
  /** The model's bytes (for export and inspection). */
  readonly model: Uint8Array;
  /** Node counts by op type. */
  readonly opCounts: Readonly<Record<string, number>>;
  /** Runs the plan: one ONNX Runtime call. Outputs are keyed like the compiled outputs. */
  run(runtime: OnnxRuntime, inputs: Readonly<Record<string, unknown>>, checkNumerics: boolean): Record<string, OrtTensor>;
}

/** An ONNX-safe, unique value name for each output key. */
function outputNames(keys: readonly string[]): string[] {
  return keys.map((k, i) => `out${i}_${k.replace(/[^A-Za-z0-9_]/g, "_")}`);
}

/** Traces the plan of `roots` into an ONNX model computing in `dtype`. */
export function onnxPlan(keys: readonly string[], roots: readonly Expr[], variables: readonly Variable[], dtype: FloatType): OnnxPlan {
  const graph = new OnnxGraph(dtype);
  const values = new Map<number, Named<string>>();
  for (const node of topologicalOrder(roots)) {
    const value: Named<string> =
      node.kind === "variable" ? { tensor: node.name, edges: node.edges } : lowerNode(graph, node, (e) => values.get(e.id)!);
    values.set(node.id, { ...value, layouts: new Map() });
  }
  const names = outputNames(keys);
  const outputs = roots.map((root, i) => ({ name: names[i], value: asOutput(graph, values.get(root.id)!, root), dims: root.edges.map((e) => e.size) }));
  const inputs = variables.map((v) => ({ name: v.name, type: dtype, dims: v.edges.map((e) => e.size) }));
  const model = graph.encode("ricci", inputs, outputs, `outputs: ${keys.join(", ")}`);
  let session: OnnxSession | null = null;
  let sessionRuntime: OnnxRuntime | null = null;
  const opCounts = graph.opCounts();
  return {
    model,
    opCounts,
    run(runtime, given, checkNumerics) {
      if (session === null || sessionRuntime !== runtime) {
        session = runtime.session(model);
        sessionRuntime = runtime;
      }
      const feeds: Record<string, OrtTensor> = {};
      for (const v of variables) feeds[v.name] = runtime.tensor(dtype, inputData(v, given[v.name], dtype, checkNumerics), v.edges.map((e) => e.size));
      const out = session.run(feeds, names);
      const result: Record<string, OrtTensor> = {};
      keys.forEach((k, i) => (result[k] = out[names[i]]));
      return result;
    },
  };
}

/** A variable's value as a typed array of `dtype`, without a copy where it already is one. */
function inputData(v: Variable, value: unknown, dtype: FloatType, checkNumerics: boolean): Float32Array | Float64Array {
  const shape = v.edges.map((e) => e.size);
  const wanted = dtype === "float32" ? Float32Array : Float64Array;
  let data: ArrayLike<number>;
  if (isTensorLike(value)) {
    const ok = value.shape.length === shape.length && value.shape.every((n, i) => n === shape[i]);
    if (!ok) throw new RicciError(`variable "${v.name}" with edges ${formatEdges(v.edges)} expects shape [${shape.join(", ")}], got a tensor of shape [${value.shape.join(", ")}]`);
    data = value.dataSync();
  } else if (value instanceof wanted) {
    if (value.length !== volume(v.edges)) {
      throw new RicciError(`variable "${v.name}" with edges ${formatEdges(v.edges)} expects ${volume(v.edges)} entries (shape [${shape.join(", ")}]), got a typed array of length ${value.length}`);
    }
    data = value;
  } else {
    data = flatten(v, value as InputValue | undefined);
  }
  if (checkNumerics) checkFinite(v.name, v.edges, data);
  return data instanceof wanted ? data : wanted.from(data);
}
