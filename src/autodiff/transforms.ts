/**
 * The user-facing transforms: grad, valueAndGrad, vjp, jvp, hvp. Each returns expressions,
 * so they compose: `grad(sum(grad(f, W)), W)` is a second derivative.
 */
import * as b from "../dsl/build.js";
import { formatEdges, sameEdgeSet } from "../dsl/edges.js";
import { RicciError } from "../errors.js";
import type { Expr, Variable } from "../dsl/expr.js";
import { checkVariables } from "../dsl/variables.js";
import { forward } from "./forward.js";
import { backward } from "./reverse.js";

/** What to differentiate with respect to: one variable, a list, or a record of them. */
export type Wrt = Variable | readonly Variable[] | Readonly<Record<string, Variable>>;
/** The gradient's shape follows the shape of `wrt`. */
export type GradOf<W extends Wrt> = W extends Variable ? Expr : W extends readonly Variable[] ? Expr[] : { [K in keyof W]: Expr };

function describeNode(e: unknown): string {
  if (typeof e !== "object" || e === null || typeof (e as Expr).kind !== "string") return e === undefined || e === null ? String(e) : `a ${typeof e} (${String(e)})`;
  const x = e as Expr;
  return `a ${x.kind} with edges ${formatEdges(x.edges)}`;
}

function listOf(wrt: Wrt, op: string): Variable[] {
  const isRecord = typeof wrt === "object" && wrt !== null && !Array.isArray(wrt) && !("kind" in wrt);
  const list: unknown[] = Array.isArray(wrt) ? wrt : isRecord ? Object.values(wrt as object) : [wrt];
  if (list.length === 0) throw new RicciError(`${op}: nothing to differentiate with respect to`);
  return list.map((v) => {
    if (typeof v !== "object" || v === null || (v as Expr).kind !== "variable") {
      throw new RicciError(`${op}: can only differentiate with respect to a variable, got ${describeNode(v)}`);
    }
    return v as Variable;
  });
}

function shapeLike<W extends Wrt>(wrt: W, results: Expr[]): GradOf<W> {
  if (Array.isArray(wrt)) return results as GradOf<W>;
  if ((wrt as Expr).kind === "variable") return results[0] as GradOf<W>;
  const keys = Object.keys(wrt);
  return Object.fromEntries(keys.map((k, i) => [k, results[i]])) as GradOf<W>;
}

function checkExpr(f: unknown, op: string): asserts f is Expr {
  if (typeof f !== "object" || f === null || typeof (f as Expr).kind !== "string") {
    throw new RicciError(`${op}: the function to differentiate must be a ricci expression, got ${describeNode(f)}`);
  }
}

function checkScalar(f: Expr, op: string): void {
  if (f.edges.length !== 0) {
    throw new RicciError(`${op}: the function must be a scalar, but it has edges ${formatEdges(f.edges)}; reduce it first, e.g. with sum() or mean()`);
  }
}

function checkLike(value: Expr, like: Expr, what: string, op: string): void {
  if (!sameEdgeSet(value.edges, like.edges)) {
    throw new RicciError(`${op}: the ${what} must have edges ${formatEdges(like.edges)}, got ${formatEdges(value.edges)}`);
  }
}

/** ∂f/∂wrt for a scalar f, in one backward sweep for all of wrt: `grad(loss, W)`, `grad(loss, [W, b])`. */
export function grad<W extends Wrt>(f: Expr, wrt: W): GradOf<W> {
  const vars = listOf(wrt, "grad");
  checkExpr(f, "grad");
  checkScalar(f, "grad");
  checkVariables([f, ...vars]);
  return shapeLike(wrt, backward(f, b.constant(1), vars));
}

/** The loss and its gradient: `const { value, grad } = valueAndGrad(loss, [W])`. */
export function valueAndGrad<W extends Wrt>(f: Expr, wrt: W): { value: Expr; grad: GradOf<W> } {
  return { value: f, grad: grad(f, wrt) };
}

/** Vector–Jacobian product: Σ_f cotangent·∂f/∂wrt, where cotangent has f's edges. */
export function vjp<W extends Wrt>(f: Expr, wrt: W, cotangent: Expr): GradOf<W> {
  const vars = listOf(wrt, "vjp");
  checkExpr(f, "vjp");
  checkLike(cotangent, f, "cotangent", "vjp");
  checkVariables([f, cotangent, ...vars]);
  return shapeLike(wrt, backward(f, cotangent, vars));
}

/** Jacobian–vector product: the derivative of f along `tangent` (edges of `wrt`): `jvp(f, W, U)`. */
export function jvp(f: Expr, wrt: Variable | readonly Variable[], tangent: Expr | readonly Expr[]): Expr {
  const vars = listOf(wrt, "jvp");
  checkExpr(f, "jvp");
  const tangents = (Array.isArray(tangent) ? tangent : [tangent]) as Expr[];
  if (tangents.length !== vars.length) throw new RicciError(`jvp: ${vars.length} variable(s) but ${tangents.length} tangent(s)`);
  vars.forEach((v, i) => checkLike(tangents[i], v, `tangent for "${v.name}"`, "jvp"));
  checkVariables([f, ...vars, ...tangents]);
  return forward(f, new Map(vars.map((v, i) => [v, tangents[i]])));
}

/**
 * Hessian–vector product H·v for a scalar f, where v has wrt's edges: forward mode over the
 * reverse-mode gradient. `hvp(loss, W, U)` has W's edges.
 */
export function hvp(f: Expr, wrt: Variable, v: Expr): Expr {
  const [w] = listOf(wrt, "hvp");
  checkExpr(f, "hvp");
  checkScalar(f, "hvp");
  checkLike(v, w, "vector", "hvp");
  const g = grad(f, w);
  const result = jvp(g, w, v);
  return b.einsum([result], w.edges.map((d) => d.name));
}
