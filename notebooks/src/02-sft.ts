import { code, md, setup } from "./notebook.js";

export default [
  md(`
    # 02 · Supervised fine-tuning on arithmetic

    SFT shows the model demonstrations: prompts like \`what is 17+25?\` followed by the answer
    \`=42\` and an end-of-sequence token. The loss is the same next-token cross-entropy as in
    pretraining, but a **loss mask** keeps only the response tokens: the model is not trained
    to predict the prompt. Train and test problems are split by a fixed hash of the problem.
  `),
  setup,
  code(`
    const { train, test } = arithmeticProblems("default");
    [train.slice(0, 3).map((p) => \`${"${p.prompt}"} ${"${formatExample(p).response}"}\`), \`${"${train.length}"} train / ${"${test.length}"} test problems\`]
  `),
  code(`
    const batch = packSft(train.slice(0, 2).map(formatExample), charTokenizer, 24);
    // Which target positions count: only the answer and the end token.
    Array.from({ length: 2 }, (_, r) => charTokenizer.decode(Array.from(batch.targets.slice(r * 24, r * 24 + 24)).filter((_, t) => batch.lossMask[r * 24 + t] === 1)))
  `),
  md(`
    The objective is pretraining's cross-entropy with the response mask $m$ in front: the
    gradient with respect to the logits vanishes wherever $m = 0$.
  `),
  code(`
    const z = variable("logits", { batch: 2, seq: 3, vocab: 5 });
    const y = variable("targets", { batch: 2, seq: 3 });
    const m = variable("responseMask", { batch: 2, seq: 3 });
    const sftLoss = crossEntropy({ logits: z, targets: y, mask: m });
    display(sftLoss);
    simplify(grad(sftLoss, z))
  `),
  md(`## Training from the pretrained checkpoint`),
  code(`
    const summary = await sft({ size: size, root: root });
    summary
  `),
  code(`
    const rows = readMetrics(\`${"${root}"}/${"${size}"}/sft/metrics.jsonl\`);
    lineChart({ title: "SFT", data: rows, x: "step", y: ["loss", "heldOutLoss"], yTitle: "masked cross-entropy (nats)" })
  `),
  code(`
    const model = SIZES[size].model;
    const checkpoint = await loadCheckpoint(\`${"${root}"}/${"${size}"}/sft/checkpoint.ckpt\`, { expectConfig: model });
    const report = await exactMatch(model, checkpoint.params, evalProblems(size).slice(0, 8));
    report.samples.map((s) => \`${"${s.prompt}"} ${"${s.response}"} ${"${s.correct ? \"✓\" : \"✗\"}"}\`)
  `),
  md(`
    ## Outcome

    At full size SFT lands between 40% and 85% held-out exact match — good, but with room for
    reinforcement learning to improve. At CI size the small model learns the answer format.
  `),
  code(`
    if (size === "full" && !(summary.accuracy >= 0.4 && summary.accuracy <= 0.85)) throw new Error(\`SFT accuracy ${"${summary.accuracy}"} is outside [0.40, 0.85]\`);
    if (!(summary.wellFormed > 0.9)) throw new Error(\`only ${"${summary.wellFormed}"} of answers are well-formed\`);
    \`outcome: held-out exact match ${"${(100 * summary.initialAccuracy).toFixed(1)}"}% → ${"${(100 * summary.accuracy).toFixed(1)}"}%, well-formed ${"${(100 * summary.wellFormed).toFixed(1)}"}%\`
  `),
];
