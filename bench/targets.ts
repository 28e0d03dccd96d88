/**
 * The issue's targets, each computed from figures of the same run as a ratio or a bound, and marked
 * pass or fail. A target whose figures are missing (a variant skipped or filtered out) is marked so.
 */
import { median } from './measure.js';
import type { PairedFigure } from './paired-runs.js';
import type { Row, VariantResult } from './run-variant.js';
import { AGENT_IN_FLIGHT, inFlightFor, LONG_WINDOW_IN_FLIGHT, type WorkloadName } from './workloads.js';

/** One target's outcome. */
export interface TargetCheck {
  target: string;
  /** The measured figures, in words. */
  measured: string;
  status: 'pass' | 'fail' | 'info' | 'n/a';
}

type Find = (variant: string, workload: WorkloadName, inFlight: number) => Row | undefined;

function ratioCheck(
  find: Find,
  skipped: Record<string, string>,
  target: string,
  workload: WorkloadName,
  base: string,
  min: number | null,
  subject = 'engine-default',
  subjectWorkload: WorkloadName = workload,
): TargetCheck {
  const engine = find(subject, subjectWorkload, inFlightFor(subjectWorkload));
  const other = find(base, workload, inFlightFor(workload));
  if (engine === undefined || other === undefined) {
    const missing = engine === undefined ? subject : base;
    return { target, measured: `no figures for ${missing}${skipped[missing] !== undefined ? ` (${skipped[missing]})` : ''}`, status: 'n/a' };
  }
  const ratio = engine.opsPerSec / other.opsPerSec;
  return {
    target,
    measured: `${ratio.toFixed(2)}x (${fmt(engine.opsPerSec)} ±${engine.rmePct.toFixed(1)}% vs ${fmt(other.opsPerSec)} ±${other.rmePct.toFixed(1)}% ops/s)`,
    status: min === null ? 'info' : ratio >= min ? 'pass' : 'fail',
  };
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Main-thread CPU per operation of the engine below a baseline's, on one row of each. */
function cpuCheck(
  find: Find,
  target: string,
  workload: WorkloadName,
  base: string,
  unit: string,
  subjectWorkload: WorkloadName = workload,
  judged = true,
): TargetCheck {
  const engine = find('engine-default', subjectWorkload, inFlightFor(subjectWorkload));
  const other = find(base, workload, inFlightFor(workload));
  if (engine === undefined || other === undefined) return { target, measured: 'no figures', status: 'n/a' };
  return {
    target,
    measured: `${engine.mainCpuUsPerOp.toFixed(2)} µs vs ${other.mainCpuUsPerOp.toFixed(2)} µs per ${unit}`,
    status: !judged ? 'info' : engine.mainCpuUsPerOp < other.mainCpuUsPerOp ? 'pass' : 'fail',
  };
}

/** A window of a workload against the whole read, on the default engine: at least `min` times as many a second. */
function windowCheck(find: Find, target: string, window: WorkloadName, whole: WorkloadName, min: number): TargetCheck {
  const part = find('engine-default', window, inFlightFor(window));
  const all = find('engine-default', whole, inFlightFor(whole));
  if (part === undefined || all === undefined) return { target, measured: 'no figures', status: 'n/a' };
  const ratio = part.opsPerSec / all.opsPerSec;
  return {
    target,
    measured: `${ratio.toFixed(2)}x (${fmt(part.opsPerSec)} ±${part.rmePct.toFixed(1)}% vs ${fmt(all.opsPerSec)} ±${all.rmePct.toFixed(1)}% ops/s)`,
    status: ratio >= min ? 'pass' : 'fail',
  };
}

/**
 * Engine vs Map for a write. Judged on the alternating runs (`paired-runs.ts`) when there are any: the
 * median of the pairs' ratios. The main pass's ratio is given beside it; the three Map variants run the
 * same create / append code (they differ only in how get copies), so their median is its Map figure.
 */
function writeCheck(rows: Row[], find: Find, workload: 'append' | 'create', paired: PairedFigure[]): TargetCheck {
  const target = `${workload === 'append' ? 'appendMessage' : 'create'}, 1 024 in flight: >= 0.5x Map`;
  const engine = find('engine-default', workload, 1_024);
  const maps = rows.filter((r) => r.variant.startsWith('map-') && r.workload === workload && r.inFlight === 1_024).map((r) => r.opsPerSec);
  const pairs = paired.find((p) => p.workload === workload);
  if (engine === undefined || maps.length === 0) return { target, measured: 'no figures', status: 'n/a' };
  const map = median(maps);
  const mainPass = `${(engine.opsPerSec / map).toFixed(2)}x (${fmt(engine.opsPerSec)} vs ${fmt(map)} ops/s, the median of the ${maps.length} Map variants: ${maps.map(fmt).join(' / ')})`;
  if (pairs === undefined) return { target, measured: mainPass, status: engine.opsPerSec / map >= 0.5 ? 'pass' : 'fail' };
  return { target, measured: `${pairsFigure(pairs, 'engine', 'Map')}; main pass ${mainPass}`, status: pairs.ratio >= 0.5 ? 'pass' : 'fail' };
}

/** A target's figure from alternating pairs: the median of the pairs' ratios, with the runs behind it. */
function pairsFigure(pairs: PairedFigure, subjectName: string, baselineName: string): string {
  return (
    `${pairs.ratio.toFixed(2)}x, the median of ${pairs.ratios.length} alternating pairs (${pairs.ratios.map((r) => r.toFixed(2)).join(', ')}; ` +
    `${subjectName} ${fmt(median(pairs.subjectRuns))} vs ${baselineName} ${fmt(median(pairs.baselineRuns))} ops/s, medians)`
  );
}

/**
 * A ratio target judged on the alternating pairs of `workload` when there are any (the main pass's ratio
 * beside it), else on the main pass.
 */
function pairedRatioCheck(
  main: TargetCheck,
  paired: PairedFigure[],
  subject: string,
  workload: WorkloadName,
  min: number,
  names: [string, string] = ['engine', 'Map'],
): TargetCheck {
  const pairs = paired.find((p) => p.subject === subject && p.workload === workload);
  if (pairs === undefined || main.status === 'n/a') return main;
  return {
    target: main.target,
    measured: `${pairsFigure(pairs, ...names)}; main pass ${main.measured}`,
    status: pairs.ratio >= min ? 'pass' : 'fail',
  };
}

/** Every target of the issue that this run has figures for. */
export function checkTargets(results: VariantResult[], skipped: Record<string, string>, paired: PairedFigure[] = []): TargetCheck[] {
  const rows = results.flatMap((r) => r.rows);
  const find: Find = (variant, workload, inFlight) => rows.find((r) => r.variant === variant && r.workload === workload && r.inFlight === inFlight);
  const checks: TargetCheck[] = [
    ratioCheck(find, skipped, 'mixed 80/20, 1 024 in flight: >= 1.5x Map (structuredClone)', 'mixed', 'map-clone', 1.5),
    ratioCheck(find, skipped, 'mixed 80/20, 1 024 in flight: >= 5x piscina one task per op', 'mixed', 'naive-piscina', 5),
    // A skipped variant has no rows: ratioCheck then reports 'n/a' with the reason it was skipped.
    ratioCheck(find, skipped, 'mixed 80/20, 1 024 in flight: >= 5x Redis', 'mixed', 'redis', 5),
    ratioCheck(find, skipped, 'engine on Redis, mixed 80/20, 1 024 in flight: >= 0.8x raw ioredis', 'mixed', 'redis', 0.8, 'engine-redis'),
    ratioCheck(find, skipped, 'mixed 80/20, 1 024 in flight: ratio to Map (hand copy)', 'mixed', 'map-copy', null),
    ratioCheck(find, skipped, 'mixed 80/20, 1 024 in flight: ratio to Map (live object)', 'mixed', 'map-live', null),
    writeCheck(rows, find, 'append', paired),
    writeCheck(rows, find, 'create', paired),
  ];

  checks.push(
    cpuCheck(find, 'main-thread CPU per op (mixed, 1 024): engine < Map (structuredClone)', 'mixed', 'map-clone', 'op'),
    windowCheck(find, 'get lastMessages:5 >= 5x whole get (100-message sessions)', 'get-last5-100', 'get-whole-100', 5),
  );

  for (const workload of ['get', 'mixed'] as const) {
    const one = find('engine-default', workload, 1);
    if (one === undefined) continue;
    checks.push({
      target: `1 in flight (${workload}): p50 < 80 µs, p99 < 400 µs`,
      measured: `p50 ${one.p50Us.toFixed(1)} µs, p99 ${one.p99Us.toFixed(1)} µs`,
      status: one.p50Us < 80 && one.p99Us < 400 ? 'pass' : 'fail',
    });
  }

  // The engine's turn reads its window as JSON text (agent-turn-json); the Maps and lru-cache have no such
  // read, so their turn is agent-turn: the same turn, the window handed out as objects and serialised.
  const turns = `agent turns, ${AGENT_IN_FLIGHT} in flight, the engine reading windows as JSON text`;
  const json = 'agent-turn-json';
  checks.push(
    pairedRatioCheck(
      ratioCheck(find, skipped, `${turns}: >= 1.5x Map (structuredClone) (aim: 2x)`, 'agent-turn', 'map-clone', 1.5, 'engine-default', json),
      paired,
      'engine-default',
      json,
      1.5,
    ),
    ratioCheck(find, skipped, `${turns}: ratio to Map (live object, unsafe)`, 'agent-turn', 'map-live', null, 'engine-default', json),
    ratioCheck(find, skipped, `${turns}: ratio to lru-cache (live object)`, 'agent-turn', 'lru', null, 'engine-default', json),
    ratioCheck(find, skipped, `${turns}: ratio to Map (hand copy)`, 'agent-turn', 'map-copy', null, 'engine-default', json),
    cpuCheck(
      find,
      `main-thread CPU per agent turn (${AGENT_IN_FLIGHT} in flight, JSON text): engine < Map (structuredClone)`,
      'agent-turn',
      'map-clone',
      'turn',
      json,
    ),
    ratioCheck(
      find,
      skipped,
      `agent turns, ${AGENT_IN_FLIGHT} in flight, every store handing out objects: ratio to Map (structuredClone)`,
      'agent-turn',
      'map-clone',
      null,
    ),
    cpuCheck(
      find,
      `main-thread CPU per agent turn (${AGENT_IN_FLIGHT} in flight, objects): engine vs Map (structuredClone)`,
      'agent-turn',
      'map-clone',
      'turn',
      'agent-turn',
      false,
    ),
    pairedRatioCheck(
      ratioCheck(
        find,
        skipped,
        `engine on Redis, agent turns, ${AGENT_IN_FLIGHT} in flight, both handing out objects: >= 1x raw ioredis`,
        'agent-turn',
        'redis',
        1,
        'engine-redis',
      ),
      paired,
      'engine-redis',
      'agent-turn',
      1,
      ['engine on Redis', 'raw ioredis'],
    ),
    windowCheck(
      find,
      `get lastMessages:20 >= 20x whole get (2 000 structured messages, ${LONG_WINDOW_IN_FLIGHT} in flight)`,
      'window-last20-2000',
      'window-whole-2000',
      20,
    ),
  );
  return checks;
}

/** The --scale targets: host heap, event-loop delay, memory per session, sweep slices. */
export function checkScaleTargets(results: VariantResult[]): TargetCheck[] {
  const engine = results.find((r) => r.variant === 'engine-default');
  const map = results.find((r) => r.variant === 'map-copy');
  if (engine === undefined) return [];
  const mixed = engine.rows.find((r) => r.workload === 'mixed' && r.inFlight === 1_024);
  const mapMixed = map?.rows.find((r) => r.workload === 'mixed' && r.inFlight === 1_024);
  const checks: TargetCheck[] = [
    {
      target: `${engine.memory.sessions.toLocaleString('en-US')} sessions: host main heap < 64 MB`,
      measured: `${(engine.memory.mainHeapUsed / 2 ** 20).toFixed(1)} MB (Map holding the same: ${map === undefined ? 'n/a' : `${(map.memory.mainHeapUsed / 2 ** 20).toFixed(0)} MB`})`,
      status: engine.memory.mainHeapUsed < 64 * 2 ** 20 ? 'pass' : 'fail',
    },
  ];
  if (mixed !== undefined) {
    checks.push({
      target: 'event-loop delay p99 under load (mixed, 1 024 in flight) < 10 ms',
      measured: `${mixed.eventLoopDelayP99Ms.toFixed(2)} ms; Map: ${mapMixed?.eventLoopDelayP99Ms.toFixed(2) ?? 'n/a'} ms, its GC pauses: ${
        map?.gcPauses ? `${map.gcPauses.count} pauses, max ${map.gcPauses.maxMs.toFixed(1)} ms, total ${map.gcPauses.totalMs.toFixed(0)} ms` : 'n/a'
      }`,
      status: mixed.eventLoopDelayP99Ms < 10 ? 'pass' : 'fail',
    });
  }
  if (map !== undefined) {
    const ratio = engine.memory.outsideMainHeapPerSession / map.memory.rssPerSession;
    checks.push({
      target: 'memory per session in the shards <= 1.3x the in-process Map',
      measured: `${ratio.toFixed(2)}x (${engine.memory.outsideMainHeapPerSession.toFixed(0)} B outside the main heap vs Map RSS ${map.memory.rssPerSession.toFixed(0)} B)`,
      status: ratio <= 1.3 ? 'pass' : 'fail',
    });
  }
  if (engine.sweepProbe !== undefined) {
    checks.push({
      target: 'a sweep over every session never blocks a shard > 10 ms',
      measured:
        `longest slice of the timer sweeps during the probe (the shard's own timing, GC during it included): ${engine.sweepProbe.longestSliceMs.toFixed(2)} ms; ` +
        `slowest of ${engine.sweepProbe.gets} gets (1 in flight) over 3 timer sweeps: ${(engine.sweepProbe.maxGetUs / 1_000).toFixed(2)} ms ` +
        `(p99 ${(engine.sweepProbe.p99GetUs / 1_000).toFixed(2)} ms; GC pauses outside the sweep included); an explicit sweep() held the shard's queue ${engine.sweepProbe.sweepMs.toFixed(0)} ms`,
      status: engine.sweepProbe.longestSliceMs < 10 ? 'pass' : 'fail',
    });
  }
  return checks;
}
