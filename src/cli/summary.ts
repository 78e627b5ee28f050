/**
 * What the command line prints when a stage or the pipeline ends: a few lines with the headline
 * numbers and where the full results are (report.md, each stage's summary.json), not the
 * summaries' JSON itself, which stays in those files.
 */
import { join } from "node:path";
import { headline } from "../pipeline/report.js";

export interface RunPlace {
  readonly root: string;
  readonly size: string;
}

/**
 * The lines printed at the end of `ricci <stage>`: for the pipeline, one line per stage and the
 * report's path last (a stage over --seeds: the report's path); for one stage, its headline and
 * its summary.json.
 */
export function outcomeLines(stage: string, result: object, place: RunPlace): string[] {
  const fields = result as Record<string, unknown>;
  const minutes = typeof fields.seconds === "number" ? ` in ${(fields.seconds / 60).toFixed(1)} min` : "";
  if (typeof fields.report === "string") { // the pipeline, or any stage over --seeds
    const rows = Array.isArray(fields.rows) ? (fields.rows as { stage: string; summary: Record<string, unknown> }[]) : [];
    const width = Math.max(0, ...rows.map((row) => row.stage.length));
    return [
      `${stage} finished${minutes}.`,
      ...rows.map((row) => `  ${row.stage.padEnd(width)}  ${headline(row.summary)}`),
      ...(rows.length > 0 ? [`Each stage's numbers: ${join(place.root, place.size, "<stage>", "summary.json")}`] : []),
      `Report: ${fields.report}`,
    ];
  }
  return [`${stage} finished: ${headline(fields)}.`, `Summary: ${join(place.root, place.size, stage, "summary.json")}`];
}
