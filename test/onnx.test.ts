/**
 * The ONNX Runtime target beyond what every compiled test already checks on it: float64 graphs
 * agree with the float64 reference evaluator to 1e-9 (every primitive's value and gradients,
 * and a GPT's loss and parameter gradients), bad input at run time is a RicciError, the
 * traced plan has the shape the planner promises, and exported files run anywhere.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { RicciError, compile, dot, evaluate, evaluateAll, exportOnnx, fn, grad, initBackend, mul, sum, variable } from "../src/index.js";
import { exportGpt, gptConstants, gptData, gptForward, gptParams, initGpt } from "../src/entries/nn.js";
import { activeBackend, onnxRuntime } from "../src/lower/backend.js";
import type { OnnxRuntime } from "../src/lower/onnx/runtime.js";
import type { ArrayOutput } from "../src/lower/compile.js";
import { lmObjective } from "../src/pipeline/lm.js";
import { makeRng } from "../src/util/random.js";
import { firstMismatch, seededValues } from "./helpers/oracle.js";
import { cases, instantiate, sizesOfExpr } from "./helpers/primitive-cases.js";

const F64_TOL = 1e-9;

const mismatch = (got: ArrayLike<number>, want: ArrayLike<number>): string | null => firstMismatch(got, want, F64_TOL);

beforeAll(async () => {
  expect(await initBackend("onnx")).toBe("onnx");
});

describe.each(cases)("float64 on ONNX Runtime: $name", (c) => {
  it("value and gradients within 1e-9 of evaluate", () => {
    const inst = instantiate(c);
    const expr = c.build(inst.vars);
    const R = variable("R", sizesOfExpr(expr));
    const values = { ...inst.values, R: seededValues(expr.edges.reduce((p, d) => p * d.size, 1), 7) };
    const grads = inst.differentiable.length === 0 ? [] : grad(sum(mul(expr, R)), inst.differentiable);
    const outputs = { value: expr, ...Object.fromEntries(inst.differentiable.map((v, k) => [`d_${v.name}`, grads[k]])) };
    const out: Record<string, ArrayOutput> = compile(outputs, { dtype: "float64" }).runArrays(values);
    expect(out.value.data).toBeInstanceOf(Float64Array);
    expect(out.value.shape).toEqual(expr.edges.map((e) => e.size));
    expect(mismatch(out.value.data, evaluate(expr, values).data), "value").toBeNull();
    inst.differentiable.forEach((v, k) => {
      expect(mismatch(out[`d_${v.name}`].data, evaluate(grads[k], values).data), `d/d${v.name}`).toBeNull();
    });
  });
});

describe("a GPT on ONNX Runtime in float64", () => {
  it("loss and every parameter gradient within 1e-9 of evaluate", () => {
    const config = { vocab: 16, context: 8, dModel: 16, heads: 2, layers: 2 };
    const lm = lmObjective(config, 2);
    const rng = makeRng(3);
    const ids = (): Int32Array => Int32Array.from({ length: 2 * config.context }, () => Math.floor(rng() * config.vocab));
    const params = initGpt(config, 5);
    const inputs: Record<string, Float64Array> = {};
    for (const [k, v] of Object.entries(lm.inputs({ tokens: ids(), targets: ids() }))) inputs[k] = Float64Array.from(v);
    for (const [k, t] of Object.entries(params)) inputs[k] = Float64Array.from(t.dataSync());
    const names = lm.parameters.map((p) => p.name);
    const exprs = [lm.objective.loss, ...names.map((n) => lm.objective.gradients[n])];
    const out = compile(Object.fromEntries(exprs.map((e, i) => [`o${i}`, e])), { dtype: "float64" }).runArrays(inputs);
    const ref = evaluateAll(exprs, inputs);
    expect(Math.abs(ref[0].data[0] - Math.log(16))).toBeLessThan(0.1);
    exprs.forEach((_, i) => expect(mismatch(out[`o${i}`].data, ref[i].data), i === 0 ? "loss" : `d/d${names[i - 1]}`).toBeNull());
  });
});

describe("bad input at a compiled call on ONNX Runtime", () => {
  const W = variable("W", { in: 3, out: 2 });
  const x = variable("x", { batch: 4, in: 3 });
  const step = compile({ y: mul(x, W) });

  it("names the variable, its edges and the sizes", () => {
    expect(activeBackend()).toBe("onnx");
    expect(() => step.runArrays({ W: new Float32Array(6), x: new Float32Array(11) })).toThrow(RicciError);
    expect(() => step.runArrays({ W: new Float32Array(6), x: new Float32Array(11) })).toThrow(/variable "x" with edges \{batch: 4, in: 3\} expects 12 entries/);
    expect(() => step.runArrays({ W: new Float32Array(6) })).toThrow(/missing value for variable "x"/);
  });

  it("float64 outputs are read with runArrays, not as tf.Tensors", () => {
    const f64 = compile({ y: mul(x, W) }, { dtype: "float64" });
    expect(() => f64.runSync({ W: new Float64Array(6), x: new Float64Array(12) })).toThrow(/runArrays/);
  });
});

describe("the traced plan", () => {
  it("a matrix chain is two MatMuls and no Transpose when the layout allows it", () => {
    const A = variable("A", { i: 8, j: 8 });
    const B = variable("B", { j: 8, k: 8 });
    const C = variable("C", { k: 8, l: 8 });
    const broadcast = compile({ y: mul(mul(A, B), C) }).onnx().opCounts;
    expect(broadcast.MatMul ?? 0).toBe(0); // mul keeps shared edges: nothing is contracted
    const chain = compile({ y: dot(dot(A, B), C) }).onnx().opCounts;
    expect(chain.MatMul).toBe(2);
    expect(chain.Transpose ?? 0).toBe(0);
  });

  it("gives each output its own name: two outputs sharing a value, and an output that is an input", () => {
    const x = variable("x", { i: 3 });
    const y = mul(x, x);
    const out = compile({ a: y, b: y, x, s: sum(y) }).runArrays({ x: [1, 2, 3] });
    expect(Array.from(out.a.data)).toEqual([1, 4, 9]);
    expect(Array.from(out.b.data)).toEqual([1, 4, 9]);
    expect(Array.from(out.x.data)).toEqual([1, 2, 3]);
    expect(Array.from(out.s.data)).toEqual([14]);
  });

  it("in float64, composes sinh, cosh, tan and rsqrt exactly (to 1e-12), and runs atan, asin, acos in float32 (to 1e-6)", () => {
    const x = variable("x", { i: 6 });
    const xs = Float64Array.of(-1.3, -0.4, 0.2, 0.7, 1.1, 1.4);
    const within = (formula: string, tolerance: number): void => {
      const y = fn(`float64Check${formula.length}`, formula)(x);
      const got = compile({ y }, { dtype: "float64" }).runArrays({ x: xs }).y.data;
      expect(got).toBeInstanceOf(Float64Array);
      const want = evaluate(y, { x: xs }).data;
      for (let k = 0; k < 6; k++) expect(Math.abs(got[k] - want[k]), `${formula} at x = ${xs[k]}`).toBeLessThan(tolerance * Math.max(1, Math.abs(want[k])));
    };
    within("sinh(x) + cosh(x) + tan(x) + x^2 + (x^2 + 1)^(-0.5)", 1e-12);
    within("atan(x) + asin(x / 2) + acos(x / 2)", 1e-6);
  });

  it("opens one ONNX Runtime session per plan and runtime, and reuses it run after run", () => {
    const runtime = onnxRuntime();
    if (runtime === null) throw new Error("ONNX Runtime is not the active backend");
    let opened = 0;
    const counting = (): OnnxRuntime => ({ ...runtime, session: (model) => (opened++, runtime.session(model)) });
    const x = variable("x", { i: 3 });
    const plan = compile({ y: mul(x, x) }).onnx();
    const first = counting();
    for (let k = 0; k < 3; k++) expect(Array.from(plan.run(first, { x: [1, 2, 3] }, false).y.data)).toEqual([1, 4, 9]);
    expect(opened).toBe(1);
    expect(Array.from(plan.run(counting(), { x: [2, 0, -1] }, false).y.data)).toEqual([4, 0, 1]);
    expect(opened).toBe(2);
  });
});

describe("exportOnnx", () => {
  const config = { vocab: 16, context: 8, dModel: 16, heads: 2, layers: 2 };
  const dir = mkdtempSync(join(tmpdir(), "ricci-export-"));
  const path = join(dir, "policy.onnx");

  it("a fresh ONNX Runtime session on the exported GPT reproduces ricci's logits", async () => {
    const params = initGpt(config, 9);
    const exported = await exportGpt(path, config, params, { batch: 2 });
    expect(exported.inputs).toEqual([{ name: "tokens", type: "int64", shape: [2, 8] }]);
    expect(exported.outputs).toEqual([{ name: "logits", shape: [2, 8, 16] }]);
    const tokens = Int32Array.from({ length: 16 }, (_, i) => (i * 7) % 16);
    const data = gptData(config, 2);
    const { logits } = compile({ logits: gptForward(config, gptParams(config), data) }).runArrays({ ...gptConstants(config), ...params, tokens });
    // The public onnxruntime-node API, as any consumer of the file would use it.
    const ort = createRequire(import.meta.url)("onnxruntime-node") as typeof import("onnxruntime-node");
    const session = await ort.InferenceSession.create(path);
    const out = await session.run({ tokens: new ort.Tensor("int64", BigInt64Array.from(tokens, (t) => BigInt(t)), [2, 8]) });
    const got = out.logits.data as Float32Array;
    expect(out.logits.dims).toEqual([2, 8, 16]);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - logits.data[i]));
    expect(worst).toBeLessThan(1e-5);
    expect(Math.max(...Array.from(got, Math.abs))).toBeGreaterThan(0);
  });

  /** The GPT exported to its own file (each test writes what it reads, so it runs alone too). */
  const exported = async (file: string): Promise<string> => {
    await exportGpt(join(dir, file), config, initGpt(config, 9), { batch: 2 });
    return join(dir, file);
  };

  it("passes onnx.checker.check_model (Debian's python3-onnx)", async () => {
    const path = await exported("checked.onnx");
    expect(existsSync(path)).toBe(true);
    const result = spawnSync("/usr/bin/python3", ["-c", "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True); print('ok')", path], { encoding: "utf8" });
    if (result.stderr.includes("No module named 'onnx'")) throw new Error("python3-onnx is not installed (apt-get install python3-onnx): the exported file cannot be checked");
    expect(result.stderr).toBe("");
    expect(result.stdout.trim()).toBe("ok");
  });

  it("says what made it and what it computes, names every node, and declares its inputs' and outputs' shapes", async () => {
    const path = await exported("described.onnx");
    const script = [
      "import json, onnx, sys",
      "m = onnx.load(sys.argv[1])",
      "dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]",
      "names = [n.name for n in m.graph.node]",
      "print(json.dumps({'producer': m.producer_name, 'doc': m.graph.doc_string, 'named': all(names) and len(set(names)) == len(names),",
      "  'first': names[0], 'inputs': [[i.name, dims(i)] for i in m.graph.input], 'outputs': [[o.name, dims(o)] for o in m.graph.output]}))",
    ].join("\n");
    const result = spawnSync("/usr/bin/python3", ["-c", script, path], { encoding: "utf8" });
    expect(result.stderr).toBe("");
    const info = JSON.parse(result.stdout) as { producer: string; doc: string; named: boolean; first: string; inputs: unknown; outputs: unknown };
    expect(info.producer).toBe("ricci");
    expect(info.doc).toBe("outputs: logits");
    expect(info.named).toBe(true);
    expect(info.first).toMatch(/^[A-Za-z]+_0$/);
    expect(info.inputs).toEqual([["tokens", [2, 8]]]);
    expect(info.outputs).toEqual([["logits", [2, 8, 16]]]);
  });

  it("a float64 export keeps its baked constants in float64, leaves unused ones out, and runs in a fresh session", async () => {
    const W = variable("W", { i: 3, o: 2 });
    const x = variable("x", { i: 3 });
    const Ws = [[1 / 3, 0], [0, 1e-9], [Math.PI, -1]];
    const exported = await exportOnnx(join(dir, "f64.onnx"), { y: dot(x, W) }, { dtype: "float64", constants: { W: Ws, unused: [1, 2] } });
    expect(exported.inputs).toEqual([{ name: "x", type: "float64", shape: [3] }]);
    expect(exported.outputs).toEqual([{ name: "y", shape: [2] }]);
    const runtime = onnxRuntime()!;
    const session = runtime.session(new Uint8Array(readFileSync(join(dir, "f64.onnx"))));
    const xs = Float64Array.of(3, 1e9, 1);
    const y = session.run({ x: runtime.tensor("float64", xs, [3]) }, ["y"]).y;
    const want = evaluate(dot(x, W), { x: xs, W: Ws }).data;
    expect(y.data).toBeInstanceOf(Float64Array);
    expect(Array.from(y.data)).toEqual(Array.from(want));
    session.dispose();
  });

  it("refuses no outputs, and names the file it could not write", async () => {
    const W = variable("W", { a: 2 });
    await expect(exportOnnx(join(dir, "none.onnx"), {})).rejects.toThrow("exportOnnx: give at least one output expression, e.g. { logits }");
    const missing = join(dir, "no-such-folder", "w.onnx");
    await expect(exportOnnx(missing, { W })).rejects.toThrow(`ONNX model ${missing}: write failed`);
  });

  it("names a bad output name", async () => {
    const W = variable("W", { a: 2 });
    await expect(exportOnnx(join(dir, "bad.onnx"), { "not a name": W })).rejects.toThrow(/output name "not a name" must be an identifier/);
  });
});
