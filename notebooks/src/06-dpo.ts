import { code, md, setup } from "./notebook.js";

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
  md(`## Outcome: the implicit reward ranks held-out pairs, and (at full size) answers improve`),
  code(`
    if (!(summary.preferenceAccuracy > summary.initialPreferenceAccuracy + 0.1)) throw new Error(\`implicit-reward accuracy ${"${summary.initialPreferenceAccuracy}"} → ${"${summary.preferenceAccuracy}"}\`);
    // Answer accuracy is compared at full size; at ci the SFT model answers ~2%, one problem's noise.
    if (size === "full" && !(summary.accuracy > summary.initialAccuracy)) throw new Error(\`DPO did not raise held-out accuracy: ${"${summary.initialAccuracy}"} → ${"${summary.accuracy}"}\`);
    \`outcome: implicit-reward preference accuracy ${"${(100 * summary.initialPreferenceAccuracy).toFixed(1)}"}% → ${"${(100 * summary.preferenceAccuracy).toFixed(1)}"}%, held-out accuracy ${"${(100 * summary.initialAccuracy).toFixed(1)}"}% → ${"${(100 * summary.accuracy).toFixed(1)}"}%\`
  `),
];
