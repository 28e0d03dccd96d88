/**
 * Runs every workload against one variant, in a process of its own (so that one variant's heap, JIT
 * state and leftover garbage never weigh on the next one's figures), and returns its rows.
 */
import { drive, GcPauses, median, percentile, settledMemory, type RunSample } from './measure.js';
import type { SessionApi } from './subject.js';
import type { Variant } from './variants.js';
import { maxOpsFor, operationFor, prefill, THROUGHPUT_IN_FLIGHT, type Plan, type WorkloadName } from './workloads.js';

/** One row of the results: a workload on a variant at one concurrency. */
export interface Row {
  variant: string;
  workload: WorkloadName;
  inFlight: number;
  /** The median over runs (1 in flight: the single run). */
  opsPerSec: number;
  /** Every run's ops/s. */
  runsOpsPerSec: number[];
  p50Us: number;
  p99Us: number;
  eventLoopDelayP99Ms: number;
  mainCpuUsPerOp: number;
}

/** Memory taken by the prefilled sessions, per session. */
export interface MemoryFigures {
  sessions: number;
  /** Main-thread V8 heap growth per session, after full GCs. */
  mainHeapPerSession: number;
  /** Whole-process RSS growth per session (for the engine: mostly its workers' heaps). */
  rssPerSession: number;
  /** RSS growth minus main-heap growth: the workers' share for the engine. */
  outsideMainHeapPerSession: number;
  /** The Redis server's own `used_memory` growth per session. */
  redisServerPerSession?: number;
  /** Main heap with the sessions held, bytes. */
  mainHeapUsed: number;
}

/** What one variant's process reports. */
export interface VariantResult {
  variant: string;
  rows: Row[];
  memory: MemoryFigures;
  /** Main-thread GC pauses during prefill and load (--scale). */
  gcPauses?: { count: number; totalMs: number; p99Ms: number; maxMs: number };
  /**
   * --scale, engine: the longest slice of the timer sweeps during the probe, get latency (1 in flight)
   * meanwhile, and an explicit sweep()'s duration.
   */
  sweepProbe?: { sweepMs: number; maxGetUs: number; p99GetUs: number; gets: number; longestSliceMs: number };
  prefillSeconds: number;
}

function say(message: string): void {
  process.stderr.write(`${message}\n`);
}

function rowFrom(variant: string, workload: WorkloadName, inFlight: number, samples: RunSample[]): Row {
  const rates = samples.map((s) => s.opsPerSec);
  const all = new Float64Array(samples.reduce((n, s) => n + s.latenciesUs.length, 0));
  let at = 0;
  for (const s of samples) {
    all.set(s.latenciesUs, at);
    at += s.latenciesUs.length;
  }
  const ops = samples.reduce((n, s) => n + s.ops, 0);
  return {
    variant,
    workload,
    inFlight,
    opsPerSec: median(rates),
    runsOpsPerSec: rates,
    p50Us: percentile(all, 50),
    p99Us: percentile(all, 99),
    eventLoopDelayP99Ms: median(samples.map((s) => s.eventLoopDelayP99Ms)),
    // Summed over runs: the /proc clock ticks every 10 ms, too coarse for one short run.
    mainCpuUsPerOp: samples.reduce((n, s) => n + s.mainCpuUs, 0) / ops,
  };
}

/** Runs `plan` against `variant`. */
export async function runVariant(variant: Variant, plan: Plan): Promise<VariantResult> {
  const tag = `[${variant.id}]`;
  const gc = new GcPauses();
  const cleanupIntervalMs = plan.mode === 'scale' ? SCALE_CLEANUP_INTERVAL_MS : undefined;
  // Room for every session the plan can create: the prefills, and the create workload's two warm-ups,
  // latency run and throughput runs, each capped at createMaxOps.
  const maxSessions = plan.sessions + plan.longSessions + (plan.runs + 3) * plan.createMaxOps;
  const api = (await variant.start(maxSessions, cleanupIntervalMs)) as SessionApi & { usedMemory?: () => Promise<number> };
  try {
    const before = settledMemory();
    const redisBefore = await api.usedMemory?.();
    say(`${tag} prefilling ${plan.sessions} sessions of ${plan.messagesPerSession} messages`);
    const t0 = performance.now();
    const ids = await prefill(api, plan.sessions, plan.messagesPerSession);
    const prefillSeconds = (performance.now() - t0) / 1_000;
    const after = settledMemory();
    const redisAfter = await api.usedMemory?.();
    const heap = (after.heapUsed - before.heapUsed) / plan.sessions;
    const rss = (after.rss - before.rss) / plan.sessions;
    const memory: MemoryFigures = {
      sessions: plan.sessions,
      mainHeapPerSession: heap,
      rssPerSession: rss,
      outsideMainHeapPerSession: rss - heap,
      redisServerPerSession: redisBefore === undefined ? undefined : (redisAfter! - redisBefore) / plan.sessions,
      mainHeapUsed: after.heapUsed,
    };
    say(`${tag} prefilled in ${prefillSeconds.toFixed(1)} s; main heap ${heap | 0} B/session, RSS ${rss | 0} B/session`);
    const longIds = plan.longSessions > 0 ? await prefill(api, plan.longSessions, plan.longMessages, plan.sessions) : [];

    // Observed from here: the forced collections that measure memory above are not the host's pauses.
    if (plan.mode === 'scale') gc.start();
    const rows: Row[] = [];
    for (const workload of plan.workloads) {
      const op = operationFor(workload, api, ids, longIds);
      const maxOps = maxOpsFor(plan, workload);
      await drive(op, THROUGHPUT_IN_FLIGHT, maxOps, plan.warmupMs);
      await drive(op, 1, Math.min(maxOps, plan.latencyMaxOps), plan.latencyWarmupMs);
      const latency = await drive(op, 1, Math.min(maxOps, plan.latencyMaxOps), plan.latencyMaxMs);
      rows.push(rowFrom(variant.id, workload, 1, [latency]));
      const runs: RunSample[] = [];
      for (let r = 0; r < plan.runs; r++) runs.push(await drive(op, THROUGHPUT_IN_FLIGHT, maxOps, plan.runMaxMs));
      const row = rowFrom(variant.id, workload, THROUGHPUT_IN_FLIGHT, runs);
      rows.push(row);
      say(`${tag} ${workload}: ${Math.round(row.opsPerSec)} ops/s at ${THROUGHPUT_IN_FLIGHT} in flight, p50 ${rows.at(-2)!.p50Us.toFixed(0)} µs at 1`);
    }
    const result: VariantResult = { variant: variant.id, rows, memory, prefillSeconds };
    if (plan.mode === 'scale') {
      result.gcPauses = gc.stop();
      if (variant.kind === 'engine') result.sweepProbe = await probeSweep(api as SweepableApi, ids);
    }
    return result;
  } finally {
    await api.close();
  }
}

/** How often the scale run's engine sweeps: short enough that timer sweeps happen while it is probed. */
export const SCALE_CLEANUP_INTERVAL_MS = 1_000;

type SweepableApi = SessionApi & { sweep(): Promise<number>; stats(): Promise<{ shards: { lastSweepSliceMs: number }[] }> };

/** How often the probe reads the shards' last-sweep figure: well within a cleanup interval. */
const SWEEP_STATS_EVERY_MS = 100;

/**
 * Gets one at a time for a few cleanup intervals, so that the shard's timer sweeps (each a walk over
 * every session, in slices) run meanwhile, and reads how long each sweep's longest slice held the shard
 * (the shard times its slices). The slowest get is reported beside it: it includes stalls that are not
 * the sweep's (garbage collection). Then times an explicit `sweep()`, which holds the shard's queue until
 * the whole walk is done.
 */
async function probeSweep(engine: SweepableApi, ids: string[]): Promise<VariantResult['sweepProbe'] & object> {
  const latencies: number[] = [];
  const until = performance.now() + 3 * SCALE_CLEANUP_INTERVAL_MS;
  // The longest slice of each timer sweep that ends during the probe, read between gets (not timed). A
  // shard's figure changes when one of its sweeps completes; the one it shows at the start is older.
  const sliceFigures = async (): Promise<number[]> => (await engine.stats()).shards.map((shard) => shard.lastSweepSliceMs);
  let shown = await sliceFigures();
  let longestSliceMs = 0;
  const readSweeps = async (): Promise<void> => {
    const now = await sliceFigures();
    now.forEach((figure, shard) => {
      if (figure !== shown[shard]) longestSliceMs = Math.max(longestSliceMs, figure);
    });
    shown = now;
  };
  let nextStats = performance.now() + SWEEP_STATS_EVERY_MS;
  while (performance.now() < until) {
    if (performance.now() >= nextStats) {
      await readSweeps();
      nextStats = performance.now() + SWEEP_STATS_EVERY_MS;
    }
    const s = performance.now();
    await engine.get(ids[Math.floor(Math.random() * ids.length)]!);
    latencies.push((performance.now() - s) * 1_000);
  }
  await readSweeps();
  const t0 = performance.now();
  await engine.sweep();
  const sweepMs = performance.now() - t0;
  return {
    sweepMs,
    maxGetUs: latencies.reduce((m, v) => Math.max(m, v), 0),
    p99GetUs: percentile(Float64Array.from(latencies), 99),
    gets: latencies.length,
    longestSliceMs,
  };
}
