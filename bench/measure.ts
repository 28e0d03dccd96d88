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
  /** Operations completed (tinybench's samples: one per operation). */
  ops: number;
  /** The run's wall time, in seconds. */
  seconds: number;
  /** Operations / wall time. */
  opsPerSec: number;
  /**
   * tinybench's relative margin of error of the mean operation latency (95%, Student's t), in %. With a
   * constant number in flight, ops/s = in flight / mean latency (Little's law): the same relative margin.
   */
  rmePct: number;
  /** One operation's latency (call to settled promise), in microseconds: tinybench's mean and percentiles. */
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

/** tinybench's minimum samples of a run at 1 in flight (its default, 64, would make a slow operation run for seconds). */
const MIN_SAMPLES = 4;

/**
 * Calls `op(k)` for k = 0, 1, ... keeping `inFlight` pending until `ms` have passed or `maxOps` were
 * issued (an untimed warm-up; the cap keeps writes from growing the store by more than a run would).
 */
export async function warmUp(op: () => Promise<unknown>, inFlight: number, ms: number, maxOps = Number.POSITIVE_INFINITY): Promise<void> {
  const deadline = performance.now() + ms;
  let issued = 0;
  const lane = async (): Promise<void> => {
    while (issued < maxOps && performance.now() < deadline) {
      issued++;
      await op();
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

/**
 * Runs `op` as one tinybench task, keeping `inFlight` operations pending (tinybench's `concurrency: 'task'`
 * with `threshold: inFlight`; at 1 in flight, its sequential loop) until `limits` are reached, with the
 * event loop's delay and the main thread's CPU time measured around the run. tinybench's warm-up is off:
 * the caller warms up.
 */
export async function measureTask(name: string, op: () => Promise<unknown>, inFlight: number, limits: RunLimits): Promise<TaskFigures> {
  const concurrent = inFlight > 1;
  const stop = new AbortController();
  let issued = 0;
  // Concurrent, tinybench's `iterations` caps the operations; sequential, it is a minimum, and the abort
  // ends its loop once the operation that reaches the cap completes.
  const bench = new Bench({
    name,
    time: limits.maxMs,
    iterations: concurrent ? limits.maxOps : MIN_SAMPLES,
    warmup: false,
    ...(concurrent ? { concurrency: 'task' as const, threshold: inFlight } : {}),
  });
  const histogram = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  let cpuBefore = 0;
  let mainCpuUs = 0;
  let started = 0;
  let seconds = 0;
  bench.add(
    name,
    concurrent
      ? op
      : () => {
          if (++issued >= limits.maxOps) stop.abort();
          return op();
        },
    {
      // Said, so that tinybench does not call `op` once more to find out.
      async: true,
      signal: stop.signal,
      // Measured between the hooks: the loop alone, not tinybench's statistics over millions of samples after it.
      beforeAll() {
        cpuBefore = mainThreadCpuUs();
        histogram.enable();
        started = performance.now();
      },
      afterAll() {
        seconds = (performance.now() - started) / 1_000;
        histogram.disable();
        mainCpuUs = mainThreadCpuUs() - cpuBefore;
      },
    },
  );
  await bench.run();
  const result = bench.tasks[0]!.result;
  if (result.state !== 'completed' && result.state !== 'aborted-with-statistics') {
    throw new Error(`${name}: ${result.state === 'errored' ? result.error.message : `tinybench ended in state ${result.state}`}`);
  }
  const { latency } = result;
  // With no timer tick during the run the histogram is empty: the loop was blocked the whole time.
  const eventLoopDelayP99Ms = histogram.count === 0 ? seconds * 1_000 : Math.max(0, histogram.percentile(99) / 1e6 - ELD_RESOLUTION_MS);
  return {
    ops: latency.samplesCount,
    seconds,
    opsPerSec: latency.samplesCount / seconds,
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
