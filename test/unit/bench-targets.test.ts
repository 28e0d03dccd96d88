import { describe, expect, it } from 'vitest';
import type { PairedFigure } from '../../bench/paired-runs.js';
import type { Row, VariantResult } from '../../bench/run-variant.js';
import { checkTargets } from '../../bench/targets.js';
import type { WorkloadName } from '../../bench/workloads.js';

const MEMORY = { sessions: 1, mainHeapPerSession: 0, rssPerSession: 0, outsideMainHeapPerSession: 0, mainHeapUsed: 0 };

function result(variant: string, appendOpsPerSec: number): VariantResult {
  const row: Row = {
    variant,
    workload: 'append',
    inFlight: 1_024,
    opsPerSec: appendOpsPerSec,
    rmePct: 1,
    samples: 100,
    p50Us: 0,
    p99Us: 0,
    eventLoopDelayP99Ms: 0,
    mainCpuUsPerOp: 0,
  };
  return { variant, rows: [row], memory: MEMORY, prefillSeconds: 0 };
}

/** The engine at 300 000 appends/s; the three Map variants at 500 000, 600 000 and 700 000 (median 600 000). */
const MAIN_PASS = [result('engine-default', 300_000), result('map-live', 700_000), result('map-clone', 500_000), result('map-copy', 600_000)];

/** A paired figure as `runPaired` makes it: each pair's ratio, and their median. */
function pairedFigure(
  subjectRuns: number[],
  baselineRuns: number[],
  sides: Pick<PairedFigure, 'workload' | 'subject' | 'baseline' | 'baselineWorkload'> = { workload: 'append', subject: 'engine-default', baseline: 'map-live' },
): PairedFigure {
  const ratios = subjectRuns.map((ops, i) => ops / baselineRuns[i]!);
  const sorted = [...ratios].sort((a, b) => a - b);
  return { ...sides, subjectRuns, baselineRuns, ratios, ratio: sorted[sorted.length >> 1]! };
}

const pairs = (subjectRuns: number[], baselineRuns: number[]): PairedFigure => pairedFigure(subjectRuns, baselineRuns);

function appendTarget(paired: PairedFigure[]) {
  return checkTargets(MAIN_PASS, {}, paired).find((check) => check.target.startsWith('appendMessage'))!;
}

describe('the write targets of the benchmark', () => {
  it('are judged on the median of the alternating pairs, with the main pass beside it', () => {
    // Main pass: 300 000 / 600 000 = 0.50x, a pass; the pairs' median 0.40x decides: a fail.
    const check = appendTarget([pairs([400, 200, 300, 100, 500], [1_000, 500, 1_000, 200, 1_000])]);
    expect(check.status).toBe('fail');
    expect(check.measured).toMatch(/^0\.40x, the median of 5 alternating pairs \(0\.40, 0\.40, 0\.30, 0\.50, 0\.50;/);
    expect(check.measured).toContain('main pass 0.50x (300,000 vs 600,000 ops/s');
  });

  it('pass when the pairs do, whatever the main pass says', () => {
    const check = checkTargets([result('engine-default', 100_000), ...MAIN_PASS.slice(1)], {}, [pairs([600, 500, 700], [1_000, 1_000, 1_000])]).find((c) =>
      c.target.startsWith('appendMessage'),
    )!;
    expect(check.status).toBe('pass');
    expect(check.measured).toMatch(/^0\.60x, the median of 3 alternating pairs/);
  });

  it('fall back on the main pass against the median of the Map variants when no pairs ran', () => {
    const check = appendTarget([]);
    expect(check.status).toBe('pass');
    expect(check.measured).toBe('0.50x (300,000 vs 600,000 ops/s, the median of the 3 Map variants: 700,000 / 500,000 / 600,000)');
  });
});

function row(variant: string, workload: WorkloadName, inFlight: number, opsPerSec: number, mainCpuUsPerOp = 0): Row {
  return { variant, workload, inFlight, opsPerSec, rmePct: 2.5, samples: 40, p50Us: 0, p99Us: 0, eventLoopDelayP99Ms: 0, mainCpuUsPerOp };
}

function checksOf(rows: Row[], paired: PairedFigure[] = []) {
  const variants = [...new Set(rows.map((r) => r.variant))];
  return checkTargets(
    variants.map((variant) => ({ variant, rows: rows.filter((r) => r.variant === variant), memory: MEMORY, prefillSeconds: 0 })),
    {},
    paired,
  );
}

function check(rows: Row[], prefix: string) {
  return checksOf(rows).find((c) => c.target.startsWith(prefix))!;
}

describe('the agent-turn targets of the benchmark', () => {
  const JSON_TURNS = 'agent turns, 256 in flight, the engine reading windows as JSON text';

  it("judge the engine's turn reading windows as JSON text against the structuredClone Map's turn, with the margins of error beside the figures", () => {
    const rows = [
      row('engine-default', 'agent-turn-json', 256, 3_000),
      row('engine-default', 'agent-turn', 256, 9_999),
      row('map-clone', 'agent-turn', 256, 2_000),
      row('map-clone', 'agent-turn', 1, 9_000),
    ];
    const turns = check(rows, `${JSON_TURNS}: >= 1.5x Map (structuredClone)`);
    expect(turns.status).toBe('pass');
    expect(turns.measured).toBe('1.50x (3,000 ±2.5% vs 2,000 ±2.5% ops/s)');
    const slower = check([row('engine-default', 'agent-turn-json', 256, 2_900), ...rows.slice(1)], `${JSON_TURNS}: >= 1.5x`);
    expect(slower.status).toBe('fail');
    // The turn with every store handing out objects is reported, not judged.
    const objects = check(rows, 'agent turns, 256 in flight, every store handing out objects');
    expect(objects).toMatchObject({ status: 'info', measured: expect.stringMatching(/^5\.00x/) });
  });

  it("are judged on the alternating pairs of the engine's JSON turn and the Map's turn when they ran, with the main pass beside them", () => {
    const rows = [row('engine-default', 'agent-turn-json', 256, 4_000), row('map-clone', 'agent-turn', 256, 2_000)];
    const agentPairs = (subjectRuns: number[], baselineRuns: number[]): PairedFigure =>
      pairedFigure(subjectRuns, baselineRuns, {
        workload: 'agent-turn-json',
        baselineWorkload: 'agent-turn',
        subject: 'engine-default',
        baseline: 'map-clone',
      });
    const judged = (paired: PairedFigure[]) => checksOf(rows, paired).find((c) => c.target.startsWith(`${JSON_TURNS}: >= 1.5x`))!;
    // Main pass 2.00x, a pass; the pairs' median 1.40x decides: a fail.
    const failing = judged([agentPairs([1_400, 1_300, 1_500], [1_000, 1_000, 1_000])]);
    expect(failing.status).toBe('fail');
    expect(failing.measured).toMatch(/^1\.40x, the median of 3 alternating pairs \(1\.40, 1\.30, 1\.50;/);
    expect(failing.measured).toContain('main pass 2.00x (4,000 ±2.5% vs 2,000 ±2.5% ops/s)');
    expect(judged([agentPairs([1_600, 1_500, 1_700], [1_000, 1_000, 1_000])]).status).toBe('pass');
    // The write pairs say nothing about it.
    expect(judged([pairs([100], [1_000])]).measured).toBe('2.00x (4,000 ±2.5% vs 2,000 ±2.5% ops/s)');
  });

  it('judge the engine on Redis on its own alternating pairs against raw ioredis, not on the in-memory pairs', () => {
    const rows = [row('engine-redis', 'agent-turn', 256, 1_100), row('redis', 'agent-turn', 256, 1_000)];
    const redisPairs = (ratio: number): PairedFigure =>
      pairedFigure([ratio * 1_000], [1_000], { workload: 'agent-turn', subject: 'engine-redis', baseline: 'redis' });
    const onRedis = (paired: PairedFigure[]) => checksOf(rows, paired).find((c) => c.target.startsWith('engine on Redis, agent turns'))!;
    expect(onRedis([redisPairs(0.95)])).toMatchObject({
      status: 'fail',
      measured: expect.stringMatching(/^0\.95x, the median of 1 alternating pairs .*engine on Redis 950 vs raw ioredis 1,000 ops\/s.*; main pass 1\.10x/),
    });
    expect(onRedis([redisPairs(1.05)]).status).toBe('pass');
    expect(onRedis([]).measured).toMatch(/^1\.10x \(/);
  });

  it('say n/a when the engine has no JSON-text turn in the run', () => {
    const rows = [row('engine-default', 'agent-turn', 256, 9_000), row('map-clone', 'agent-turn', 256, 2_000)];
    expect(check(rows, `${JSON_TURNS}: >= 1.5x`).status).toBe('n/a');
  });

  it('report the ratios to the live-object Map and lru-cache as information, never as a verdict', () => {
    const rows = [row('engine-default', 'agent-turn-json', 256, 1_000), row('map-live', 'agent-turn', 256, 4_000), row('lru', 'agent-turn', 256, 5_000)];
    expect(check(rows, `${JSON_TURNS}: ratio to Map (live object`).status).toBe('info');
    expect(check(rows, `${JSON_TURNS}: ratio to lru-cache`).measured).toMatch(/^0\.20x/);
  });

  it('want less main-thread CPU per turn than the structuredClone Map, and the engine on Redis at least as fast as raw ioredis', () => {
    const rows = [
      row('engine-default', 'agent-turn-json', 256, 3_000, 120),
      row('engine-default', 'agent-turn', 256, 3_000, 100),
      row('map-clone', 'agent-turn', 256, 2_000, 119.5),
      row('engine-redis', 'agent-turn', 256, 990),
      row('redis', 'agent-turn', 256, 1_000),
    ];
    const cpu = check(rows, 'main-thread CPU per agent turn (256 in flight, JSON text)');
    expect(cpu.status).toBe('fail');
    expect(cpu.measured).toBe('120.00 µs vs 119.50 µs per turn');
    expect(check(rows, 'main-thread CPU per agent turn (256 in flight, objects)')).toMatchObject({
      status: 'info',
      measured: '100.00 µs vs 119.50 µs per turn',
    });
    expect(check(rows, 'engine on Redis, agent turns').status).toBe('fail');
    expect(check([...rows.slice(0, 3), row('engine-redis', 'agent-turn', 256, 1_000), rows[4]!], 'engine on Redis, agent turns').status).toBe('pass');
  });

  it('want the newest 20 of 2 000 messages at least 20x as many a second as the whole history, and say n/a without figures', () => {
    const pass = check([row('engine-default', 'window-last20-2000', 4, 2_000), row('engine-default', 'window-whole-2000', 4, 100)], 'get lastMessages:20');
    expect(pass.status).toBe('pass');
    expect(pass.measured).toMatch(/^20\.00x/);
    expect(
      check([row('engine-default', 'window-last20-2000', 4, 1_999), row('engine-default', 'window-whole-2000', 4, 100)], 'get lastMessages:20').status,
    ).toBe('fail');
    expect(check([row('engine-default', 'window-last20-2000', 4, 2_000)], 'get lastMessages:20').status).toBe('n/a');
  });
});
