import { code, digitLearning, digitsAssertion, md, setup } from "./notebook.js";

export default [
  md(`
    # 04 · PPO

    Reinforcement learning treats generation as a sequence of decisions. The **state** is the
    prompt plus the tokens written so far, the **action** is the next token, the **policy**
    $\\pi_\\theta$ is the language model. A reward arrives at the end of the response. The
    **advantage** $A_t$ says how much better an action was than expected; PPO estimates it with
    a learned value function and GAE, $A_t = \\sum_k (\\gamma\\lambda)^k \\delta_{t+k}$ with
    $\\delta_t = r_t + \\gamma V_{t+1} - V_t$.

    TRPO limits each update to a trust region in KL divergence; PPO replaces that constraint
    with a **clipped ratio** $\\rho_t = \\pi_\\theta(a_t|s_t)/\\pi_{old}(a_t|s_t)$:
    $\\max(-A\\rho, -A\\,\\operatorname{clip}(\\rho, 1-\\epsilon, 1+\\epsilon))$, so moving the
    ratio beyond $1\\pm\\epsilon$ earns nothing. A per-token **KL penalty** to the frozen SFT
    reference keeps the policy from drifting (and from exploiting the reward model).
  `),
  setup,
  code(`
    const e = { batch: 2, t: 3 };
    const [logp, oldLogp, advantages, mask] = ["logp", "oldLogp", "advantages", "mask"].map((n) => variable(n, e));
    const ppo_ = ppoLoss({ logp: logp, oldLogp: oldLogp, advantages: advantages, mask: mask });
    display(ppo_.policyLoss);
    simplify(grad(ppo_.policyLoss, logp))
  `),
  md(`## Training from the SFT checkpoint`),
  code(`
    const summary = await ppo({ size: size, root: root });
    summary
  `),
  code(`
    const rows = readMetrics(\`${"${root}"}/${"${size}"}/ppo/metrics.jsonl\`);
    display(lineChart({ title: "PPO: reward", data: rows, x: "step", y: ["rewardMean"], yTitle: "mean reward per rollout" }));
    lineChart({ title: "PPO: held-out accuracy and KL", data: rows, x: "step", y: ["accuracy", "klFromReference"] })
  `),
  ...digitLearning("PPO", `
    const value = initValueFromPolicy(task.config, reference);
    const optimizers = { policy: adamW(policy, { lr: 1e-2, weightDecay: 0 }), value: adamW(value, { lr: 1e-2, weightDecay: 0 }) };
    const reward = digitShareRewardFunction();
    const trainer = ppoTrainer(task.config, { policy, value, reference }, optimizers, task.train, { rolloutBatch: 64, maxNewTokens: DIGIT_RESPONSE_TOKENS, reward, klCoef: 0.01, seed: 1 });
    for (let i = 0; i < 8; i++) await trainer.iteration(i);
  `),
  md(`
    ## Outcome

    The held-out digit share's rise, held-out exact-match accuracy before and after, and how far the policy moved from the SFT
    reference. (With a learned reward the policy can raise its reward while held-out accuracy
    falls — reward hacking; the KL penalty and the clip limit how fast that happens.)
  `),
  code(`
    if (!(summary.wellFormed >= 0.9)) throw new Error(\`PPO broke the answer format: ${"${summary.wellFormed}"}\`);
    if (!(summary.klFromReference < 2)) throw new Error(\`PPO drifted too far from the reference: KL ${"${summary.klFromReference}"}\`);
    ${digitsAssertion}
    // The target at full size: +10 points. At ci (SFT answers ~13% of problems) 30 iterations
    // move accuracy within its noise, so the arithmetic run checks the mechanics only.
    if (size === "full" && !(summary.accuracy >= summary.initialAccuracy + 0.1)) throw new Error(\`PPO gained less than 10 points: ${"${summary.initialAccuracy}"} → ${"${summary.accuracy}"}\`);
    \`outcome: held-out digit share +${"${digits.delta.toFixed(3)}"} (z ${"${digits.z.toFixed(1)}"}); held-out accuracy ${"${(100 * summary.initialAccuracy).toFixed(1)}"}% → ${"${(100 * summary.accuracy).toFixed(1)}"}%, KL from SFT ${"${summary.klFromReference.toFixed(3)}"} nats, reward ${"${summary.initialRewardMean.toFixed(3)}"} → ${"${summary.rewardMean.toFixed(3)}"}\`
  `),
];
