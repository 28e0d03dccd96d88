/**
 * Runs every workload against one variant, in a process of its own (so that one variant's heap, JIT
 * state and leftover garbage never weigh on the next one's figures), and returns its rows.
 */
import { AGENT_SESSION_MESSAGES, type AgentApi, AgentTurns, LONG_HISTORY_MESSAGES, requestBytes } from './agent-turns.js';
import { GcPauses, measureTask, percentile, settledMemory, type TaskFigures, warmUp } from './measure.js';
import type { SessionApi } from './subject.js';
import type { Variant } from './variants.js';
import {
  AGENT_IN_FLIGHT,
  AGENT_WORKLOADS,
  TURN_WORKLOADS,
  inFlightFor,
  maxOpsFor,
  operationFor,
  prefill,
  prefillStructured,
  type Plan,
  type WorkloadName,
  type WorkloadSessions,
} from './workloads.js';

/** One row of the results: a workload on a variant at one concurrency, measured as one tinybench task. */
export interface Row {
  variant: string;
  workload: WorkloadName;
  inFlight: number;
  /** Operations completed / the run's wall time. */
  opsPerSec: number;
  /** tinybench's relative margin of error (95%) of the mean latency, in %: that of ops/s too (Little's law). */
  rmePct: number;
  /** tinybench's samples: the operations measured. */
  samples: number;
  /** tinybench's latency percentiles of one operation (call to settled promise), in µs. */
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

/** Where a variant does not run a workload, and why. */
export type SkippedWorkloads = Partial<Record<WorkloadName, string>>;

/** What one variant's process reports. */
export interface VariantResult {
  variant: string;
  rows: Row[];
  memory: MemoryFigures;
  /** Memory taken by the agent sessions (`AGENT_SESSION_MESSAGES` structured messages each), per session. */
  agentMemory?: MemoryFigures;
  /** Workloads this variant cannot run (no structured messages or history edits). */
  skippedWorkloads?: SkippedWorkloads;
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

function rowFrom(variant: string, workload: WorkloadName, inFlight: number, run: TaskFigures): Row {
  return {
    variant,
    workload,
    inFlight,
    opsPerSec: run.opsPerSec,
    rmePct: run.rmePct,
    samples: run.ops,
    p50Us: run.p50Us,
    p99Us: run.p99Us,
    eventLoopDelayP99Ms: run.eventLoopDelayP99Ms,
    mainCpuUsPerOp: run.mainCpuUs / run.ops,
  };
}

/** Whether `api` has the calls of an agent turn. */
function agentApiOf(api: SessionApi): (SessionApi & AgentApi) | null {
  const candidate = api as SessionApi & Partial<AgentApi>;
  return typeof candidate.appendMessages === 'function' && typeof candidate.spliceMessages === 'function' ? (candidate as SessionApi & AgentApi) : null;
}

/** Memory growth per session between two settled readings. */
function memoryFigures(
  sessions: number,
  before: ReturnType<typeof settledMemory>,
  after: ReturnType<typeof settledMemory>,
  redis?: [number, number],
): MemoryFigures {
  const heap = (after.heapUsed - before.heapUsed) / sessions;
  const rss = (after.rss - before.rss) / sessions;
  return {
    sessions,
    mainHeapPerSession: heap,
    rssPerSession: rss,
    outsideMainHeapPerSession: rss - heap,
    redisServerPerSession: redis === undefined ? undefined : (redis[1] - redis[0]) / sessions,
    mainHeapUsed: after.heapUsed,
  };
}

/**
 * One workload on one variant: a warm-up at the throughput concurrency, an untimed warm-up at 1 in flight,
 * the latency run (1 in flight), then the throughput run, each run one tinybench task.
 */
async function measureWorkload(variant: string, workload: WorkloadName, op: (k: number) => Promise<unknown>, plan: Plan): Promise<Row[]> {
  const inFlight = inFlightFor(workload);
  const maxOps = maxOpsFor(plan, workload);
  let k = 0;
  const next = () => op(k++);
  await warmUp(next, inFlight, plan.warmupMs, maxOps);
  await warmUp(next, 1, plan.latencyWarmupMs, Math.min(maxOps, plan.latencyMaxOps));
  const latency = await measureTask(`${variant} ${workload} x1`, next, 1, { maxMs: plan.latencyMaxMs, maxOps: Math.min(maxOps, plan.latencyMaxOps) });
  const run = await measureTask(`${variant} ${workload} x${inFlight}`, next, inFlight, { maxMs: plan.runs * plan.runMaxMs, maxOps: plan.runs * maxOps });
  return [rowFrom(variant, workload, 1, latency), rowFrom(variant, workload, inFlight, run)];
}

/** The two phases of a variant, each run in a process of its own: the string workloads, then the agent workloads. */
export const PHASES = ['base', 'agent'] as const;

/** One phase. */
export type Phase = (typeof PHASES)[number];

/** What one phase's process reports: the parts of a `VariantResult` it measured. */
export type PhaseResult = Partial<VariantResult> & Pick<VariantResult, 'variant' | 'rows'>;

/** A variant's result from its phases' (the agent phase `null` when it did not run). */
export function mergePhases(base: PhaseResult, agent: PhaseResult | null): VariantResult {
  if (base.memory === undefined || base.prefillSeconds === undefined) throw new Error(`${base.variant}: the first phase reported no memory figures`);
  const result: VariantResult = { ...base, memory: base.memory, prefillSeconds: base.prefillSeconds, rows: [...base.rows, ...(agent?.rows ?? [])] };
  if (agent?.agentMemory !== undefined) result.agentMemory = agent.agentMemory;
  const skipped = { ...base.skippedWorkloads, ...agent?.skippedWorkloads };
  if (Object.keys(skipped).length > 0) result.skippedWorkloads = skipped;
  return result;
}

/** Runs one phase of `plan` against `variant`. */
export async function runVariant(variant: Variant, plan: Plan, phase: Phase = 'base'): Promise<PhaseResult> {
  const cleanupIntervalMs = plan.mode === 'scale' ? SCALE_CLEANUP_INTERVAL_MS : undefined;
  // Room for every session the plan can create: the prefills, and the create workload's two warm-ups,
  // latency run and throughput runs, each capped at createMaxOps.
  const maxSessions = plan.sessions + plan.longSessions + plan.agentSessions + plan.longHistorySessions + (plan.runs + 3) * plan.createMaxOps;
  const api = (await variant.start(maxSessions, cleanupIntervalMs)) as SessionApi & { usedMemory?: () => Promise<number> };
  try {
    return phase === 'base' ? await basePhase(variant, plan, api) : await agentPhase(variant, plan, api);
  } finally {
    await api.close();
  }
}

type MeasuredApi = SessionApi & { usedMemory?: () => Promise<number> };

/** Prefills `count` sessions with `fill` and measures the memory they took, after full collections. */
async function measuredPrefill(
  api: MeasuredApi,
  count: number,
  fill: () => Promise<string[]>,
): Promise<{ ids: string[]; memory: MemoryFigures; seconds: number }> {
  const before = settledMemory();
  const redisBefore = await api.usedMemory?.();
  const t0 = performance.now();
  const ids = await fill();
  const seconds = (performance.now() - t0) / 1_000;
  const after = settledMemory();
  const redisAfter = await api.usedMemory?.();
  return { ids, seconds, memory: memoryFigures(count, before, after, redisBefore === undefined ? undefined : [redisBefore, redisAfter!]) };
}

/** Runs `workloads` in order on `sessions`, logging each. */
async function runWorkloads(
  tag: string,
  variant: Variant,
  plan: Plan,
  api: SessionApi,
  sessions: WorkloadSessions,
  workloads: readonly WorkloadName[],
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const workload of workloads) {
    const measured = await measureWorkload(variant.id, workload, operationFor(workload, api, sessions), plan);
    rows.push(...measured);
    const [one, many] = measured as [Row, Row];
    say(
      `${tag} ${workload}: ${Math.round(many.opsPerSec)} ops/s ±${many.rmePct.toFixed(1)}% at ${many.inFlight} in flight, p50 ${one.p50Us.toFixed(0)} µs at 1; main heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MB`,
    );
  }
  return rows;
}

/** The string workloads on prefilled sessions of ~200-byte messages, and --scale's probes. */
async function basePhase(variant: Variant, plan: Plan, api: MeasuredApi): Promise<PhaseResult> {
  const tag = `[${variant.id}]`;
  const gc = new GcPauses();
  say(`${tag} prefilling ${plan.sessions} sessions of ${plan.messagesPerSession} messages`);
  const { ids, memory, seconds } = await measuredPrefill(api, plan.sessions, () => prefill(api, plan.sessions, plan.messagesPerSession));
  say(`${tag} prefilled in ${seconds.toFixed(1)} s; main heap ${memory.mainHeapPerSession | 0} B/session, RSS ${memory.rssPerSession | 0} B/session`);
  const longIds = plan.longSessions > 0 ? await prefill(api, plan.longSessions, plan.longMessages, plan.sessions) : [];
  // Observed from here: the forced collections that measure memory above are not the host's pauses.
  if (plan.mode === 'scale') gc.start();
  const workloads = plan.workloads.filter((w) => !AGENT_WORKLOADS.includes(w));
  const rows = await runWorkloads(tag, variant, plan, api, { ids, longIds, historyIds: [], agent: null }, workloads);
  const result: PhaseResult = { variant: variant.id, rows, memory, prefillSeconds: seconds };
  if (plan.mode === 'scale') {
    result.gcPauses = gc.stop();
    if (variant.kind === 'engine') result.sweepProbe = await probeSweep(api as SweepableApi, ids);
  }
  return result;
}

/** The agent workloads: agent sessions (their memory measured first, in a fresh process) and long histories. */
async function agentPhase(variant: Variant, plan: Plan, api: MeasuredApi): Promise<PhaseResult> {
  const tag = `[${variant.id}]`;
  const agentApi = agentApiOf(api);
  if (agentApi === null) throw new Error(`${variant.id}: no structured messages or history edits`);
  let workloads = plan.workloads.filter((w) => AGENT_WORKLOADS.includes(w));
  const skippedWorkloads: SkippedWorkloads = {};
  // Only the in-memory engines: on Redis the JSON read is not judged against a baseline doing the same.
  if (workloads.includes('agent-turn-json') && (variant.kind !== 'engine' || typeof agentApi.getMessagesJson !== 'function')) {
    workloads = workloads.filter((w) => w !== 'agent-turn-json');
    skippedWorkloads['agent-turn-json'] =
      variant.kind === 'engine-redis' ? 'judged on the in-memory engine only' : 'no JSON read here: its agent turn is agent-turn, the same turn';
  }
  const sessions: WorkloadSessions = { ids: [], longIds: [], historyIds: [], agent: null };
  let agentMemory: MemoryFigures | undefined;
  if (workloads.some((w) => TURN_WORKLOADS.includes(w))) {
    say(`${tag} prefilling ${plan.agentSessions} agent sessions of ${AGENT_SESSION_MESSAGES} structured messages`);
    const agent = await measuredPrefill(api, plan.agentSessions, () =>
      prefillStructured(agentApi, plan.agentSessions, AGENT_SESSION_MESSAGES, AGENT_IN_FLIGHT),
    );
    agentMemory = agent.memory;
    sessions.agent = new AgentTurns(agentApi, agent.ids);
    await sessions.agent.checkSameBody();
    say(
      `${tag} prefilled in ${agent.seconds.toFixed(1)} s; main heap ${agentMemory.mainHeapPerSession | 0} B/session, RSS ${agentMemory.rssPerSession | 0} B/session`,
    );
  }
  if (workloads.some((w) => !TURN_WORKLOADS.includes(w))) {
    say(`${tag} prefilling ${plan.longHistorySessions} sessions of ${LONG_HISTORY_MESSAGES} structured messages`);
    sessions.historyIds = await prefillStructured(agentApi, plan.longHistorySessions, LONG_HISTORY_MESSAGES, plan.longHistorySessions);
  }
  const rows = await runWorkloads(tag, variant, plan, api, sessions, workloads);
  if (sessions.agent !== null) say(`${tag} request bodies built from the windows read: ${(requestBytes() / 2 ** 20).toFixed(0)} MiB in all`);
  const result: PhaseResult = { variant: variant.id, rows };
  if (agentMemory !== undefined) result.agentMemory = agentMemory;
  if (Object.keys(skippedWorkloads).length > 0) result.skippedWorkloads = skippedWorkloads;
  return result;
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
