/**
 * Writes the results for people: the table on stdout, the markdown report, and the SVG chart of
 * throughput by variant and shard count.
 */
import type { PairedFigure } from './paired-runs.js';
import type { Row, VariantResult } from './run-variant.js';
import type { TargetCheck } from './targets.js';
import { WORKLOAD_DESCRIPTIONS, WORKLOAD_NAMES, type Plan } from './workloads.js';

/** Everything a run produced, as written to JSON. */
export interface BenchResults {
  startedAt: string;
  durationSeconds: number;
  plan: Plan;
  /** The commit the engine was built from, and whether src/ had uncommitted changes then. */
  source: { commit: string; srcDirty: boolean };
  /** The 1-minute load average before and after: other work on the machine skews every figure. */
  machine: { cpus: number; cpuModel: string; node: string; platform: string; totalMemGb: number; loadAvgAtStart: number; loadAvgAtEnd: number };
  cpuSource: string;
  variants: { id: string; label: string; isDefault: boolean; shards?: number }[];
  skipped: Record<string, string>;
  results: VariantResult[];
  /** The write targets' alternating runs (none in a scale or filtered run). */
  paired: PairedFigure[];
  targets: TargetCheck[];
}

const HEADERS = ['variant', 'workload', 'in flight', 'ops/s', 'p50 µs', 'p99 µs', 'EL p99 ms', 'CPU µs/op', 'heap B/sess', 'RSS B/sess'];

function cells(row: Row, label: string, result: VariantResult): string[] {
  return [
    label,
    row.workload,
    String(row.inFlight),
    Math.round(row.opsPerSec).toLocaleString('en-US'),
    row.p50Us.toFixed(1),
    row.p99Us.toFixed(1),
    row.eventLoopDelayP99Ms.toFixed(2),
    row.mainCpuUsPerOp.toFixed(2),
    result.memory.mainHeapPerSession.toFixed(0),
    result.memory.rssPerSession.toFixed(0),
  ];
}

function tableRows(results: BenchResults): string[][] {
  const labels = new Map(results.variants.map((v) => [v.id, v.label]));
  return results.results.flatMap((result) => result.rows.map((row) => cells(row, labels.get(row.variant) ?? row.variant, result)));
}

/** A plain-text table, columns padded, numbers right-aligned. */
export function textTable(results: BenchResults): string {
  const rows = [HEADERS, ...tableRows(results)];
  const widths = HEADERS.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  const out = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  out.push('', 'targets:');
  for (const t of results.targets) out.push(`  [${t.status.toUpperCase()}] ${t.target}: ${t.measured}`);
  return out.join('\n');
}

function markdownTable(headers: string[], rows: string[][]): string {
  const align = headers.map((_, c) => (c < 2 ? '---' : '---:'));
  return [headers, align, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** The alternating runs behind the write targets, one row per pair. */
function pairedSection(results: BenchResults): string {
  if (results.paired.length === 0) return '';
  const labels = new Map(results.variants.map((v) => [v.id, v.label]));
  const rows = results.paired.flatMap((figure) =>
    figure.ratios.map((ratio, pair) => [
      figure.workload,
      String(pair + 1),
      Math.round(figure.subjectRuns[pair]!).toLocaleString('en-US'),
      Math.round(figure.baselineRuns[pair]!).toLocaleString('en-US'),
      `${ratio.toFixed(2)}x`,
    ]),
  );
  const first = results.paired[0]!;
  return `## Write targets in alternating runs

${labels.get(first.subject) ?? first.subject} and ${labels.get(first.baseline) ?? first.baseline}, each prefilled afresh in a process of its own, take turns at 1 024 in flight, one run each with the main pass's caps (the other process stopped meanwhile), the side that goes first alternating from pair to pair; the write targets above are the median of the pairs' ratios (see bench/paired-runs.ts for why).

${markdownTable(['workload', 'pair', 'engine ops/s', 'Map ops/s', 'ratio'], rows)}

`;
}

/** The markdown report. */
export function markdownReport(results: BenchResults): string {
  const { plan, machine } = results;
  const memoryRows = results.results.map((r) => [
    results.variants.find((v) => v.id === r.variant)?.label ?? r.variant,
    r.memory.sessions.toLocaleString('en-US'),
    r.memory.mainHeapPerSession.toFixed(0),
    r.memory.rssPerSession.toFixed(0),
    r.memory.outsideMainHeapPerSession.toFixed(0),
    r.memory.redisServerPerSession?.toFixed(0) ?? '',
    (r.memory.mainHeapUsed / 2 ** 20).toFixed(1),
    r.prefillSeconds.toFixed(1),
  ]);
  const scaleExtras = results.results
    .filter((r) => r.gcPauses !== undefined)
    .map(
      (r) =>
        `- ${r.variant}: main-thread GC pauses during prefill and load: ${r.gcPauses!.count}, max ${r.gcPauses!.maxMs.toFixed(1)} ms, p99 ${r.gcPauses!.p99Ms.toFixed(1)} ms, total ${r.gcPauses!.totalMs.toFixed(0)} ms`,
    );
  const skipped = Object.entries(results.skipped).map(([id, why]) => `- ${id}: skipped (${why})`);
  return `# session-shards benchmark (${plan.mode})

Run ${results.startedAt}, took ${results.durationSeconds.toFixed(0)} s, engine built from ${results.source.commit.slice(0, 10)}${results.source.srcDirty ? ' plus uncommitted changes in src/' : ''}. Machine: ${machine.cpus} cores (${machine.cpuModel}), ${machine.totalMemGb.toFixed(0)} GB, Node ${machine.node}, ${machine.platform}; 1-minute load average ${machine.loadAvgAtStart.toFixed(2)} before the run, ${machine.loadAvgAtEnd.toFixed(2)} after (on ${machine.cpus} cores, anything near or above that means other work shared the CPUs).

${plan.mode === 'scale' ? '' : '![throughput by variant](throughput.svg)\n\n'}## Results

${markdownTable(HEADERS, tableRows(results))}

## Targets (engine default vs baselines, same run)

${markdownTable(
  ['status', 'target', 'measured'],
  results.targets.map((t) => [t.status.toUpperCase(), t.target, t.measured]),
)}

${pairedSection(results)}## Memory after prefill

${markdownTable(['variant', 'sessions', 'main heap B/session', 'RSS B/session', 'RSS minus main heap B/session', 'redis-server B/session', 'main heap MB', 'prefill s'], memoryRows)}
${scaleExtras.length > 0 ? `\n${scaleExtras.join('\n')}\n` : ''}${skipped.length > 0 ? `\n${skipped.join('\n')}\n` : ''}
## How it was measured

- Prefill: ${plan.sessions.toLocaleString('en-US')} sessions of ${plan.messagesPerSession} messages of ~200 bytes${plan.mode === 'quick' ? " (--quick: fewer than the full run's 100 000)" : ''}${plan.longSessions > 0 ? `, plus ${plan.longSessions.toLocaleString('en-US')} sessions of ${plan.longMessages} messages for the whole-get vs lastMessages:5 rows` : ''}. Ids are drawn uniformly.
- Workloads: ${plan.workloads.map((w) => `**${w}**: ${WORKLOAD_DESCRIPTIONS[w]}`).join('; ')}.
- Each workload: a short warm-up at 1 024 in flight, another of ${plan.latencyWarmupMs} ms at 1 in flight (right after a burst, one op at a time is slower for a few hundred ms while both threads collect what the burst left), one run with 1 operation in flight (latency) and ${plan.runs} runs with 1 024 in flight (ops/s is their median). A run stops after ${plan.runMaxMs} ms (1 in flight: ${plan.latencyMaxMs} ms) or a cap of operations, whichever comes first: appends ${plan.appendMaxOps.toLocaleString('en-US')}, mixed ${(plan.appendMaxOps * 5).toLocaleString('en-US')}, creates ${plan.createMaxOps.toLocaleString('en-US')}, reads ${plan.runMaxOps.toLocaleString('en-US')}; so appends and creates grow the store by a bounded amount; sessions gain messages during the mixed and append workloads, which run after the reads.
- p50/p99: per-operation latency, call to settled promise, over all runs of the row.
- EL p99: \`monitorEventLoopDelay\` (1 ms resolution) p99 minus the 1 ms sampling period, median over runs. An in-process variant whose promises all settle in microtasks never lets a timer fire during a run; that shows as a delay equal to the run's length.
- CPU µs/op: the main thread's own CPU time (${results.cpuSource}; 10 ms ticks, summed over the row's runs), divided by operations. \`process.cpuUsage()\` would count the shard workers' threads too; Node 20 has no \`process.threadCpuUsage()\`.
- Memory: growth over the prefill after two full GCs, divided by sessions. The engine has no API for its workers' memory: its workers' share is the process RSS growth minus the main heap growth. Redis shows the server's own \`used_memory\` growth as well.
- Every variant runs in its own child process. All variants present the engine's async API (create / get / appendMessage returning promises) and validate ids and messages with the engine's own checks; the Map and lru-cache baselines check idle expiry on every access like the engine. lru-cache returns the live object. Redis keeps a session as a msgpack value plus a list of msgpack messages, refreshed and read by one Lua call per operation.
`;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Grouped bars of ops/s at 1 024 in flight, one group per workload, one bar per variant, log scale. */
export function throughputSvg(results: BenchResults): string {
  const variants = results.variants.filter((v) => results.results.some((r) => r.variant === v.id));
  const workloads = WORKLOAD_NAMES.filter((w) => results.plan.workloads.includes(w));
  const value = (variant: string, workload: string) =>
    results.results.find((r) => r.variant === variant)?.rows.find((row) => row.workload === workload && row.inFlight === 1_024)?.opsPerSec ?? 0;
  const max = Math.max(1, ...variants.flatMap((v) => workloads.map((w) => value(v.id, w))));
  const top = 10 ** Math.ceil(Math.log10(max));
  const bottom = 1_000;
  const [left, plotTop, plotHeight, barWidth, gap] = [70, 40, 300, 12, 24];
  const groupWidth = variants.length * barWidth + gap;
  const width = left + workloads.length * groupWidth + 20;
  const legendTop = plotTop + plotHeight + 50;
  const height = legendTop + Math.ceil(variants.length / 2) * 18 + 10;
  const y = (v: number) => plotTop + plotHeight * (1 - (Math.log10(Math.max(v, bottom)) - Math.log10(bottom)) / (Math.log10(top) - Math.log10(bottom)));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="13">ops/s at 1 024 in flight (log scale), ${escapeXml(results.plan.mode)} run, ${results.machine.cpus} cores</text>`,
  ];
  for (let decade = bottom; decade <= top; decade *= 10) {
    parts.push(`<line x1="${left}" x2="${width - 10}" y1="${y(decade)}" y2="${y(decade)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${y(decade) + 4}" text-anchor="end">${decade >= 1e6 ? `${decade / 1e6}M` : `${decade / 1e3}k`}</text>`);
  }
  workloads.forEach((workload, g) => {
    const x0 = left + g * groupWidth + gap / 2;
    variants.forEach((variant, i) => {
      const v = value(variant.id, workload);
      if (v <= 0) return;
      parts.push(
        `<rect x="${x0 + i * barWidth}" y="${y(v)}" width="${barWidth - 2}" height="${plotTop + plotHeight - y(v)}" fill="${PALETTE[i % PALETTE.length]}"><title>${escapeXml(variant.label)}, ${workload}: ${Math.round(v)} ops/s</title></rect>`,
      );
    });
    parts.push(`<text x="${x0 + (variants.length * barWidth) / 2}" y="${plotTop + plotHeight + 16}" text-anchor="middle">${workload}</text>`);
  });
  variants.forEach((variant, i) => {
    const lx = left + (i % 2) * 280;
    const ly = legendTop + Math.floor(i / 2) * 18;
    parts.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`);
    parts.push(`<text x="${lx + 14}" y="${ly}">${escapeXml(variant.label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
