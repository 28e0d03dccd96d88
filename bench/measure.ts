/**
 * Measuring one run: a fixed number of operations (or a time limit, whichever comes first) kept at a
 * given number in flight, with per-operation latency, the host's event-loop delay, and the CPU time of
 * the host's main thread alone.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { GCProfiler, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** The event-loop delay sampling period, in ms; the reported delay is what exceeds it. */
const ELD_RESOLUTION_MS = 1;

/** One measured run. */
export interface RunSample {
  ops: number;
  seconds: number;
  opsPerSec: number;
  /** Per-operation latency in microseconds, in completion order. */
  latenciesUs: Float64Array;
  /** The event loop's p99 delay beyond its sampling period during the run, in ms. */
  eventLoopDelayP99Ms: number;
  /** CPU time of the main thread during the run, in microseconds. */
  mainCpuUs: number;
}

const clockTicksPerSecond = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

type ThreadCpu = () => { user: number; system: number };

/**
 * How the main thread's own CPU time is read. `process.cpuUsage()` counts every thread of the process
 * (shard workers, GC helpers), which would charge the engine's worker CPU to the host; Node >= 23.9 has
 * `process.threadCpuUsage()`, and on Linux `/proc/self/task/<pid>/stat` is the main thread alone.
 */
export const cpuSource: 'threadCpuUsage' | 'proc-task-stat' | 'process.cpuUsage (all threads)' = (() => {
  if (typeof (process as { threadCpuUsage?: ThreadCpu }).threadCpuUsage === 'function') return 'threadCpuUsage';
  try {
    readFileSync(`/proc/self/task/${process.pid}/stat`);
    return 'proc-task-stat';
  } catch {
    return 'process.cpuUsage (all threads)';
  }
})();

/** The main thread's CPU time so far, in microseconds (10 ms resolution when read from /proc). */
export function mainThreadCpuUs(): number {
  if (cpuSource === 'threadCpuUsage') {
    const usage = (process as unknown as { threadCpuUsage: ThreadCpu }).threadCpuUsage();
    return usage.user + usage.system;
  }
  if (cpuSource === 'proc-task-stat') {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'latin1');
    // The command name may contain spaces: count fields from after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / clockTicksPerSecond;
  }
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** A full garbage collection, made available even when node was started without --expose-gc. */
export const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** Main heap and RSS after a full collection, in bytes. */
export function settledMemory(): { heapUsed: number; rss: number } {
  collectGarbage();
  collectGarbage();
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

/**
 * Runs `op(k)` for k = 0, 1, ... keeping `inFlight` pending, until `maxOps` have been issued or `maxMs`
 * has passed.
 */
export async function drive(op: (k: number) => Promise<unknown>, inFlight: number, maxOps: number, maxMs: number): Promise<RunSample> {
  const latencies = new Float64Array(maxOps);
  let issued = 0;
  let completed = 0;
  const histogram = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  const started = performance.now();
  const deadline = started + maxMs;
  const cpuBefore = mainThreadCpuUs();
  histogram.enable();
  const lane = async (): Promise<void> => {
    while (issued < maxOps && performance.now() < deadline) {
      const k = issued++;
      const t0 = performance.now();
      await op(k);
      latencies[completed++] = (performance.now() - t0) * 1_000;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const seconds = (performance.now() - started) / 1_000;
  histogram.disable();
  const mainCpuUs = mainThreadCpuUs() - cpuBefore;
  // With no timer tick during the run the histogram is empty: the loop was blocked the whole time.
  const eventLoopDelayP99Ms = histogram.count === 0 ? seconds * 1_000 : Math.max(0, histogram.percentile(99) / 1e6 - ELD_RESOLUTION_MS);
  return { ops: completed, seconds, opsPerSec: completed / seconds, latenciesUs: latencies.subarray(0, completed), eventLoopDelayP99Ms, mainCpuUs };
}

/** The `p`-th percentile (0-100) of `values` (sorted in place). */
export function percentile(values: Float64Array, p: number): number {
  if (values.length === 0) return NaN;
  values.sort();
  return values[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;
}

/** The median of a list. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Records the main thread's garbage-collection pauses while started. `v8.GCProfiler` records inside V8's
 * GC callbacks; `PerformanceObserver` 'gc' entries are only created when the event loop turns, so a run
 * that never yields to it (an in-process Map under load) would show none.
 */
export class GcPauses {
  private readonly profiler = new GCProfiler();

  start(): void {
    this.profiler.start();
  }

  /** Stops recording; returns the pauses' count, total, p99 and max in ms. */
  stop(): { count: number; totalMs: number; p99Ms: number; maxMs: number } {
    const durations = (this.profiler.stop()?.statistics ?? []).map((gc) => gc.cost / 1_000);
    if (durations.length === 0) return { count: 0, totalMs: 0, p99Ms: 0, maxMs: 0 };
    const totalMs = durations.reduce((sum, d) => sum + d, 0);
    const maxMs = durations.reduce((m, d) => Math.max(m, d), 0);
    return { count: durations.length, totalMs, p99Ms: percentile(Float64Array.from(durations), 99), maxMs };
  }
}
