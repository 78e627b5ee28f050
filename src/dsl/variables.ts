import { formatEdges, sameEdgeSet } from "./edges.js";
import { RicciError } from "../errors.js";
import { type Expr, type Variable, variablesOf } from "./expr.js";

/** The variables of `roots` by name; throws if one name is declared with two different edge lists. */
export function checkVariables(roots: readonly Expr[]): Map<string, Variable> {
  const byName = new Map<string, Variable>();
  for (const v of variablesOf(roots)) {
    const prior = byName.get(v.name);
    if (prior === undefined) byName.set(v.name, v);
    else if (prior !== v) {
      const how = sameEdgeSet(prior.edges, v.edges) ? "in a different edge order" : "with different edges";
      throw new RicciError(`variable "${v.name}" is used ${how}: ${formatEdges(prior.edges)} and ${formatEdges(v.edges)}`);
    }
  }
  return byName;
}
