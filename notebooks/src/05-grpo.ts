import { code, digitLearning, digitsAssertion, md, setup } from "./notebook.js";

export default [
  md(`
    # 05 · GRPO

    GRPO (DeepSeekMath) drops PPO's value network. For each prompt it samples a **group** of
    $G$ responses, scores them with a rule (answer correct + format, as in DeepSeek-R1), and
    uses the group's own statistics as the baseline: $A_i = (r_i - \\operatorname{mean}_g r) /
    (\\operatorname{std}_g r + \\epsilon)$, the same advantage for every token of response $i$.
    The objective keeps PPO's clipped ratio and adds the k3 estimator of the KL to the
    reference, $e^{\\text{ref} - \\log\\pi} - (\\text{ref} - \\log\\pi) - 1 \\ge 0$. A group
    whose responses all get the same reward teaches nothing: its advantages are exactly zero.
  `),
  setup,
  code(`
    const te = { group: 2, sample: 3, t: 4 };
    const [logp, oldLogp, refLogp, mask] = ["logp", "oldLogp", "refLogp", "mask"].map((n) => variable(n, te));
    const rewards = variable("rewards", { group: 2, sample: 3 });
    const g = grpoLoss({ logp: logp, oldLogp: oldLogp, refLogp: refLogp, rewards: rewards, mask: mask });
    display(grpoAdvantages(rewards));
    display(g.kl);
    simplify(grad(g.loss, logp))
  `),
  md(`
    The gradient is too long for one formula, so it displays as a derivation: first in terms of
    named parts (capital letters, each with its edges as subscripts), then each part defined below
    it, *where …*, beside its own diagram. A part used several times is defined once. Edges that
    simplification introduced print with primes: $\\mathrm{sample}'$ is a second copy of the
    \`sample\` edge, summed over inside the group's statistics.
  `),
  md(`## Training from the SFT checkpoint`),
  code(`
    const summary = await grpo({ size: size, root: root });
    summary
  `),
  code(`
    const rows = readMetrics(\`${"${root}"}/${"${size}"}/grpo/metrics.jsonl\`);
    lineChart({ title: "GRPO: rollout reward", data: rows, x: "step", y: ["rewardMean"], yTitle: "mean rule reward" })
  `),
  ...digitLearning("GRPO", `
    const trainer = grpoTrainer(task.config, policy, reference, task.train, { promptsPerStep: 8, groupSize: 8, maxNewTokens: DIGIT_RESPONSE_TOKENS, beta: 0.01, reward: digitShareReward(), seed: 1 });
    const optimizer = adamW(policy, { lr: 2e-2, weightDecay: 0 });
    await trainLoop({ label: "grpo (digits)", steps: 15, trainer: gradientTrainer({ config: task.config, params: policy, optimizer, microstep: trainer.microstep }) });
  `),
  md(`## Outcome: the held-out digit share rises; held-out accuracy over the SFT start (+10 points at full size)`),
  code(`
    if (!(summary.wellFormed >= 0.9)) throw new Error(\`GRPO broke the answer format: ${"${summary.wellFormed}"}\`);
    ${digitsAssertion}
    // The target at full size: +10 points. At ci (SFT answers ~13% of problems) 40 steps move
    // accuracy within its noise, so the arithmetic run checks the mechanics only.
    if (size === "full" && !(summary.accuracy >= summary.initialAccuracy + 0.1)) throw new Error(\`GRPO gained less than 10 points: ${"${summary.initialAccuracy}"} → ${"${summary.accuracy}"}\`);
    \`outcome: held-out digit share +${"${digits.delta.toFixed(3)}"} (z ${"${digits.z.toFixed(1)}"}); held-out accuracy ${"${(100 * summary.initialAccuracy).toFixed(1)}"}% → ${"${(100 * summary.accuracy).toFixed(1)}"}%, KL from SFT ${"${summary.klFromReference.toFixed(3)}"} nats\`
  `),
];
