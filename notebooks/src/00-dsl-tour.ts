import { code, md } from "./notebook.js";

export default [
  md(`
    # 00 · A tour of the ricci DSL

    Tensors in ricci have **named edges** instead of axis positions. A product of tensors
    contracts the edges they share (a wire between two boxes of a tensor diagram); edges that
    are not shared stay free. The gradient of an expression is another expression: it can be
    simplified, printed as LaTeX, drawn, differentiated again and compiled to TensorFlow.js.

    Everything from the \`ricci\` package is preloaded in this kernel.
  `),
  code(`
    const W = variable("W", { in: 4, out: 3 });
    const x = variable("x", { batch: 8, in: 4 });
    const logits = dot(x, W); // contracts the shared edge "in"
    logits
  `),
  md(`
    The diagram shows the two boxes joined by the wire \`in\`; the free edges \`batch\` and
    \`out\` dangle. A loss reduces the logits to a scalar: \`logsumexp\` along \`out\`, then the
    mean over all remaining edges.
  `),
  code(`
    const loss = mean(logsumexp(logits, "out"));
    loss
  `),
  md(`
    ## The gradient, derived

    Reverse mode walks the expression from the loss down, one rule per node kind:

    1. \`mean\` over \`batch\` sends the cotangent \`1/8\` to every entry;
    2. \`logsumexp_out(z)\` sends \`ct · softmax_out(z)\` to its argument;
    3. the product \`x · W\` sends to \`W\` the product of that cotangent with the other factor,
       \`x\`, contracting the edges \`W\` does not have (\`batch\`).

    The result is an expression with \`W\`'s edges, in \`W\`'s order:
  `),
  code(`
    const dW = grad(loss, W);
    [edgesOf(dW), toLatex(simplify(dW))]
  `),
  code(`
    simplify(dW)
  `),
  md(`
    ## Checking it against finite differences

    \`evaluate\` computes any expression in float64, in plain JavaScript. Central differences of
    the loss are an independent oracle for the symbolic gradient.
  `),
  code(`
    const rng = makeRng(7);
    const values = {
      W: Float64Array.from({ length: 12 }, () => rng() - 0.5),
      x: Float64Array.from({ length: 32 }, () => rng() * 2 - 1),
    };
    const symbolic = evaluate(dW, values).data;
    const numeric = values.W.map((_, i) => {
      const h = 1e-6;
      const plus = Object.assign({}, values, { W: values.W.map((w, j) => (j === i ? w + h : w)) });
      const minus = Object.assign({}, values, { W: values.W.map((w, j) => (j === i ? w - h : w)) });
      return (evaluate(loss, plus).data[0] - evaluate(loss, minus).data[0]) / (2 * h);
    });
    const gradError = Math.max(...symbolic.map((g, i) => Math.abs(g - numeric[i]))) / Math.max(...numeric.map(Math.abs));
    \`max relative error of the symbolic gradient: ${"${gradError.toExponential(2)}"}\`
  `),
  md(`
    ## Second derivatives

    The gradient is an expression, so it can be differentiated again. \`hvp(loss, W, U)\` is the
    Hessian–vector product — TRPO's Fisher-vector product is built the same way.
  `),
  code(`
    const U = variable("U", { in: 4, out: 3 });
    const HU = hvp(loss, W, U);
    const u = Float64Array.from({ length: 12 }, () => rng() - 0.5);
    const hu = evaluate(HU, Object.assign({}, values, { U: u })).data;
    // Finite differences of the gradient along U.
    const h = 1e-5;
    const gPlus = evaluate(dW, Object.assign({}, values, { W: values.W.map((w, i) => w + h * u[i]) })).data;
    const gMinus = evaluate(dW, Object.assign({}, values, { W: values.W.map((w, i) => w - h * u[i]) })).data;
    const hvpError = Math.max(...hu.map((v, i) => Math.abs(v - (gPlus[i] - gMinus[i]) / (2 * h)))) / Math.max(...hu.map(Math.abs));
    \`max relative error of H·U: ${"${hvpError.toExponential(2)}"}\`
  `),
  md(`
    ## Compiling

    \`compile\` lowers a set of expressions to one function of tensors on the fastest engine
    present: ONNX Runtime (the whole set as one ONNX graph, one native call per run) when
    \`onnxruntime-node\` is installed, else TensorFlow.js (WebAssembly here). Shared
    subexpressions run once; contractions become matrix multiplications.
  `),
  code(`
    await initBackend();
    const step = compile({ loss: loss, dW: dW });
    const out = await step(values);
    const compiledError = Math.max(...Array.from(out.dW.dataSync()).map((g, i) => Math.abs(g - symbolic[i])));
    \`backend ${"${activeBackend()}"}: loss ${"${out.loss.dataSync()[0].toFixed(6)}"}, max |compiled − float64| of dW ${"${compiledError.toExponential(2)}"}\`
  `),
  md(`
    ## Your own functions, stable rewrites and helpful errors

    \`fn\` defines an elementwise function from a formula; mathjs takes its derivative.
    \`simplify\` rewrites \`−log σ(z)\` into the numerically stable \`softplus(−z)\`. And a
    mistake is reported where the expression is built, naming the edges and sizes.
  `),
  code(`
    const gelu = fn("gelu", "0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))");
    const z = variable("z", { batch: 8 });
    display(grad(sum(gelu(z)), z)); // gelu′ comes from mathjs's symbolic derivative
    simplify(neg(log(sigmoid(z))))
  `),
  code(`
    let message = "";
    try {
      dot(x, variable("V", { in: 5, out: 2 }));
    } catch (error) {
      message = (error as Error).message;
    }
    message
  `),
  md(`## Outcome`),
  code(`
    if (!(gradError < 1e-6)) throw new Error(\`symbolic gradient off by ${"${gradError}"}\`);
    if (!(hvpError < 1e-5)) throw new Error(\`Hessian-vector product off by ${"${hvpError}"}\`);
    if (!(compiledError < 1e-4)) throw new Error(\`compiled gradient off by ${"${compiledError}"}\`);
    if (!message.includes("in")) throw new Error("the size-mismatch error does not name the edge");
    \`outcome: gradient, Hessian-vector product and compiled code agree with float64 references (${"${gradError.toExponential(1)}"}, ${"${hvpError.toExponential(1)}"}, ${"${compiledError.toExponential(1)}"})\`
  `),
];
