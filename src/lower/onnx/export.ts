/**
 * exportOnnx: compiled ricci graphs as standalone ONNX files that any ONNX runtime loads. Values
 * given as constants (a trained model's weights, RoPE tables) are baked in; the remaining
 * variables become the model's inputs, token ids among them as int64.
 */
import { RicciError } from "../../errors.js";
import type { Expr } from "../../dsl/expr.js";
import { type InputValue, flatten } from "../../dsl/values.js";
import { checkVariables } from "../../dsl/variables.js";
import { writeFileAtomic } from "../../util/atomicWrite.js";
import { onnxPlan } from "./compile.js";
import type { FloatType } from "./graph.js";

export interface ExportOptions {
  /** Values baked into the file, by variable name (typed arrays, nested arrays or tf.Tensors). */
  readonly constants?: Readonly<Record<string, InputValue>>;
  /** Default "float32". */
  readonly dtype?: FloatType;
}

export interface ExportedModel {
  readonly path: string;
  /** The model's inputs: the variables not given as constants. */
  readonly inputs: readonly { readonly name: string; readonly type: string; readonly shape: readonly number[] }[];
  readonly outputs: readonly { readonly name: string; readonly shape: readonly number[] }[];
  readonly bytes: number;
}

const identifier = /^[A-Za-z_][A-Za-z0-9_.:]*$/;

/**
 * Writes the ONNX model computing `outputs` to `path` (atomically):
 * `await exportOnnx("policy.onnx", { logits }, { constants: { ...params, ...gptConstants(config) } })`.
 */
export async function exportOnnx(path: string, outputs: Readonly<Record<string, Expr>>, options: ExportOptions = {}): Promise<ExportedModel> {
  const keys = Object.keys(outputs);
  if (keys.length === 0) throw new RicciError("exportOnnx: give at least one output expression, e.g. { logits }");
  for (const k of keys) if (!identifier.test(k)) throw new RicciError(`exportOnnx: output name "${k}" must be an identifier (letters, digits, _ . :)`);
  const dtype = options.dtype ?? "float32";
  const roots = keys.map((k) => outputs[k]);
  const variables = [...checkVariables(roots).values()];
  const byName = new Map(variables.map((v) => [v.name, v]));
  const constants: Record<string, Float32Array | Float64Array> = {};
  for (const [name, value] of Object.entries(options.constants ?? {})) {
    const v = byName.get(name);
    if (v === undefined) continue; // a constant the outputs do not use (e.g. a whole parameter set)
    const flat = flatten(v, value);
    constants[name] = dtype === "float32" ? Float32Array.from(flat) : flat;
  }
  const plan = onnxPlan(keys, roots, variables, dtype, { constants, integerIndices: true, outputNames: keys });
  await writeFileAtomic(path, [plan.model], "ONNX model");
  return {
    path,
    inputs: plan.inputs.map((v) => ({ name: v.name, type: v.type, shape: v.dims })),
    outputs: roots.map((r, i) => ({ name: keys[i], shape: r.edges.map((e) => e.size) })),
    bytes: plan.model.byteLength,
  };
}
