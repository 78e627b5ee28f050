/**
 * How long the ricci kernel takes to start, as Jupyter sees it: from launching the kernel to its
 * kernel_info reply (jupyter_client's wait_for_ready: when a notebook shows the kernel idle), and
 * to the result of a first cell (`1 + 1`: the TypeScript session and ricci are ready); with the
 * CPU time the kernel had used when its session was ready (from its log line). Medians of --runs
 * starts (default 5), each a fresh kernel in notebooks/, through Debian's jupyter_client.
 * Writes bench/results/kernel-startup.json.
 *
 *   npm run bench:kernel-startup                                  # this checkout's built kernel
 *   npm run bench:kernel-startup -- --baseline <dir>/share/jupyter/kernels --baseline-label main
 *     # and another kernelspec (e.g. an older checkout's), alternating with this one run by run
 *     # so that both see the same load on the machine
 */
import { spawnSync } from "node:child_process";
import { cpus, loadavg, tmpdir } from "node:os";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { installKernelSpec } from "../kernels/ricci/install.js";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const PYTHON = "/usr/bin/python3";

/** Starts each kernel in turn, `runs` times, and prints [{label, kernelInfoMs, firstResultMs}, …] as JSON. */
const MEASURE = `
import json, sys, time
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
kernels, runs, cwd = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
results = []
for _ in range(runs):
    for label, kernel_dir in kernels:
        km = KernelManager(kernel_name="ricci", kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernel_dir]))
        started = time.monotonic()
        km.start_kernel(cwd=cwd)
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=120)
        ready = time.monotonic()
        reply = kc.execute_interactive("1 + 1", timeout=120, output_hook=lambda msg: None)
        done = time.monotonic()
        if reply["content"]["status"] != "ok":
            raise SystemExit(f"{label}: the first cell failed: {reply['content']}")
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        results.append({"label": label, "kernelInfoMs": round((ready - started) * 1000), "firstResultMs": round((done - started) * 1000)})
        print(f"{label}: kernel_info {results[-1]['kernelInfoMs']} ms, first result {results[-1]['firstResultMs']} ms", file=sys.stderr, flush=True)
print(json.dumps(results))
`;

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? undefined : process.argv[at + 1];
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : Math.round((sorted[mid - 1] + sorted[mid]) / 2);
};

const runs = Number(option("runs") ?? 5);
const prefix = mkdtempSync(join(tmpdir(), "ricci-kernel-startup-"));
const kernels: [label: string, kernelDir: string][] = [["this checkout", join(installKernelSpec({ prefix }), "..")]];
const baseline = option("baseline");
if (baseline !== undefined) kernels.unshift([option("baseline-label") ?? "baseline", resolve(baseline)]);

const loadBefore = loadavg()[0];
const measured = spawnSync(PYTHON, ["-c", MEASURE, JSON.stringify(kernels), String(runs), join(ROOT, "notebooks")], {
  encoding: "utf8",
  stdio: ["ignore", "pipe", "pipe"],
  env: { ...process.env, JUPYTER_RUNTIME_DIR: join(prefix, "runtime") },
});
rmSync(prefix, { recursive: true, force: true });
process.stderr.write(measured.stderr);
if (measured.status !== 0) throw new Error(`measuring with ${PYTHON} and jupyter_client failed (exit ${measured.status})`);
// Each kernel logs one line when its session is ready (the kernels inherit stderr), in the order they ran.
const sessions = [...measured.stderr.matchAll(/ricci kernel: ready (\d+) ms after the process started, (\d+) ms of CPU/g)].map((m) => ({
  sessionReadyMs: Number(m[1]),
  cpuMs: Number(m[2]),
}));
const results = (JSON.parse(measured.stdout) as { label: string; kernelInfoMs: number; firstResultMs: number }[]).map((r, i) => ({ ...r, ...sessions[i] }));
if (sessions.length !== results.length) throw new Error(`expected one "ricci kernel: ready" line per start, got ${sessions.length} for ${results.length} starts`);

const summary = Object.fromEntries(
  kernels.map(([label]) => {
    const mine = results.filter((r) => r.label === label);
    return [label, {
      kernelInfoMedianMs: median(mine.map((r) => r.kernelInfoMs)),
      firstResultMedianMs: median(mine.map((r) => r.firstResultMs)),
      // The kernel's own account: its process's age when the session was ready, and the CPU time
      // it had used by then (all threads); CPU time moves less with the machine's load.
      cpuMedianMs: median(mine.map((r) => r.cpuMs)),
      kernelInfoMs: mine.map((r) => r.kernelInfoMs),
      firstResultMs: mine.map((r) => r.firstResultMs),
      sessionReadyMs: mine.map((r) => r.sessionReadyMs),
      cpuMs: mine.map((r) => r.cpuMs),
    }];
  }),
);
for (const [label, s] of Object.entries(summary)) {
  console.log(
    `${label}: kernel_info reply ${s.kernelInfoMedianMs} ms, first cell's result ${s.firstResultMedianMs} ms, ` +
      `${s.cpuMedianMs} ms of CPU by then (medians of ${runs})`,
  );
}
const result = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  // The machine's 1-minute load average before and after: on a shared machine it moves the numbers.
  loadAverage: [Math.round(loadBefore * 10) / 10, Math.round(loadavg()[0] * 10) / 10],
  runs,
  cwd: "notebooks/",
  ...summary,
};
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(join(ROOT, "bench", "results", "kernel-startup.json"), `${JSON.stringify(result, null, 2)}\n`);
