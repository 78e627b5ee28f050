/**
 * The float64 reference evaluator: plain JS, one rule per node kind, no tfjs. It is the
 * oracle for every gradient check (central differences) and for the compiled tfjs code.
 */
import { type Edge, findEdge, volume } from "../dsl/edges.js";
import { RicciError } from "../errors.js";
import { type Expr, type Variable, topologicalOrder } from "../dsl/expr.js";
import { EDGE_FUNCTIONS } from "../dsl/edgeFunctions.js";
import { ruleOf } from "../dsl/functions.js";
import { type InputValue, checkFinite, flatten } from "../dsl/values.js";
import { checkVariables } from "../dsl/variables.js";
import { type Tensor64, alongEdge, broadcastTo, contract, reduceTo, zipWith } from "./tensor64.js";

/** Values by variable name. */
export type Inputs = Readonly<Record<string, InputValue>>;

/** A float64 result: edges in the expression's order, shape, and row-major entries. */
export interface Value64 {
  readonly edges: string[];
  readonly shape: number[];
  readonly data: Float64Array;
}

export interface EvaluateOptions {
  /** Reject NaN/Inf in inputs (default true). */
  readonly checkNumerics?: boolean;
}

/** Evaluates `e` in float64: `evaluate(dW, { W: w, x: x })`. */
export function evaluate(e: Expr, inputs: Inputs, options: EvaluateOptions = {}): Value64 {
  return evaluateAll([e], inputs, options)[0];
}

/** Evaluates several expressions, sharing common subexpressions. */
export function evaluateAll(roots: readonly Expr[], inputs: Inputs, options: EvaluateOptions = {}): Value64[] {
  checkVariables(roots);
  const values = new Map<number, Tensor64>();
  for (const node of topologicalOrder(roots)) values.set(node.id, evaluateNode(node, values, inputs, options));
  return roots.map((r) => {
    const t = values.get(r.id)!;
    return { edges: r.edges.map((d) => d.name), shape: r.edges.map((d) => d.size), data: t.data };
  });
}

function inputOf(v: Variable, inputs: Inputs, options: EvaluateOptions): Tensor64 {
  if (inputs === null || typeof inputs !== "object") throw new RicciError("evaluate: inputs must be an object of values by variable name");
  const data = flatten(v, inputs[v.name]);
  if (options.checkNumerics ?? true) checkFinite(v.name, v.edges, data);
  return { edges: v.edges, data };
}

function evaluateNode(e: Expr, values: ReadonlyMap<number, Tensor64>, inputs: Inputs, options: EvaluateOptions): Tensor64 {
  const get = (x: Expr): Tensor64 => values.get(x.id)!;
  switch (e.kind) {
    case "variable":
      return inputOf(e, inputs, options);
    case "constant":
      return { edges: e.edges, data: new Float64Array(volume(e.edges)).fill(e.value) };
    case "delta": {
      const data = new Float64Array(volume(e.edges));
      const n = e.edges[0].size;
      let diagonalStride = 0;
      for (let k = 0, s = 1; k < e.edges.length; k++, s *= n) diagonalStride += s;
      for (let i = 0; i < n; i++) data[i * diagonalStride] = 1;
      return { edges: e.edges, data };
    }
    case "oneHot": {
      const index = get(e.index);
      const n = e.edge.size;
      const data = new Float64Array(index.data.length * n);
      index.data.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= n) {
          throw new RicciError(`oneHot: index ${id} is out of range for edge "${e.edge.name}" of size ${n}`);
        }
        data[i * n + id] = 1;
      });
      return { edges: e.edges, data };
    }
    case "product":
      return product(e.factors.map(get), e.edges);
    case "sum": {
      const out = new Float64Array(volume(e.edges));
      e.terms.forEach((t, k) => {
        const term = broadcastTo(get(t), e.edges);
        const w = e.weights[k];
        for (let i = 0; i < out.length; i++) out[i] += w * term.data[i];
      });
      return { edges: e.edges, data: out };
    }
    case "elementwise": {
      const rule = ruleOf(e.fn);
      const param = e.param;
      return zipWith(e.args.map(get), e.edges, (xs) => rule.value(xs[0], xs[1] ?? 0, param));
    }
    case "edgeFunction":
      return alongEdge(get(e.arg), e.edge, EDGE_FUNCTIONS[e.fn].keepsEdge, EDGE_FUNCTIONS[e.fn].value);
    case "rename": {
      const arg = get(e.arg);
      const map = new Map(e.mapping);
      return { edges: arg.edges.map((d) => ({ name: map.get(d.name) ?? d.name, size: d.size })), data: arg.data };
    }
    case "stopGradient":
      return get(e.arg);
  }
}

/** Contracts factors pairwise, left to right, summing each edge once no later factor needs it. */
function product(factors: readonly Tensor64[], out: readonly Edge[]): Tensor64 {
  let acc = factors[0];
  for (let k = 1; k < factors.length; k++) {
    const later = factors.slice(k + 1);
    const keep = (d: Edge): boolean => findEdge(out, d.name) !== undefined || later.some((f) => findEdge(f.edges, d.name));
    const edges: Edge[] = [];
    for (const d of [...acc.edges, ...factors[k].edges]) if (keep(d) && !findEdge(edges, d.name)) edges.push(d);
    acc = contract(acc, factors[k], edges);
  }
  return reduceTo(acc, out);
}


