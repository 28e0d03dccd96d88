import { describe, expect, it } from 'vitest';
import type { PairedFigure } from '../../bench/paired-runs.js';
import type { Row, VariantResult } from '../../bench/run-variant.js';
import { checkTargets } from '../../bench/targets.js';

const MEMORY = { sessions: 1, mainHeapPerSession: 0, rssPerSession: 0, outsideMainHeapPerSession: 0, mainHeapUsed: 0 };

function result(variant: string, appendOpsPerSec: number): VariantResult {
  const row: Row = {
    variant,
    workload: 'append',
    inFlight: 1_024,
    opsPerSec: appendOpsPerSec,
    runsOpsPerSec: [appendOpsPerSec],
    p50Us: 0,
    p99Us: 0,
    eventLoopDelayP99Ms: 0,
    mainCpuUsPerOp: 0,
  };
  return { variant, rows: [row], memory: MEMORY, prefillSeconds: 0 };
}

/** The engine at 300 000 appends/s; the three Map variants at 500 000, 600 000 and 700 000 (median 600 000). */
const MAIN_PASS = [result('engine-default', 300_000), result('map-live', 700_000), result('map-clone', 500_000), result('map-copy', 600_000)];

function pairs(subjectRuns: number[], baselineRuns: number[]): PairedFigure {
  const ratios = subjectRuns.map((ops, i) => ops / baselineRuns[i]!);
  const sorted = [...ratios].sort((a, b) => a - b);
  return { workload: 'append', subject: 'engine-default', baseline: 'map-live', subjectRuns, baselineRuns, ratios, ratio: sorted[sorted.length >> 1]! };
}

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
