/**
 * Persistence benchmark (issue 4): throughput of the mixed workload (80% get / 20% appendMessage, 1 024
 * calls in flight) with persistence off, 'no', 'everysec' and 'always', side by side in one run; then the
 * recovery time of 100 000 sessions with 10 messages each.
 *
 *   npm run build && node dist/bench/persistence.js [--seconds 3] [--rounds 3] [--sessions 100000] [--shards 2]
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SessionEngine, type FsyncPolicy, type SessionEngineOptions } from '../src/index.js';

const args = process.argv.slice(2);
const argument = (name: string, fallback: number): number => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const SECONDS = argument('seconds', 3);
const RECOVERY_SESSIONS = argument('sessions', 100_000);
const SHARDS = argument('shards', 2);
/** Variants run in interleaved rounds and the median is reported: the host's noise hits them all alike. */
const ROUNDS = argument('rounds', 3);
const PREFILL = 10_000;
const IN_FLIGHT = 1_024;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'session-shards-bench-'));
}

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

/** Creates `count` sessions with `messages` messages each, `IN_FLIGHT` calls at a time. */
async function prefill(engine: SessionEngine, count: number, messages: number): Promise<string[]> {
  const ids: string[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(IN_FLIGHT, count) }, async () => {
      while (next < count) {
        const n = next++;
        const id = await engine.create({ mcpServers: ['fs'] });
        for (let m = 0; m < messages; m++)
          await engine.appendMessage(id, { role: m % 2 === 0 ? 'user' : 'assistant', content: `message ${m} of session ${n}: ${'x'.repeat(60)}` });
        ids[n] = id;
      }
    }),
  );
  return ids;
}

async function mixed(engine: SessionEngine, ids: string[]): Promise<number> {
  let ops = 0;
  let k = 0;
  const deadline = performance.now() + SECONDS * 1_000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < deadline) {
        const n = k++;
        const id = ids[(n * 7919) % ids.length]!;
        if (n % 5 === 0) await engine.appendMessage(id, { role: 'user', content: `mixed ${n}` });
        else await engine.get(id, { lastMessages: 10 });
        ops++;
      }
    }),
  );
  return ops / ((performance.now() - started) / 1_000);
}

async function throughput(): Promise<void> {
  const variants: [string, FsyncPolicy | null][] = [
    ['off (memory only)', null],
    ["'no'", 'no'],
    ["'everysec'", 'everysec'],
    ["'always'", 'always'],
  ];
  const runs = new Map<string, number[]>(variants.map(([name]) => [name, []]));
  const files = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round++)
    for (const [name, fsync] of variants) {
      const dir = fsync === null ? null : tempDir();
      const options: SessionEngineOptions = { shards: SHARDS, ...(dir === null ? {} : { persistence: { dir, fsync: fsync! } }) };
      const engine = await SessionEngine.start(options);
      try {
        const ids = await prefill(engine, PREFILL, 5);
        await mixed(engine, ids); // warm-up, same length
        const opsPerSecond = await mixed(engine, ids);
        runs.get(name)!.push(opsPerSecond);
        files.set(name, dir === null ? 0 : dirBytes(dir));
      } finally {
        await engine.close();
        if (dir !== null) rmSync(dir, { recursive: true, force: true });
      }
    }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const base = median(runs.get(variants[0]![0])!);
  console.log(
    `mixed workload (80% get lastMessages 10 / 20% append), ${SHARDS} shards, ${IN_FLIGHT} in flight, ${PREFILL} sessions, ${SECONDS} s per run, median of ${ROUNDS} interleaved rounds`,
  );
  console.log('| persistence | ops/s (median) | vs memory-only | every round | files after a run |');
  console.log('|---|---:|---:|---|---:|');
  for (const [name] of variants) {
    const ops = median(runs.get(name)!);
    const bytes = files.get(name)!;
    const all = runs
      .get(name)!
      .map((value) => `${Math.round(value / 1_000)}k`)
      .join(' / ');
    console.log(
      `| ${name} | ${Math.round(ops).toLocaleString('en-US')} | ${((ops / base) * 100).toFixed(0)}% | ${all} | ${bytes === 0 ? '-' : `${(bytes / 1_048_576).toFixed(1)} MiB`} |`,
    );
  }
}

async function recovery(): Promise<void> {
  const dir = tempDir();
  try {
    const options: SessionEngineOptions = { shards: SHARDS, persistence: { dir, fsync: 'no' } };
    let engine = await SessionEngine.start(options);
    const filled = performance.now();
    await prefill(engine, RECOVERY_SESSIONS, 10);
    const fillSeconds = (performance.now() - filled) / 1_000;
    await engine.close();
    const logBytes = dirBytes(dir);
    engine = await SessionEngine.start(options);
    const fromLog = engine.recovery!;
    await engine.close();
    const snapshotBytes = dirBytes(dir);
    engine = await SessionEngine.start(options);
    const fromSnapshot = engine.recovery!;
    await engine.close();
    engine = await SessionEngine.start({ ...options, shards: SHARDS + 1 });
    const resharded = engine.recovery!;
    await engine.close();
    console.log(`\nrecovery of ${RECOVERY_SESSIONS.toLocaleString('en-US')} sessions x 10 messages (filled in ${fillSeconds.toFixed(1)} s), ${SHARDS} shards`);
    console.log('| recovering from | files | sessions | ms (start() until serving, snapshot rewrite included) |');
    console.log('|---|---:|---:|---:|');
    console.log(
      `| logs only (first restart) | ${(logBytes / 1_048_576).toFixed(1)} MiB | ${fromLog.sessions.toLocaleString('en-US')} | ${Math.round(fromLog.ms)} |`,
    );
    console.log(
      `| snapshots | ${(snapshotBytes / 1_048_576).toFixed(1)} MiB | ${fromSnapshot.sessions.toLocaleString('en-US')} | ${Math.round(fromSnapshot.ms)} |`,
    );
    console.log(`| snapshots, ${SHARDS + 1} shards instead of ${SHARDS} | | ${resharded.sessions.toLocaleString('en-US')} | ${Math.round(resharded.ms)} |`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await throughput();
await recovery();
