/**
 * What a user reads when a stage cannot start or has finished: a stage run before the one it
 * starts from names the command and the notebook that make the missing checkpoint (not ENOENT),
 * and the command line ends with a few lines and the report's path, not the summaries' JSON.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { outcomeLines } from "../src/cli/summary.js";
import { grpo } from "../src/pipeline/grpo.js";
import { sft } from "../src/pipeline/sft.js";
import { upstreamCheckpoint } from "../src/pipeline/stage.js";

describe("a stage started before the stage it starts from", () => {
  const root = mkdtempSync(join(tmpdir(), "ricci-guidance-"));

  it("SFT without pretraining says to run pretrain (command or notebook 01) first", async () => {
    const failure = sft({ size: "ci", root });
    await expect(failure).rejects.toThrow(`\`npm run pretrain -- --size ci --root ${root}\``);
    await expect(failure).rejects.toThrow("notebook 01-pretraining.ipynb");
    await expect(failure).rejects.toThrow(join(root, "ci", "pretrain", "checkpoint.ckpt"));
    await expect(failure).rejects.not.toThrow("ENOENT");
  });

  it("an RL stage without SFT says to run sft (notebook 02); the default root is left out of the command", async () => {
    await expect(grpo({ size: "ci", root })).rejects.toThrow(/grpo starts from the sft stage's checkpoint.*npm run sft -- --size ci --root .*02-sft\.ipynb/);
    expect(() => upstreamCheckpoint("runs-that-do-not-exist", "full", "rm", "ppo")).toThrow("npx ricci rm --size full --root runs-that-do-not-exist");
    expect(() => upstreamCheckpoint("runs", "ci", "rm", "ppo")).toThrow(/`npm run rm -- --size ci` .*03-reward-model\.ipynb/);
  });
});

describe("the command line's last lines", () => {
  const rows = ["pretrain", "sft", "rm", "ppo"].map((stage, i) => ({
    stage,
    summary: { testAccuracy: 0.1 * i, accuracy: 0.1 * i + 0.05, testCorrect: "0101".repeat(50), seconds: 60 + i, klFromReference: i > 2 ? 1.5 : undefined },
  }));

  it("after the pipeline: one line per stage with its headline numbers, then the report's path", () => {
    const lines = outcomeLines("pipeline", { report: "runs/ci/report.md", rows, seconds: 754 }, { root: "runs", size: "ci" });
    expect(lines[0]).toBe("pipeline finished in 12.6 min.");
    expect(lines.at(-1)).toBe("Report: runs/ci/report.md");
    expect(lines).toHaveLength(rows.length + 3);
    expect(lines[4]).toBe("  ppo       test accuracy 30.0%, validation accuracy 35.0%, KL from SFT 1.500, 63 s");
    expect(lines.join("\n")).not.toMatch(/[{}]|0101/);
  });

  it("after one stage over --seeds: the seeds report's path", () => {
    expect(outcomeLines("trpo", { report: "runs/full/seeds-trpo.md", seconds: 120 }, { root: "runs", size: "full" })).toEqual([
      "trpo finished in 2.0 min.",
      "Report: runs/full/seeds-trpo.md",
    ]);
  });

  it("after one stage: its headline and its summary file", () => {
    expect(outcomeLines("sft", rows[1].summary, { root: "runs", size: "ci" })).toEqual([
      "sft finished: test accuracy 10.0%, validation accuracy 15.0%, 61 s.",
      "Summary: runs/ci/sft/summary.json",
    ]);
  });
});
