/**
 * Measuring one run. tinybench runs the task and gives the statistics (mean, percentiles, margin of error,
 * samples); what it does not measure is here: the host's event-loop delay and the CPU time of the host's
 * main thread alone during the run, memory after full collections, and garbage-collection pauses.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { GCProfiler, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Bench } from 'tinybench';

/** The event-loop delay sampling period, in ms; the reported delay is what exceeds it. */
const ELD_RESOLUTION_MS = 1;

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

/** What one measured task run gives: tinybench's statistics, and what the project measures around it. */
export interface TaskFigures {
  /** Operations completed: calls x operations per call. */
  ops: number;
  /** Calls of the task (tinybench's samples). */
  samples: number;
  /** The calls' summed time, in seconds. */
  seconds: number;
  /** Operations per call / the mean time of a call. */
  opsPerSec: number;
  /**
   * tinybench's relative margin of error of the mean call time (95%, Student's t), in %: to first order
   * the relative margin of `opsPerSec` too.
   */
  rmePct: number;
  /** The time of one call, in microseconds: tinybench's mean and percentiles. */
  meanUs: number;
  p50Us: number;
  p99Us: number;
  /** The event loop's p99 delay beyond its sampling period during the run, in ms. */
  eventLoopDelayP99Ms: number;
  /** CPU time of the main thread during the run, in microseconds. */
  mainCpuUs: number;
}

/** How long a run lasts: `maxMs` or `maxOps` operations, whichever comes first. */
export interface RunLimits {
  maxMs: number;
  maxOps: number;
}

/** tinybench's minimum calls per run (its default, 64, would make a slow batch run for seconds). */
const MIN_SAMPLES = 4;

/**
 * A task that issues `inFlight` calls of `op` at once and awaits them all (`op(k)` for consecutive k
 * across calls). At 1 in flight a call is one operation, so tinybench's latencies are the operation's.
 */
export function batchOf(op: (k: number) => Promise<unknown>, inFlight: number): () => Promise<unknown> {
  let next = 0;
  if (inFlight === 1) return () => op(next++);
  return () => {
    const pending = new Array<Promise<unknown>>(inFlight);
    for (let i = 0; i < inFlight; i++) pending[i] = op(next++);
    return Promise.all(pending);
  };
}

/**
 * Calls `task` until `ms` have passed or it was called `maxCalls` times (an untimed warm-up; the cap keeps
 * writes from growing the store by more than a run would).
 */
export async function warmUp(task: () => Promise<unknown>, ms: number, maxCalls = Number.POSITIVE_INFINITY): Promise<void> {
  const deadline = performance.now() + ms;
  for (let calls = 0; calls < maxCalls && performance.now() < deadline; calls++) await task();
}

/**
 * Runs `task` as one tinybench task (no warm-up of tinybench's own: the caller warms up) until `limits`
 * are reached, with the event loop's delay and the main thread's CPU time measured around the run.
 * `opsPerCall` is the operations one call of `task` completes.
 */
export async function measureTask(name: string, task: () => Promise<unknown>, opsPerCall: number, limits: RunLimits): Promise<TaskFigures> {
  const maxCalls = Math.max(MIN_SAMPLES, Math.floor(limits.maxOps / opsPerCall));
  const stop = new AbortController();
  let calls = 0;
  const bench = new Bench({ name, time: limits.maxMs, iterations: MIN_SAMPLES, warmup: false });
  // The abort ends tinybench's loop once this call completes: a run never exceeds its operation cap.
  bench.add(
    name,
    () => {
      if (++calls >= maxCalls) stop.abort();
      return task();
    },
    { signal: stop.signal },
  );
  const histogram = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  const cpuBefore = mainThreadCpuUs();
  histogram.enable();
  const started = performance.now();
  await bench.run();
  const wallMs = performance.now() - started;
  histogram.disable();
  const mainCpuUs = mainThreadCpuUs() - cpuBefore;
  const result = bench.tasks[0]!.result;
  if (result.state !== 'completed' && result.state !== 'aborted-with-statistics') {
    throw new Error(`${name}: ${result.state === 'errored' ? result.error.message : `tinybench ended in state ${result.state}`}`);
  }
  const { latency } = result;
  // With no timer tick during the run the histogram is empty: the loop was blocked the whole time.
  const eventLoopDelayP99Ms = histogram.count === 0 ? wallMs : Math.max(0, histogram.percentile(99) / 1e6 - ELD_RESOLUTION_MS);
  return {
    ops: latency.samplesCount * opsPerCall,
    samples: latency.samplesCount,
    seconds: result.totalTime / 1_000,
    opsPerSec: (opsPerCall * 1_000) / latency.mean,
    rmePct: latency.rme,
    meanUs: latency.mean * 1_000,
    p50Us: latency.p50 * 1_000,
    p99Us: latency.p99 * 1_000,
    eventLoopDelayP99Ms,
    mainCpuUs,
  };
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
