/**
 * Progress and metrics for long runs: a single updating progress line on a terminal (a line
 * every few seconds otherwise, so CI logs stay short), and metrics as JSON lines.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";

/** A stream progress lines can go to (its declared type needs no @types/node in a consumer). */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface ProgressOptions {
  readonly label: string;
  readonly total: number;
  /** Tokens processed per step, for tokens/s. */
  readonly tokensPerStep?: number;
  /** Where to write; default process.stderr, or process.stdout when RICCI_PROGRESS=stdout (the kernel sets it: notebooks show stderr as an error box). Any stream with `write`; a TTY gets one line rewritten in place. */
  readonly stream?: ProgressStream;
  /** Minimum seconds between lines when not a TTY. Default 10. */
  readonly everySeconds?: number;
}

const clock = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
};

/** Where progress lines go: stderr, or stdout when RICCI_PROGRESS=stdout (as the kernel sets). `progressStream().write("pairs: …\n")` */
export const progressStream = (): ProgressStream => (process.env.RICCI_PROGRESS === "stdout" ? process.stdout : process.stderr);

/** `const bar = progress({ label: "pretrain", total: 500 }); bar.update(step, { loss })`. */
export function progress(options: ProgressOptions): { update(step: number, values: Record<string, number>): void; done(): void } {
  const stream = options.stream ?? progressStream();
  const tty = stream.isTTY === true;
  const started = performance.now();
  let firstStep: number | null = null;
  let lastPrint = 0;
  let lastLine = "";
  return {
    update(step, values) {
      const now = performance.now();
      if (firstStep === null) firstStep = step - 1;
      const done = step - firstStep;
      const elapsed = (now - started) / 1000;
      const rate = done / Math.max(elapsed, 1e-9);
      const parts = [
        `${options.label} ${step}/${options.total}`,
        `${rate.toFixed(2)} steps/s`,
        ...(options.tokensPerStep ? [`${Math.round(rate * options.tokensPerStep)} tok/s`] : []),
        ...Object.entries(values).map(([k, v]) => `${k} ${Math.abs(v) >= 100 || v === 0 ? v.toFixed(1) : v.toPrecision(4)}`),
        `ETA ${clock((options.total - step) / rate)}`,
      ];
      lastLine = parts.join(" | ");
      if (tty) stream.write(`\r\x1b[2K${lastLine}`);
      else if (now - lastPrint >= (options.everySeconds ?? 10) * 1000 || step === options.total) {
        stream.write(`${lastLine}\n`);
        lastPrint = now;
      }
    },
    done() {
      if (tty) stream.write("\n");
      else if (lastLine !== "" && !lastLine.includes(`${options.total}/${options.total}`)) stream.write(`${lastLine}\n`);
    },
  };
}

/** Appends one JSON object per line to `path` (creating folders). */
export function metricsWriter(path: string): (record: Record<string, number | string | boolean | null>) => void {
  mkdirSync(dirname(path), { recursive: true });
  return (record) => appendFileSync(path, `${JSON.stringify(record)}\n`);
}

/** The records of a metrics.jsonl file (empty when it does not exist): `readMetrics("runs/ci/sft/metrics.jsonl")`. */
export function readMetrics(path: string): Record<string, number>[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Record<string, number>);
}
