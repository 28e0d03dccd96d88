/**
 * `npm run bench`: runs every variant, each in a child process of its own, on the same workloads, then
 * prints the table (or JSON with --json) on stdout and writes bench/results/. Progress goes to stderr.
 *
 *   --quick     a short run (fewer sessions, shorter runs, no other shard counts nor hand-copy Map), under two minutes on 2 cores
 *   --scale     1 000 000 sessions: host heap, event-loop delay, memory per session, GC pauses
 *   --only S    only the variants whose id or label contains S
 *   --workloads W,...  only these workloads (a diagnosis, like --only: the report and chart stay)
 *   --json      the results as JSON on stdout instead of the table
 *
 * After the main pass, the write targets are measured again with the default engine and the `Map` taking
 * turns (`paired-runs.ts`).
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuSource } from './measure.js';
import { AGENT_PAIRING, REDIS_AGENT_PAIRING, runPaired, serveRuns, WRITE_PAIRING, type PairedFigure } from './paired-runs.js';
import { markdownReport, textTable, throughputSvg, type BenchResults } from './report.js';
import { mergePhases, type Phase, PHASES, type PhaseResult, runVariant, type VariantResult } from './run-variant.js';
import { checkScaleTargets, checkTargets } from './targets.js';
import { allVariants, type Variant } from './variants.js';
import { AGENT_WORKLOADS, planFor, WORKLOAD_NAMES, type Plan } from './workloads.js';

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    scale: { type: 'boolean', default: false },
    only: { type: 'string' },
    workloads: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
    // Internal: this process is the child that runs one variant's phase (--phase).
    child: { type: 'string' },
    phase: { type: 'string', default: 'base' },
    // Internal: this process is the child that serves one variant's runs on request (paired-runs.ts).
    serve: { type: 'string' },
    'serve-sessions': { type: 'string', default: 'writes' },
  },
  strict: true,
});

function sourceRevision(): { commit: string; srcDirty: boolean } {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return { commit: git('rev-parse', 'HEAD'), srcDirty: git('status', '--porcelain', '--', 'src').length > 0 };
  } catch {
    return { commit: 'unknown', srcDirty: false };
  }
}

function say(message: string): void {
  process.stderr.write(`${message}\n`);
}

function planFromFlags(): Plan {
  const plan = planFor(values.scale ? 'scale' : values.quick ? 'quick' : 'full');
  if (values.workloads === undefined) return plan;
  const wanted = values.workloads.split(',');
  const unknown = wanted.filter((w) => !(WORKLOAD_NAMES as readonly string[]).includes(w));
  if (unknown.length > 0) throw new Error(`unknown workloads ${unknown.join(', ')}; workloads: ${WORKLOAD_NAMES.join(', ')}`);
  return { ...plan, workloads: plan.workloads.filter((w) => wanted.includes(w)) };
}

/** A run that leaves some variants or workloads out is a diagnosis, not the project's figures. */
function filtered(): boolean {
  return values.only !== undefined || values.workloads !== undefined;
}

/**
 * Scale runs compare the default engine with the hand-copy Map (the fastest safe in-process design). A
 * quick run leaves out the variants no target judges (the other shard counts, the hand-copy Map), to
 * stay under two minutes with the agent workloads.
 */
function selectVariants(all: Variant[]): Variant[] {
  let chosen = values.scale
    ? all.filter((v) => v.id === 'engine-default' || v.id === 'map-copy')
    : values.quick
      ? all.filter((v) => (v.kind !== 'engine' || v.isDefault === true) && v.id !== 'map-copy')
      : all;
  if (values.only !== undefined) {
    const needle = values.only.toLowerCase();
    chosen = chosen.filter((v) => v.id.toLowerCase().includes(needle) || v.label.toLowerCase().includes(needle));
  }
  return chosen;
}

/** The flags a child needs to run the same plan. */
function planArgs(): string[] {
  return [
    ...(values.quick ? ['--quick'] : []),
    ...(values.scale ? ['--scale'] : []),
    ...(values.workloads === undefined ? [] : ['--workloads', values.workloads]),
  ];
}

/** One phase of a variant (`PHASES`) in a child process of its own. */
function runInChild(variant: Variant, phase: Phase): Promise<PhaseResult> {
  const args = ['--child', variant.id, '--phase', phase, ...planArgs()];
  // A million sessions held on the main thread need more than the default old-space limit.
  const execArgv = [...process.execArgv, ...(values.scale ? ['--max-old-space-size=12288'] : [])];
  // The child's stdout goes to our stderr: stdout carries only the final table or JSON.
  const child = fork(fileURLToPath(import.meta.url), args, { execArgv, stdio: ['ignore', 2, 2, 'ipc'] });
  return new Promise((resolve, reject) => {
    let result: PhaseResult | undefined;
    child.on('message', (message) => {
      result = message as PhaseResult;
    });
    child.on('error', reject);
    child.on('exit', (code) => (result !== undefined ? resolve(result) : reject(new Error(`${variant.id}: child exited with code ${code}`))));
  });
}

function variantById(id: string): Variant {
  const variant = allVariants().find((v) => v.id === id);
  if (variant === undefined) throw new Error(`unknown variant ${id}`);
  return variant;
}

async function child(id: string, phase: string): Promise<void> {
  if (!(PHASES as readonly string[]).includes(phase)) throw new Error(`unknown phase ${phase}; phases: ${PHASES.join(', ')}`);
  const result = await runVariant(variantById(id), planFromFlags(), phase as Phase);
  process.send!(result, () => process.exit(0));
}

/**
 * Both phases of a variant, each in a child process of its own, merged into its result. The agent
 * workloads run in a fresh process so that their figures do not carry what the first phase left behind
 * (a `Map` holding the create workload's half a million sessions collects a heap of ~2 GB).
 */
async function runVariantPhases(variant: Variant, plan: Plan): Promise<VariantResult> {
  const base = await runInChild(variant, 'base');
  if (!plan.workloads.some((w) => AGENT_WORKLOADS.includes(w))) return mergePhases(base, null);
  if (!variant.structured) {
    const skippedWorkloads = Object.fromEntries(
      plan.workloads.filter((w) => AGENT_WORKLOADS.includes(w)).map((w) => [w, 'no structured messages or history edits in this variant']),
    );
    return mergePhases(base, { variant: variant.id, rows: [], skippedWorkloads });
  }
  say(`[${variant.id}] agent workloads, in a fresh process`);
  return mergePhases(base, await runInChild(variant, 'agent'));
}

/**
 * The targets measured in alternating runs (`paired-runs.ts`), each when both its variants ran the
 * workloads in the main pass of a full run: the writes (the default engine against the live-object Map,
 * whose write code the three Map variants share), the agent turns (against the `structuredClone` Map), and
 * the agent turns on Redis (the engine on Redis against raw ioredis). A scale run has no such targets, a
 * filtered run is a diagnosis, and the runs of --quick are too short to pair: a Map run of its 100 000
 * appends on 20 000 sessions lasted ~90 ms, 1.0-1.2 million a second, none of its garbage collected yet
 * (0.31-0.39x against 0.68x in the main pass of an earlier --quick run).
 */
async function pairedFigures(plan: Plan, ran: VariantResult[], skipped: Record<string, string>): Promise<PairedFigure[]> {
  if (plan.mode !== 'full' || filtered()) return [];
  const script = fileURLToPath(import.meta.url);
  const figures: PairedFigure[] = [];
  const ranAgentTurns = (r: VariantResult) => r.rows.some((row) => row.workload === 'agent-turn' || row.workload === 'agent-turn-json');
  const pairings = [
    { name: 'paired runs', subject: 'engine-default', baseline: 'map-live', pairing: WRITE_PAIRING, needs: (r: VariantResult) => r.rows.length > 0 },
    { name: 'paired agent turns', subject: 'engine-default', baseline: 'map-clone', pairing: AGENT_PAIRING, needs: ranAgentTurns },
    { name: 'paired Redis agent turns', subject: 'engine-redis', baseline: 'redis', pairing: REDIS_AGENT_PAIRING, needs: ranAgentTurns },
  ];
  for (const { name, subject, baseline, pairing, needs } of pairings) {
    if (!ran.some((r) => r.variant === subject && needs(r)) || !ran.some((r) => r.variant === baseline && needs(r))) {
      skipped[name] = `${subject} or ${baseline} did not run them`;
      continue;
    }
    try {
      figures.push(...(await runPaired(script, planArgs(), variantById(subject), variantById(baseline), plan, say, pairing)));
    } catch (error) {
      say(`[paired] FAILED (${(error as Error).message})`);
      skipped[name] = `failed: ${(error as Error).message}`;
    }
  }
  return figures;
}

async function main(): Promise<void> {
  if (values.help) {
    process.stdout.write('usage: npm run bench -- [--quick] [--scale] [--only <variant substring>] [--workloads <name,...>] [--json]\n');
    return;
  }
  const started = performance.now();
  const loadAtStart = loadavg()[0]!;
  const startedAt = new Date().toISOString();
  const plan = planFromFlags();
  const all = allVariants();
  const chosen = selectVariants(all);
  if (chosen.length === 0) throw new Error(`no variant matches --only ${values.only}; variants: ${all.map((v) => v.id).join(', ')}`);
  const skipped: Record<string, string> = {};
  const results: VariantResult[] = [];
  for (const [n, variant] of chosen.entries()) {
    if (variant.skipped !== undefined) {
      skipped[variant.id] = variant.skipped;
      say(`[${n + 1}/${chosen.length}] ${variant.label}: skipped (${variant.skipped})`);
      continue;
    }
    say(`[${n + 1}/${chosen.length}] ${variant.label} (${plan.mode}, ${((performance.now() - started) / 1_000).toFixed(0)} s elapsed)`);
    try {
      results.push(await runVariantPhases(variant, plan));
    } catch (error) {
      skipped[variant.id] = `failed: ${(error as Error).message}`;
      say(`[${n + 1}/${chosen.length}] ${variant.label}: FAILED (${(error as Error).message})`);
    }
  }
  const paired = await pairedFigures(plan, results, skipped);
  const bench: BenchResults = {
    startedAt,
    durationSeconds: (performance.now() - started) / 1_000,
    plan,
    source: sourceRevision(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      totalMemGb: totalmem() / 2 ** 30,
      loadAvgAtStart: loadAtStart,
      loadAvgAtEnd: loadavg()[0]!,
    },
    cpuSource,
    variants: chosen.map((v) => ({ id: v.id, label: v.label, isDefault: v.isDefault === true, shards: v.shards })),
    skipped,
    results,
    paired,
    targets: plan.mode === 'scale' ? checkScaleTargets(results) : checkTargets(results, skipped, paired),
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = JSON.stringify(bench, null, 2);
  writeFileSync(`${RESULTS_DIR}${startedAt.replace(/[:.]/g, '-')}-${plan.mode}.json`, json);
  // A scale run measures other things: it must not replace the figures the quick/full report shows.
  writeFileSync(`${RESULTS_DIR}${plan.mode === 'scale' ? 'latest-scale.json' : 'latest.json'}`, json);
  // A filtered run is a diagnosis, not the project's figures: it leaves the report and chart alone.
  if (!filtered()) {
    writeFileSync(`${RESULTS_DIR}${plan.mode === 'scale' ? 'scale-report.md' : 'report.md'}`, markdownReport(bench));
    if (plan.mode !== 'scale') writeFileSync(`${RESULTS_DIR}throughput.svg`, throughputSvg(bench));
  }
  say(`done in ${bench.durationSeconds.toFixed(0)} s; results in bench/results/`);
  process.stdout.write(values.json ? `${json}\n` : `${textTable(bench)}\n`);
}

if (values.child !== undefined) {
  await child(values.child, values.phase!);
} else if (values.serve !== undefined) {
  const sessions = values['serve-sessions'];
  if (sessions !== 'writes' && sessions !== 'agent') throw new Error(`unknown --serve-sessions ${sessions}: writes or agent`);
  await serveRuns(variantById(values.serve), planFromFlags(), sessions);
} else {
  await main();
}
