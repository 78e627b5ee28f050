/**
 * Named edges (src/dsl/edges.ts): which names and sizes are accepted, what the error says when
 * one is not, and the edge-list helpers the builders use (union by name, same set, volume).
 */
import { describe, expect, it } from "vitest";
import {
  checkEdgeName, checkSize, edgeNames, edgesFrom, findEdge, formatEdges, hasEdge, isInnerName, sameEdgeSet, unionEdges, volume,
} from "../src/dsl/edges.js";
import { RicciError } from "../src/errors.js";

const thrown = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RicciError);
    return (e as Error).message;
  }
  throw new Error("expected an error");
};

describe("edge names", () => {
  it("accept identifiers: letters, digits after the first, _ and '", () => {
    for (const name of ["a", "Z", "_", "batch", "x1", "d_model", "i'", "a''", "_9"]) expect(() => checkEdgeName(name, "test"), name).not.toThrow();
  });

  it("reject anything else, naming the place and the name", () => {
    for (const name of ["", "1a", "a-b", "bad name", "a.b", "é", " a", "a "]) {
      expect(thrown(() => checkEdgeName(name, "variable \"y\"")), JSON.stringify(name)).toBe(
        `variable "y": edge name "${name}" is not an identifier (letters, digits, _ and ')`,
      );
    }
  });

  it("reserve # for contracted edges, and say so", () => {
    expect(isInnerName("#0")).toBe(true);
    expect(isInnerName("a#")).toBe(false);
    expect(thrown(() => checkEdgeName("#a", "rename"))).toBe(
      `rename: edge name "#a" is not an identifier (letters, digits, _ and '); names starting with # are reserved for contracted edges`,
    );
  });

  it("reject a name that is not a string, showing what it was", () => {
    expect(thrown(() => checkEdgeName(7 as unknown as string, "oneHot"))).toBe(`oneHot: edge name "7" is not an identifier (letters, digits, _ and ')`);
    // A string that stringifies to an identifier is still not one.
    expect(() => checkEdgeName({ toString: () => "a" } as unknown as string, "t")).toThrow(/edge name "a" is not an identifier/);
  });
});

describe("edge sizes", () => {
  it("accept positive integers", () => {
    for (const size of [1, 2, 1000]) expect(() => checkSize(size, "a", "t")).not.toThrow();
  });

  it("reject zero, negatives, fractions, NaN and infinities with the number shown", () => {
    for (const size of [0, -1, 2.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(thrown(() => checkSize(size, "batch", "variable \"x\""))).toBe(`variable "x": edge "batch" has size ${String(size)}; sizes are positive integers`);
    }
  });

  it("reject non-numbers, showing the value and its type", () => {
    expect(thrown(() => checkSize("3" as unknown as number, "b", "t"))).toBe(`t: edge "b" has size "3" (a string); sizes are positive integers`);
    expect(thrown(() => checkSize(null as unknown as number, "b", "t"))).toBe(`t: edge "b" has size null (a object); sizes are positive integers`);
  });
});

describe("edge lists", () => {
  it("edgesFrom keeps declaration order and validates each entry", () => {
    expect(edgesFrom({ batch: 8, in: 4 }, "t")).toEqual([{ name: "batch", size: 8 }, { name: "in", size: 4 }]);
    expect(edgesFrom({}, "t")).toEqual([]);
    expect(thrown(() => edgesFrom({ ok: 2, "no way": 3 }, "variable \"v\""))).toMatch(/^variable "v": edge name "no way"/);
    expect(thrown(() => edgesFrom({ ok: 2, n: 0 }, "variable \"v\""))).toBe(`variable "v": edge "n" has size 0; sizes are positive integers`);
  });

  const ab = [{ name: "a", size: 2 }, { name: "b", size: 3 }];

  it("format, list, find and measure", () => {
    expect(formatEdges(ab)).toBe("{a: 2, b: 3}");
    expect(formatEdges([])).toBe("{}");
    expect(edgeNames(ab)).toEqual(["a", "b"]);
    expect(findEdge(ab, "b")).toEqual({ name: "b", size: 3 });
    expect(findEdge(ab, "c")).toBeUndefined();
    expect(hasEdge(ab, "a")).toBe(true);
    expect(hasEdge(ab, "c")).toBe(false);
    expect(volume(ab)).toBe(6);
    expect(volume([])).toBe(1);
  });

  it("sameEdgeSet compares names and sizes, in any order", () => {
    expect(sameEdgeSet(ab, [{ name: "b", size: 3 }, { name: "a", size: 2 }])).toBe(true);
    expect(sameEdgeSet(ab, [{ name: "a", size: 2 }, { name: "b", size: 4 }])).toBe(false);
    expect(sameEdgeSet(ab, [{ name: "a", size: 2 }, { name: "c", size: 3 }])).toBe(false);
    expect(sameEdgeSet(ab, [{ name: "a", size: 2 }])).toBe(false);
    expect(sameEdgeSet(ab, [...ab, { name: "c", size: 1 }])).toBe(false);
  });

  it("unionEdges merges by name in first-seen order", () => {
    expect(unionEdges([ab, [{ name: "c", size: 4 }, { name: "a", size: 2 }]], "mul")).toEqual([...ab, { name: "c", size: 4 }]);
    expect(unionEdges([], "mul")).toEqual([]);
  });

  it("unionEdges names both operands of a size clash, counted from 1", () => {
    const c = [{ name: "c", size: 1 }];
    expect(thrown(() => unionEdges([c, ab, [{ name: "b", size: 5 }]], "add"))).toBe(
      `add: edge "b" has size 3 in operand 2 but size 5 in operand 3 ({a: 2, b: 3} vs {b: 5})`,
    );
  });
});
