import { code, digitLearning, digitsAssertion, md, setup } from "./notebook.js";

export default [
  md(`
    # 06 · DPO

    DPO skips the reward model and the sampling loop. Its insight: the optimal policy of the
    KL-regularised RL problem defines an **implicit reward** $\\beta \\log(\\pi_\\theta / \\pi_{ref})$,
    so the Bradley–Terry loss can be written directly in terms of the policy:
    $-\\log\\sigma\\big(\\beta[(\\log\\pi(y_w) - \\log\\pi_{ref}(y_w)) - (\\log\\pi(y_l) - \\log\\pi_{ref}(y_l))]\\big)$.
    ricci's default adds the RPO term (TRL's \`rpo_alpha\`): the likelihood of the chosen
    answers, which keeps plain DPO from lowering both likelihoods at once.

    The pairs are the reward model's (notebook 03): the SFT policy's own answers, an accepted
    one against a rejected one as the verifier judged them, with no gold answer read. The
    chosen answers are the policy's own correct samples, so the RPO term here reinforces what
    the policy already gets right sometimes, rather than imitating a teacher.
  `),
  setup,
  code(`
    const be = { batch: 4 };
    const [policyChosen, policyRejected, referenceChosen, referenceRejected] = ["pc", "pr", "rc", "rr"].map((n) => variable(n, be));
    const d = dpoLoss({ policyChosen: policyChosen, policyRejected: policyRejected, referenceChosen: referenceChosen, referenceRejected: referenceRejected });
    display(d.loss);
    simplify(grad(d.loss, policyChosen))
  `),
  md(`## Training from the SFT checkpoint`),
  code(`
    const summary = await dpo({ size: size, root: root });
    summary
  `),
  code(`
    lineChart({ title: "DPO", data: readMetrics(\`${"${root}"}/${"${size}"}/dpo/metrics.jsonl\`), x: "step", y: ["loss"], yTitle: "loss" })
  `),
  ...digitLearning("DPO", `
    // Pairs from the reference's own samples: per prompt, the one with most digits over the one with fewest.
    const pairs = await digitPairs(task.config, reference, task.train.slice(0, 128), 11);
    const objective = dpoObjective(task.config, pairs.length, { beta: 0.1 });
    const inputs = objective.inputs(packPreferencePairs(pairs, task.config.context), pairLogProbs(task.config, reference, pairs));
    const optimizer = adamW(policy, { lr: 1e-2, weightDecay: 0 });
    for (let step = 0; step < 30; step++) {
      const { grads } = objective.objective.run(policy, inputs);
      optimizer.step(grads);
      Object.values(grads).forEach((g) => g.dispose());
    }
  `),
  md(`## Outcome: the held-out digit share rises, the implicit reward ranks held-out pairs, and (at full size) answers improve`),
  code(`
    if (!(summary.preferenceAccuracy > summary.initialPreferenceAccuracy + 0.1)) throw new Error(\`implicit-reward accuracy ${"${summary.initialPreferenceAccuracy}"} → ${"${summary.preferenceAccuracy}"}\`);
    ${digitsAssertion}
    // Answer accuracy is compared at full size; at ci (~13% on 200 problems) a few points are noise.
    if (size === "full" && !(summary.accuracy > summary.initialAccuracy)) throw new Error(\`DPO did not raise held-out accuracy: ${"${summary.initialAccuracy}"} → ${"${summary.accuracy}"}\`);
    \`outcome: held-out digit share +${"${digits.delta.toFixed(3)}"} (z ${"${digits.z.toFixed(1)}"}); implicit-reward preference accuracy ${"${(100 * summary.initialPreferenceAccuracy).toFixed(1)}"}% → ${"${(100 * summary.preferenceAccuracy).toFixed(1)}"}%, held-out accuracy ${"${(100 * summary.initialAccuracy).toFixed(1)}"}% → ${"${(100 * summary.accuracy).toFixed(1)}"}%\`
  `),
];
