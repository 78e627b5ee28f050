/** Timing helpers for benchmarks: medians of repeated runs, after warm-up. */
export async function medianMs(run: () => unknown, options: { warmup?: number; repeats?: number } = {}): Promise<number> {
  for (let i = 0; i < (options.warmup ?? 2); i++) await run();
  const times: number[] = [];
  for (let i = 0; i < (options.repeats ?? 7); i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
