import { code, md, setup } from "./notebook.js";

export default [
  md(`
    # 03 · A reward model from preferences

    RLHF replaces a hand-written reward with a learned one. A reward model reads a prompt and
    a response and outputs a scalar score $r(p, y)$. It is trained on **preference pairs** —
    for the same prompt, a chosen response $y_w$ and a rejected one $y_l$ — with the
    Bradley–Terry model: $P(y_w \\succ y_l) = \\sigma(r(p, y_w) - r(p, y_l))$, so the loss is
    $-\\log \\sigma(r_w - r_l - \\text{margin})$.

    Where do the pairs come from? Here, from the SFT policy itself, judged by the verifier: for
    each prompt it samples a few answers, and one the verifier accepts is paired with one it
    rejects. No gold answer is read — the label budget is verifier calls, as in RL from rewards
    (\`RM_SETTINGS.labels\` = "gold" builds pairs from the gold answers instead).

    Two ways to read $r$ off a GPT initialised from SFT (\`RM_SETTINGS.head\`):
    - **lastToken** (TRL's sequence classifier): replace the language-model head by a scalar
      head read at the response's last token. It starts at chance (50%) and must learn to check
      the whole answer in that one position.
    - **likelihood** (a generative reward model, the default): keep the language-model head and
      score a response by its log-likelihood $r(p, y) = \\sum_t \\log \\pi_\\phi(y_t \\mid p, y_{<t})$.
      It starts at the SFT model's own ranking of the pair; Bradley–Terry sharpens it, and a
      small NLL term on the chosen answers (as in RPO) keeps it learning the arithmetic.
  `),
  setup,
  code(`
    const chosen = variable("r_w", { pair: 4 });
    const rejected = variable("r_l", { pair: 4 });
    const bt = bradleyTerryLoss({ chosen: chosen, rejected: rejected });
    display(bt);
    // −log σ(x) is rewritten to the stable softplus(−x); its gradient is −σ(−x) per pair.
    simplify(grad(bt, chosen))
  `),
  code(`
    // Sampled once per run and kept in runs/<size>/pairs/pairs.json; the DPO notebook reads the same pairs.
    const pairs = await stagePairs({ size: size, root: root, seed: 0 }, SIZES[size].model);
    display(\`${"${pairs.train.length}"} train pairs from ${"${pairs.trainVerifierCalls}"} verifier calls\`);
    pairs.train.slice(0, 4).map((p) => \`${"${p.prompt}"}  chosen ${"${p.chosen}"}  rejected ${"${p.rejected}"} (${"${p.rejectedKind}"})\`)
  `),
  md(`## Training`),
  code(`
    const summary = await rewardModel({ size: size, root: root });
    summary
  `),
  code(`
    lineChart({ title: "reward model", data: readMetrics(\`${"${root}"}/${"${size}"}/rm/metrics.jsonl\`), x: "step", y: ["loss", "heldOutLoss"], yTitle: "Bradley–Terry loss" })
  `),
  md(`
    ## Outcome: held-out pairwise accuracy

    The fraction of held-out pairs (validation prompts, never seen in training) where the reward
    model scores the chosen response above the rejected one, overall and per kind of rejected
    response: malformed answers are easy, answers off by one or by ten need the arithmetic.
  `),
  code(`
    summary.accuracyByKind
  `),
  code(`
    // The sampled pairs are harder than constructed ones (mostly near misses of the policy's own).
    const required = size === "full" ? 0.8 : 0.65;
    if (!(summary.pairwiseAccuracy >= required)) throw new Error(\`pairwise accuracy ${"${summary.pairwiseAccuracy}"} < ${"${required}"}\`);
    if (!(summary.pairwiseAccuracy >= summary.initialPairwiseAccuracy + 0.05)) throw new Error(\`training raised the pairwise accuracy by less than 5 points: ${"${summary.initialPairwiseAccuracy}"} → ${"${summary.pairwiseAccuracy}"}\`);
    \`outcome: held-out pairwise accuracy ${"${(100 * summary.initialPairwiseAccuracy).toFixed(1)}"}% → ${"${(100 * summary.pairwiseAccuracy).toFixed(1)}"}%\`
  `),
];
