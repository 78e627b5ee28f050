import { code, digitLearning, digitsAssertion, md, setup } from "./notebook.js";

export default [
  md(`
    # 07 · TRPO

    TRPO maximises the surrogate $L(\\theta) = \\mathbb{E}[\\rho_t A_t]$ subject to a **trust
    region** $\\overline{KL}(\\pi_{old} \\| \\pi_\\theta) \\le \\delta$. Near the current policy the
    KL is quadratic, $\\tfrac12 \\Delta^\\top F \\Delta$ with $F$ the Fisher matrix, so the step is
    the natural gradient $F^{-1} g$, found by conjugate gradient, scaled to the boundary
    $\\sqrt{2\\delta / g^\\top F^{-1} g}$, then shrunk by a line search until the measured KL is
    within $\\delta$ and the surrogate improves. $F$ is never formed: conjugate gradient only
    needs products $F v$, and ricci derives them symbolically as the second derivative of the KL.
  `),
  setup,
  code(`
    const x = variable("x", { batch: 2, t: 3, in: 4 });
    const W = variable("W", { in: 4, vocab: 5 });
    const V = variable("V", { in: 4, vocab: 5 });
    const actions = variable("actions", { batch: 2, t: 3 });
    const advantages = variable("advantages", { batch: 2, t: 3 });
    const objective = trpoObjective({ logits: dot(x, W), actions: actions, advantages: advantages });
    display(objective.kl);
    hvp(objective.kl, W, V) // the Fisher-vector product F·V, an expression with W's edges
  `),
  md(`## Training from the SFT checkpoint`),
  code(`
    const summary = await trpo({ size: size, root: root });
    summary
  `),
  code(`
    const rows = readMetrics(\`${"${root}"}/${"${size}"}/trpo/metrics.jsonl\`);
    lineChart({ title: "TRPO: measured KL of each proposed step, and of the accepted one", data: rows, x: "step", y: ["proposedKl", "kl", "klBound"] })
  `),
  ...digitLearning("TRPO", `
    // A larger trust region (δ = 0.05) than the arithmetic run's: this signal is strong and the model tiny.
    const trainer = trpoTrainer(task.config, policy, task.train, { promptsPerStep: 8, groupSize: 8, maxKl: 0.05, maxNewTokens: DIGIT_RESPONSE_TOKENS, reward: digitShareRewardFunction(), seed: 1 });
    for (let i = 0; i < 10; i++) await trainer.iteration(i);
  `),
  md(`
    ## Outcome: the held-out digit share rises, and every proposed step stays within 1.5δ

    The KL is measured on every step the natural gradient proposes, accepted or not: if it
    exceeded 1.5δ the quadratic model of the KL, which sets the step's length, would be wrong.
    At full size the notebook also asserts that the rollout reward rises, which TRPO does not
    yet achieve: successive batches' gradients are nearly uncorrelated (the \`gradCosine\`
    column of the metrics), so each trust-region step spends δ on its own batch's noise — see
    the README's measurements.
  `),
  code(`
    if (!(summary.maxStepKl <= 1.5 * summary.klBound)) throw new Error(\`a proposed step's KL ${"${summary.maxStepKl}"} exceeds 1.5 × δ = ${"${1.5 * summary.klBound}"}\`);
    ${digitsAssertion}
    // The reward is compared at full size; at ci it is mostly format credit (~13% correct).
    if (size === "full" && !(summary.rewardMean > summary.initialRewardMean)) throw new Error(\`the rollout reward did not rise: ${"${summary.initialRewardMean}"} → ${"${summary.rewardMean}"}\`);
    \`outcome: held-out digit share +${"${digits.delta.toFixed(3)}"} (z ${"${digits.z.toFixed(1)}"}); max proposed-step KL ${"${summary.maxStepKl.toFixed(5)}"} ≤ 1.5δ = ${"${(1.5 * summary.klBound).toFixed(5)}"}, reward ${"${summary.initialRewardMean.toFixed(3)}"} → ${"${summary.rewardMean.toFixed(3)}"}, held-out accuracy ${"${(100 * summary.initialAccuracy).toFixed(1)}"}% → ${"${(100 * summary.accuracy).toFixed(1)}"}%\`
  `),
];
