/**
 * The rule table: for each node kind, the rewrites tried in order (the first that applies wins,
 * and its result is simplified again). The last rule of a kind orders its children and edges
 * canonically; the simplifier then gives its free edges canonical names (naming.ts).
 */
import * as b from "../dsl/build.js";
import type { Constant, Delta, Expr, StopGradient } from "../dsl/expr.js";
import {
  canonicalBoundEdge, expOfLogSoftmax, foldConstantArguments, foldEdgeFunctionOfConstant, logOfExp, logOfSigmoid,
  logOfSoftmax, powOfPow, sortElementwiseEdges,
} from "./functions.js";
import { inCanonicalOrder, sortEdges } from "./names.js";
import { type RuleTable, peel } from "./nodes.js";
import {
  canonicalizeProduct, dropRedundantOnes, dropTranspose, flattenNestedProducts, mergeDeltas, pullScalesOutOfFactors,
  splitConstantFactors,
} from "./products.js";
import { removeIdentityRename, renameDelta } from "./renames.js";
import {
  broadcastBeyondTerms, canonicalizeSum, combineLikeTerms, dropZeroTerms, flattenNestedSums, mergeConstantTerms,
  unwrapSingleTerm,
} from "./sums.js";

/** A constant lists its edges in canonical order. Terminates: sorting is idempotent. */
function sortConstantEdges(c: Constant): Expr | null {
  return inCanonicalOrder(c.edges) ? null : b.constant(c.value, sortEdges(c.edges));
}

/** A delta lists its edges in canonical order. Terminates: sorting is idempotent. */
function sortDeltaEdges(d: Delta): Expr | null {
  return inCanonicalOrder(d.edges) ? null : b.delta(sortEdges(d.edges));
}

/** stopGradient(stopGradient(x)) = stopGradient(x); constants have no gradient anyway. Terminates: removes a node. */
function dropRedundantStopGradient(s: StopGradient): Expr | null {
  const x = peel(s.arg).core;
  return x.kind === "stopGradient" || x.kind === "constant" || x.kind === "delta" ? s.arg : null;
}

export const RULES: RuleTable = {
  variable: [],
  constant: [sortConstantEdges],
  delta: [sortDeltaEdges],
  oneHot: [],
  product: [
    flattenNestedProducts,
    pullScalesOutOfFactors,
    splitConstantFactors,
    dropRedundantOnes,
    mergeDeltas,
    dropTranspose,
    canonicalizeProduct,
  ],
  sum: [
    flattenNestedSums,
    dropZeroTerms,
    combineLikeTerms,
    mergeConstantTerms,
    broadcastBeyondTerms,
    unwrapSingleTerm,
    canonicalizeSum,
  ],
  elementwise: [
    foldConstantArguments,
    logOfExp,
    logOfSigmoid,
    logOfSoftmax,
    expOfLogSoftmax,
    powOfPow,
    sortElementwiseEdges,
  ],
  edgeFunction: [foldEdgeFunctionOfConstant, canonicalBoundEdge],
  rename: [removeIdentityRename, renameDelta],
  stopGradient: [dropRedundantStopGradient],
};
