/**
 * The pipeline report: one Markdown file comparing every stage on held-out data (exact-match
 * accuracy, KL from the SFT reference, time), with each stage's training curves as SVG.
 */
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunSize } from "./sizes.js";

export interface StageRow {
  readonly stage: string;
  readonly summary: Record<string, unknown>;
}

const num = (v: unknown, digits = 3): string => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "–");
const pct = (v: unknown): string => (typeof v === "number" && Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : "–");

const count = (n: number): string => Math.round(n).toLocaleString("en-US");

/**
 * A stage's label budget in words: "1,000 gold answers", "40,000 verifier calls → 7,900 pairs",
 * "none" (pretraining: plain text); a summary without `labels` gives "–".
 */
export function describeLabels(labels: unknown): string {
  if (typeof labels !== "object" || labels === null) return "–";
  const { goldAnswers = 0, verifierCalls = 0, preferencePairs = 0 } = labels as Partial<Record<"goldAnswers" | "verifierCalls" | "preferencePairs", number>>;
  const parts = [
    goldAnswers > 0 ? `${count(goldAnswers)} gold answers` : "",
    verifierCalls > 0 ? `${count(verifierCalls)} verifier calls` : "",
  ].filter((x) => x !== "");
  const used = parts.length === 0 ? "none" : parts.join(", ");
  return preferencePairs > 0 ? `${used} → ${count(preferencePairs)} pairs` : used;
}

/** What a stage trained: "all" weights, or its LoRA adapters, "LoRA rank 8, α 16 (19,328 params)". */
export function describeTrained(lora: unknown): string {
  if (typeof lora !== "object" || lora === null) return "all";
  const { rank, alpha, trainable } = lora as { rank?: number; alpha?: number; trainable?: number };
  const scale = typeof alpha === "number" ? `, α ${alpha}` : "";
  return `LoRA rank ${rank ?? "?"}${scale}${typeof trainable === "number" ? ` (${count(trainable)} params)` : ""}`;
}

/** A stage's headline numbers, from its summary (for a terminal line; report.md has them all): "test accuracy 23.4%, validation accuracy 25.0%, 41 s". */
export function headline(summary: Record<string, unknown>): string {
  const pct = (v: unknown): string | undefined => (typeof v === "number" && Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : undefined);
  const num = (v: unknown): string | undefined => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(3) : undefined);
  const parts: [label: string, value: string | undefined][] = [
    ["test accuracy", pct(summary.testAccuracy)],
    ["validation accuracy", pct(summary.accuracy)],
    ["held-out loss", num(summary.heldOutLoss)],
    ["pairwise accuracy", pct(summary.pairwiseAccuracy)],
    ["KL from SFT", num(summary.klFromReference)],
  ];
  const seconds = typeof summary.seconds === "number" ? [`${summary.seconds.toFixed(0)} s`] : [];
  return [...parts.filter(([, value]) => value !== undefined).map(([label, value]) => `${label} ${value}`), ...seconds].join(", ") || "no numbers";
}

/** How the run went: the backend, the pipeline's wall-clock seconds, and its RL processes. */
export interface RunFacts {
  readonly backend: string;
  readonly seconds: number;
  readonly jobs: number;
}

/** Writes `<root>/<size>/report.md` atomically and returns its path. */
export function writeReport(root: string, size: RunSize, rows: readonly StageRow[], facts: RunFacts): string {
  const dir = join(root, size);
  const lines = [
    `# ricci pipeline report (--size ${size})`,
    "",
    `Backend: ${facts.backend}. Wall clock ${(facts.seconds / 60).toFixed(1)} min for this invocation (stages already finished are`,
    `read back, not rerun), with the RL stages in ${facts.jobs} process${facts.jobs === 1 ? "" : "es"}; a stage's own time is its "seconds".`,
    "Test accuracy is greedy exact match on the task's test side, measured once at each stage's end; the",
    "validation side carries every evaluation during training (and so every choice of settings). KL is",
    "KL(π ‖ π_SFT) per sequence in nats, estimated on sampled validation responses. Labels are what a",
    "stage trained on (evaluation not counted): gold answers, verifier calls (a sampled answer checked),",
    "and the preference pairs made from them; pretraining reads plain text.",
    "",
    "| stage | test accuracy | validation accuracy | well-formed | KL from SFT | labels used | weights trained | other | seconds |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows.map(({ stage, summary: s }) => {
      const other = [
        typeof s.heldOutLoss === "number" ? `held-out loss ${num(s.heldOutLoss)}` : "",
        typeof s.pairwiseAccuracy === "number"
          ? `pairwise accuracy ${pct(s.pairwiseAccuracy)} (test ${pct(s.testPairwiseAccuracy)}; constructed test pairs ${pct(s.testConstructedPairwiseAccuracy)})`
          : "",
        typeof s.preferenceAccuracy === "number" ? `implicit-reward preference accuracy ${pct(s.preferenceAccuracy)}` : "",
      ].filter((x) => x !== "").join("; ");
      return `| ${stage} | ${pct(s.testAccuracy)} | ${pct(s.accuracy)} | ${pct(s.wellFormed)} | ${num(s.klFromReference)} | ${describeLabels(s.labels)} | ${describeTrained(s.lora)} | ${other || "–"} | ${num(s.seconds, 0)} |`;
    }),
    "",
    "## Training curves",
    "",
    ...rows.flatMap(({ stage }) => (existsSync(join(dir, stage, "loss.svg")) ? [`### ${stage}`, "", `![${stage} loss](${stage}/loss.svg)`, ""] : [])),
  ];
  const path = join(dir, "report.md");
  writeFileSync(`${path}.tmp`, `${lines.join("\n")}\n`);
  renameSync(`${path}.tmp`, path);
  return path;
}
