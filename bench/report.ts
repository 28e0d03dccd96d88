/**
 * Writes the results for people: the table on stdout, the markdown report, and the SVG chart of
 * throughput by variant and shard count.
 */
import type { PairedFigure } from './paired-runs.js';
import type { Row, VariantResult } from './run-variant.js';
import type { TargetCheck } from './targets.js';
import { AGENT_SESSION_MESSAGES, COMPACT_EVERY, COMPACT_OLDEST, LONG_HISTORY_MESSAGES, TURN_WINDOW } from './agent-turns.js';
import { AGENT_IN_FLIGHT, inFlightFor, LONG_WINDOW_IN_FLIGHT, THROUGHPUT_IN_FLIGHT, WORKLOAD_DESCRIPTIONS, WORKLOAD_NAMES, type Plan } from './workloads.js';

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

const HEADERS = ['variant', 'workload', 'in flight', 'ops/s', '± %', 'samples', 'p50 µs', 'p99 µs', 'EL p99 ms', 'CPU µs/op', 'heap B/sess', 'RSS B/sess'];

function cells(row: Row, label: string, result: VariantResult): string[] {
  return [
    label,
    row.workload,
    String(row.inFlight),
    Math.round(row.opsPerSec).toLocaleString('en-US'),
    row.rmePct.toFixed(1),
    String(row.samples),
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

/** The alternating runs behind the write and agent-turn targets, one row per pair. */
function pairedSection(results: BenchResults): string {
  if (results.paired.length === 0) return '';
  const labels = new Map(results.variants.map((v) => [v.id, v.label]));
  const label = (id: string): string => labels.get(id) ?? id;
  const rows = results.paired.flatMap((figure) =>
    figure.ratios.map((ratio, pair) => [
      figure.baselineWorkload === undefined ? figure.workload : `${figure.workload} / ${figure.baselineWorkload}`,
      `${label(figure.subject)} vs ${label(figure.baseline)}`,
      String(pair + 1),
      Math.round(figure.subjectRuns[pair]!).toLocaleString('en-US'),
      Math.round(figure.baselineRuns[pair]!).toLocaleString('en-US'),
      `${ratio.toFixed(2)}x`,
    ]),
  );
  return `## Targets in alternating runs

Per pairing, the two variants, each prefilled afresh in a process of its own, take turns at the workload's concurrency (1 024 in flight; agent turns 256), one run each with the main pass's caps (the other process stopped meanwhile), the side that goes first alternating from pair to pair; the write targets and the agent-turn targets above are the median of the pairs' ratios (see bench/paired-runs.ts for why). An agent-turn pair of the default engine is its turn reading windows as JSON text against the structuredClone Map's turn; on Redis, both sides hand out objects.

${markdownTable(['workload (subject / baseline)', 'variants', 'pair', 'subject ops/s', 'baseline ops/s', 'ratio'], rows)}

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
  const agentMemoryRows = results.results
    .filter((r) => r.agentMemory !== undefined)
    .map((r) => [
      results.variants.find((v) => v.id === r.variant)?.label ?? r.variant,
      r.agentMemory!.sessions.toLocaleString('en-US'),
      r.agentMemory!.mainHeapPerSession.toFixed(0),
      r.agentMemory!.rssPerSession.toFixed(0),
      r.agentMemory!.outsideMainHeapPerSession.toFixed(0),
      r.agentMemory!.redisServerPerSession?.toFixed(0) ?? '',
    ]);
  const skippedWorkloads = results.results.flatMap((r) =>
    Object.entries(r.skippedWorkloads ?? {}).map(([workload, why]) => `- ${r.variant}, ${workload}: not run (${why})`),
  );
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
${
  agentMemoryRows.length > 0
    ? `\nAgent sessions (${AGENT_SESSION_MESSAGES} structured messages each), after their prefill:\n\n${markdownTable(['variant', 'sessions', 'main heap B/session', 'RSS B/session', 'RSS minus main heap B/session', 'redis-server B/session'], agentMemoryRows)}\n`
    : ''
}${scaleExtras.length > 0 ? `\n${scaleExtras.join('\n')}\n` : ''}${skipped.length > 0 || skippedWorkloads.length > 0 ? `\n${[...skipped, ...skippedWorkloads].join('\n')}\n` : ''}
## How it was measured

- Prefill: ${plan.sessions.toLocaleString('en-US')} sessions of ${plan.messagesPerSession} messages of ~200 bytes${plan.mode === 'quick' ? " (--quick: fewer than the full run's 100 000)" : ''}${plan.longSessions > 0 ? `, plus ${plan.longSessions.toLocaleString('en-US')} sessions of ${plan.longMessages} messages for the whole-get vs lastMessages:5 rows` : ''}. Ids are drawn uniformly.
- Workloads: ${plan.workloads.map((w) => `**${w}**: ${WORKLOAD_DESCRIPTIONS[w]}`).join('; ')}.
- Agent turns: ${plan.agentSessions.toLocaleString('en-US')} sessions of ${AGENT_SESSION_MESSAGES} structured messages (text parts; tool calls and results with JSON of ~1-4 KB; every tenth reply a ~6 KB text). One turn: \`get(id, { lastMessages: ${TURN_WINDOW} })\`, \`JSON.stringify\` of the window into a request body (every variant alike), \`appendMessage\` of the user's prompt, \`appendMessages\` of a tool call and its result, \`appendMessage\` of the reply; every ${COMPACT_EVERY}th turn of a session, \`spliceMessages(id, 0, ${COMPACT_OLDEST}, [summary])\`. ops/s are turns a second; ${AGENT_IN_FLIGHT} turns in flight on distinct sessions. Long histories: ${plan.longHistorySessions} sessions of ${LONG_HISTORY_MESSAGES} such messages, the whole read against the newest ${TURN_WINDOW}, ${LONG_WINDOW_IN_FLIGHT} in flight.
- Each row is one tinybench task run, each call of the task one operation: at 1 in flight tinybench's sequential loop, otherwise its \`concurrency: 'task'\` mode with \`threshold\` = the operations kept in flight (${THROUGHPUT_IN_FLIGHT.toLocaleString('en-US')}, or as said above). ops/s = operations / the run's wall time. Before the rows: a warm-up of ${plan.warmupMs} ms at the row's concurrency and another of ${plan.latencyWarmupMs} ms at 1 in flight (right after a burst, one op at a time is slower for a few hundred ms while both threads collect what the burst left). The 1-in-flight row runs ${plan.latencyMaxMs} ms; the other row ${(plan.runs * plan.runMaxMs).toLocaleString('en-US')} ms or a cap of operations, whichever comes first: appends ${(plan.runs * plan.appendMaxOps).toLocaleString('en-US')}, mixed ${(plan.runs * plan.appendMaxOps * 5).toLocaleString('en-US')}, creates ${(plan.runs * plan.createMaxOps).toLocaleString('en-US')}, agent turns ${(plan.runs * plan.agentMaxTurns).toLocaleString('en-US')}, reads ${(plan.runs * plan.runMaxOps).toLocaleString('en-US')}; so writes grow the store by a bounded amount. Each variant's agent workloads run in a second process of their own.
- ± %: tinybench's relative margin of error of the mean latency (95%, Student's t over the samples); with a constant number in flight, ops/s = in flight / mean latency (Little's law), so it is the margin of ops/s too. samples: tinybench's samples, one per operation.
- p50/p99: tinybench's percentiles of one operation's latency, call to settled promise.
- EL p99: \`monitorEventLoopDelay\` (1 ms resolution) p99 minus the 1 ms sampling period, over the row's run. An in-process variant whose promises all settle in microtasks never lets a timer fire during a run; that shows as a delay equal to the run's length.
- CPU µs/op: the main thread's own CPU time during the row's run (${results.cpuSource}; 10 ms ticks), divided by operations (turns, for agent turns). \`process.cpuUsage()\` would count the shard workers' threads too; Node 20 has no \`process.threadCpuUsage()\`.
- Memory: growth over the prefill after two full GCs, divided by sessions. The engine has no API for its workers' memory: its workers' share is the process RSS growth minus the main heap growth. Redis shows the server's own \`used_memory\` growth as well.
- Every variant runs in its own child process. All variants present the engine's async API (create / get / appendMessage / appendMessages / spliceMessages returning promises) and validate ids and messages with the engine's own checks (a structured message: the engine's check, which returns a copy); the Map and lru-cache baselines check idle expiry on every access like the engine. lru-cache returns the live object. Redis keeps a session as a msgpack value plus a list of msgpack messages, refreshed and read by one Lua call per operation (appendMessages one RPUSH of them all, spliceMessages one script).
`;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Grouped bars of ops/s at each workload's throughput concurrency, one group per workload, one bar per variant, log scale. */
export function throughputSvg(results: BenchResults): string {
  const variants = results.variants.filter((v) => results.results.some((r) => r.variant === v.id));
  const workloads = WORKLOAD_NAMES.filter((w) => results.plan.workloads.includes(w));
  const value = (variant: string, workload: string) =>
    results.results.find((r) => r.variant === variant)?.rows.find((row) => row.workload === workload && row.inFlight === inFlightFor(workload))?.opsPerSec ?? 0;
  const figures = variants.flatMap((v) => workloads.map((w) => value(v.id, w))).filter((v) => v > 0);
  const top = 10 ** Math.ceil(Math.log10(Math.max(1, ...figures)));
  const bottom = Math.min(1_000, 10 ** Math.floor(Math.log10(Math.max(1, Math.min(...figures)))));
  const [left, plotTop, plotHeight, barWidth, gap] = [70, 40, 300, 12, 24];
  const groupWidth = variants.length * barWidth + gap;
  const width = left + workloads.length * groupWidth + 20;
  const legendTop = plotTop + plotHeight + 50;
  const height = legendTop + Math.ceil(variants.length / 2) * 18 + 10;
  const y = (v: number) => plotTop + plotHeight * (1 - (Math.log10(Math.max(v, bottom)) - Math.log10(bottom)) / (Math.log10(top) - Math.log10(bottom)));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="13">ops/s (log scale) at 1 024 in flight; agent turns/s at ${AGENT_IN_FLIGHT}, 2 000-message windows at ${LONG_WINDOW_IN_FLIGHT}; ${escapeXml(results.plan.mode)} run, ${results.machine.cpus} cores</text>`,
  ];
  for (let decade = bottom; decade <= top; decade *= 10) {
    parts.push(`<line x1="${left}" x2="${width - 10}" y1="${y(decade)}" y2="${y(decade)}" stroke="#ddd"/>`);
    parts.push(
      `<text x="${left - 6}" y="${y(decade) + 4}" text-anchor="end">${decade >= 1e6 ? `${decade / 1e6}M` : decade >= 1e3 ? `${decade / 1e3}k` : decade}</text>`,
    );
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
