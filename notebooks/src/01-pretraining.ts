import { code, md, setup } from "./notebook.js";

export default [
  md(`
    # 01 · Pretraining a tiny GPT

    A language model is a policy over tokens: given the tokens so far (the **state**), it
    assigns a probability to every next token (the **action**). Pretraining fits it to text by
    maximising the log-probability of each next token — next-token cross-entropy. Here the
    text is a generated corpus of simple sentences and arithmetic facts (no downloads), the
    model is a GPT written in the DSL (RMSNorm, causal attention with RoPE, SwiGLU), and every
    gradient comes from ricci's own symbolic autodiff.
  `),
  setup,
  md(`
    ## The objective and its gradient

    For logits $z_{b,t,v}$ and targets $y_{b,t}$ with a loss mask $m_{b,t}$, the loss is the
    masked mean of $-\\log \\operatorname{softmax}_v(z)[y]$. ricci writes it with
    \`logSoftmax\` (stable) and a one-hot of the targets; its gradient with respect to the
    logits is the familiar $(\\operatorname{softmax}(z) - \\operatorname{onehot}(y))\\,m / \\sum m$:
  `),
  code(`
    const z = variable("logits", { batch: 2, seq: 3, vocab: 5 });
    const y = variable("targets", { batch: 2, seq: 3 });
    const m = variable("mask", { batch: 2, seq: 3 });
    const ce = crossEntropy({ logits: z, targets: y, mask: m });
    display(ce);
    simplify(grad(ce, z))
  `),
  md(`## Training`),
  code(`
    const summary = await pretrain({ size: size, root: root });
    summary
  `),
  code(`
    const rows = readMetrics(\`${"${root}"}/${"${size}"}/pretrain/metrics.jsonl\`);
    lineChart({ title: "pretraining", data: rows, x: "step", y: ["loss", "heldOutLoss"], yTitle: "cross-entropy (nats)" })
  `),
  md(`## Outcome: held-out loss falls well below its value at initialisation (≈ ln 49 = 3.89 nats)`),
  code(`
    const drop = summary.initialHeldOutLoss - summary.heldOutLoss;
    const required = size === "full" ? 3 : 1.5;
    if (!(drop > required)) throw new Error(\`held-out loss fell by only ${"${drop.toFixed(3)}"} nats\`);
    \`outcome: held-out loss ${"${summary.initialHeldOutLoss.toFixed(3)}"} → ${"${summary.heldOutLoss.toFixed(3)}"} nats (−${"${drop.toFixed(3)}"})\`
  `),
];
