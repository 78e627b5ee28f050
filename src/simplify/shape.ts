/**
 * Name-independent descriptions of expressions, used to order factors and terms canonically.
 *
 * A `Shape` is a node's structure with its free edge names abstracted away: a `skeleton`
 * hash, and for each free edge a `slot` hash saying what role that edge plays (which axis of
 * which variable, …). Renaming a free edge changes neither. A `fingerprint` is the full
 * structural hash, names included. Both are memoised per interned node.
 */
import { type Expr, type Product, childrenOf } from "../dsl/expr.js";
import { hashOf, hashOfBag } from "./hash.js";

export interface Shape {
  /** The structure, free edge names abstracted. */
  readonly skeleton: string;
  /** The role of each free edge, by its name. */
  readonly slots: ReadonlyMap<string, string>;
}

/** Computes a value for every node below `root` once, children first, without recursion. */
export function bottomUp<T>(root: Expr, cache: WeakMap<Expr, T>, compute: (e: Expr, get: (x: Expr) => T) => T): T {
  const get = (x: Expr): T => cache.get(x)!;
  const stack: Expr[] = [root];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (cache.has(top)) {
      stack.pop();
      continue;
    }
    const pending = childrenOf(top).filter((c) => !cache.has(c));
    if (pending.length > 0) stack.push(...pending);
    else {
      cache.set(top, compute(top, get));
      stack.pop();
    }
  }
  return get(root);
}

const shapes = new WeakMap<Expr, Shape>();
const fingerprints = new WeakMap<Expr, string>();

/** The name-independent shape of `e`. */
export function shapeOf(e: Expr): Shape {
  return bottomUp(e, shapes, computeShape);
}

/** The full structural hash of `e`, edge names and order included. */
export function fingerprintOf(e: Expr): string {
  return bottomUp(e, fingerprints, computeFingerprint);
}

const sizesOf = (e: Expr): string => e.edges.map((d) => d.size).join(",");

function slotOf(shape: Shape, name: string): string {
  return shape.slots.get(name)!;
}

function computeShape(e: Expr, get: (x: Expr) => Shape): Shape {
  switch (e.kind) {
    case "variable":
      return {
        skeleton: hashOf("v", e.name, sizesOf(e)),
        slots: new Map(e.edges.map((d, k) => [d.name, hashOf("v", k)])),
      };
    case "constant":
      return {
        skeleton: hashOfBag(`c${e.value}`, e.edges.map((d) => String(d.size))),
        slots: new Map(e.edges.map((d) => [d.name, hashOf("c", d.size)])),
      };
    case "delta":
      return { skeleton: hashOf("d", sizesOf(e)), slots: new Map(e.edges.map((d) => [d.name, "d"])) };
    case "oneHot": {
      const index = get(e.index);
      const slots = new Map(e.index.edges.map((d) => [d.name, hashOf("i", slotOf(index, d.name))]));
      slots.set(e.edge.name, "onehot");
      return { skeleton: hashOf("o", index.skeleton, e.edge.size), slots };
    }
    case "product":
      return productShape(e);
    case "sum": {
      const terms = e.terms.map((t, k) => ({ t, shape: get(t), desc: hashOf(e.weights[k], get(t).skeleton) }));
      const slots = new Map(
        e.edges.map((d) => [
          d.name,
          hashOfBag("s", terms.filter(({ t }) => t.edges.some((x) => x.name === d.name)).map(({ shape, desc }) => hashOf(desc, slotOf(shape, d.name)))),
        ]),
      );
      return { skeleton: hashOf("s", hashOfBag("", terms.map((t) => t.desc)), hashOfBag("", [...slots.values()])), slots };
    }
    case "elementwise": {
      const args = e.args.map(get);
      const slots = new Map(
        e.edges.map((d) => [d.name, hashOf("f", ...args.map((a) => a.slots.get(d.name) ?? "-"))]),
      );
      return { skeleton: hashOf("f", e.fn, String(e.param), ...args.map((a) => a.skeleton), hashOfBag("", [...slots.values()])), slots };
    }
    case "edgeFunction": {
      const arg = get(e.arg);
      const slots = new Map(
        e.edges.map((d) => [d.name, hashOf(d.name === e.edge ? "along" : "g", slotOf(arg, d.name))]),
      );
      return { skeleton: hashOf("g", e.fn, arg.skeleton, slotOf(arg, e.edge)), slots };
    }
    case "rename": {
      const arg = get(e.arg);
      const to = new Map(e.mapping);
      return { skeleton: arg.skeleton, slots: new Map(e.arg.edges.map((d) => [to.get(d.name) ?? d.name, slotOf(arg, d.name)])) };
    }
    case "stopGradient": {
      const arg = get(e.arg);
      return { skeleton: hashOf("x", arg.skeleton), slots: arg.slots };
    }
  }
}

/**
 * How the factors of an einsum are wired, without inner edge names: `base` describes each
 * factor alone, `colour` each inner edge by the factors it joins, and `refined` each factor
 * by its base and the colours of its inner edges (one round of neighbour colouring).
 */
export interface ProductLayout {
  readonly shapes: readonly Shape[];
  readonly refined: readonly string[];
  readonly colour: ReadonlyMap<string, string>;
}

export function describeProduct(factors: readonly Expr[], out: ReadonlySet<string>): ProductLayout {
  const shapes = factors.map(shapeOf);
  const base = factors.map((f, k) =>
    hashOf(shapes[k].skeleton, hashOfBag("", f.edges.map((d) => hashOf(slotOf(shapes[k], d.name), out.has(d.name) ? "o" : "i")))),
  );
  const incident = new Map<string, string[]>();
  factors.forEach((f, k) => {
    for (const d of f.edges) {
      if (out.has(d.name)) continue;
      const list = incident.get(d.name) ?? [];
      list.push(hashOf(base[k], slotOf(shapes[k], d.name)));
      incident.set(d.name, list);
    }
  });
  const colour = new Map([...incident].map(([name, list]) => [name, hashOfBag("e", list)]));
  const refined = factors.map((f, k) =>
    hashOf(base[k], hashOfBag("", f.edges.map((d) => hashOf(slotOf(shapes[k], d.name), out.has(d.name) ? "o" : colour.get(d.name)!)))),
  );
  return { shapes, refined, colour };
}

function productShape(p: Product): Shape {
  const out = new Set(p.edges.map((d) => d.name));
  const { shapes, refined } = describeProduct(p.factors, out);
  const slots = new Map(
    p.edges.map((d) => [
      d.name,
      hashOfBag(
        "p",
        p.factors.flatMap((f, k) => (f.edges.some((x) => x.name === d.name) ? [hashOf(refined[k], slotOf(shapes[k], d.name))] : [])),
      ),
    ]),
  );
  return { skeleton: hashOf("p", hashOfBag("", refined), hashOfBag("", [...slots.values()])), slots };
}

function computeFingerprint(e: Expr, get: (x: Expr) => string): string {
  const edges = e.edges.map((d) => `${d.name}:${d.size}`).join(",");
  switch (e.kind) {
    case "variable":
      return hashOf("v", e.name, edges);
    case "constant":
      return hashOf("c", Object.is(e.value, -0) ? 0 : e.value, edges);
    case "delta":
      return hashOf("d", edges);
    case "oneHot":
      return hashOf("o", get(e.index), e.edge.name, edges);
    case "product":
      return hashOf("p", ...e.factors.map(get), edges);
    case "sum":
      return hashOf("s", ...e.terms.map((t, k) => `${e.weights[k]}*${get(t)}`), edges);
    case "elementwise":
      return hashOf("f", e.fn, String(e.param), ...e.args.map(get), edges);
    case "edgeFunction":
      return hashOf("g", e.fn, e.edge, get(e.arg), edges);
    case "rename":
      return hashOf("r", get(e.arg), e.mapping.map(([a, b]) => `${a}>${b}`).join(","), edges);
    case "stopGradient":
      return hashOf("x", get(e.arg), edges);
  }
}
