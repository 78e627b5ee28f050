/**
 * The first two stages at CI size, end to end: pretraining lowers held-out loss by a clear
 * margin, SFT learns the answer format, artefacts are written, and a rerun resumes (no work);
 * and the child-process runner's failure report.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/index.js";
import { pretrain } from "../src/pipeline/pretrain.js";
import { runStageProcesses } from "../src/pipeline/processes.js";
import { stageSeeds } from "../src/pipeline/seeds.js";
import { sft } from "../src/pipeline/sft.js";

const root = mkdtempSync(join(tmpdir(), "ricci-pipeline-"));

beforeAll(async () => {
  await initBackend();
});

describe("pretrain → sft at --size ci", () => {
  it("pretraining lowers held-out loss by more than 1.5 nats and writes its artefacts", async () => {
    const summary = await pretrain({ size: "ci", root });
    expect(summary.initialHeldOutLoss).toBeGreaterThan(3.5); // ≈ ln 49 = 3.89 at init
    expect(summary.initialHeldOutLoss - summary.heldOutLoss).toBeGreaterThan(1.5);
    const dir = join(root, "ci", "pretrain");
    for (const f of ["checkpoint.ckpt", "metrics.jsonl", "loss.svg", "loss.vl.json", "summary.json"]) expect(existsSync(join(dir, f)), f).toBe(true);
    const lines = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n");
    expect(lines.length).toBe(151); // step 0 evaluation + 150 steps
    expect(readFileSync(join(dir, "loss.svg"), "utf8")).toContain("<svg");
  });

  // 1,200 steps of 32: about 80 s alone on two cores, longer beside other test files.
  it("SFT from the pretrained checkpoint learns the answer format and some arithmetic on held-out prompts", { timeout: 600_000 }, async () => {
    const summary = await sft({ size: "ci", root });
    expect(summary.initialAccuracy).toBeLessThan(0.05);
    expect(summary.wellFormed).toBeGreaterThan(0.9);
    expect(summary.accuracy).toBeGreaterThan(0.06); // 13.0% measured (validation, 200 problems)
    expect(Number.isFinite(summary.heldOutLoss)).toBe(true);
  });

  it("a rerun resumes from the finished checkpoints and does no work", async () => {
    const before = readFileSync(join(root, "ci", "sft", "metrics.jsonl"), "utf8");
    const t0 = performance.now();
    const again = await sft({ size: "ci", root });
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(readFileSync(join(root, "ci", "sft", "metrics.jsonl"), "utf8")).toBe(before);
    expect(again.wellFormed).toBeGreaterThan(0.9);
  });
});

describe("stages in child processes", () => {
  // Runs after the describe above: pretrain and SFT are finished under `root`, so the children only read them back.
  it("resolve to the summaries the stages wrote, in the order asked", async () => {
    const summaries = await runStageProcesses(["sft", "pretrain"], { size: "ci", root, seed: 0 }, 2);
    expect(summaries.map((s) => s.stage)).toEqual(["sft", "pretrain"]);
    expect(summaries[0]).toEqual(JSON.parse(readFileSync(join(root, "ci", "sft", "summary.json"), "utf8")));
  }, 120_000);

  it("one stage over --seeds runs in each seed's folder with its own seed, then writes the stage's seeds report", async () => {
    const { report } = await stageSeeds("pretrain", { size: "ci", root, seeds: 2, seed: 3 });
    const summaryOf = (seed: number) => JSON.parse(readFileSync(join(root, `seed-${seed}`, "ci", "pretrain", "summary.json"), "utf8"));
    const [three, four] = [summaryOf(3), summaryOf(4)];
    expect([three.stage, four.stage]).toEqual(["pretrain", "pretrain"]);
    expect(three.heldOutLoss).not.toBe(four.heldOutLoss); // two seeds, two runs
    expect(report).toBe(join(root, "ci", "seeds-pretrain.md"));
    expect(readFileSync(report, "utf8")).toContain("Seeds 3, 4, each in its own");
  }, 240_000);

  it("report a failing stage by name after the others finish, with their lines prefixed", async () => {
    await expect(runStageProcesses(["no-such-stage", "also-missing"], { size: "ci", root, seed: 0 }, 2)).rejects.toThrow(
      /2 of 2 stages failed:\nstage no-such-stage exited with code 2 .*\nstage also-missing exited with code 2/,
    );
  }, 60_000);
});
