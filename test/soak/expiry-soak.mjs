/**
 * Soak (not run by CI): sessions created and expiring at a balanced rate for a bounded time, with
 * persistence on. Prints heap, RSS, active handles and log size every few seconds; after warm-up they
 * must stay flat (the script fails if the last third's heap or handle count grew by more than the bounds).
 *
 *   npm run build && node --expose-gc test/soak/expiry-soak.mjs [minutes=5] [fsync=everysec]
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionEngine } from '../../dist/src/index.js';

const minutes = Number(process.argv[2] ?? 5);
const fsync = process.argv[3] ?? 'everysec';
const dir = mkdtempSync(join(tmpdir(), 'session-shards-soak-'));
const TTL_MS = 2_000;
const CREATES_PER_SECOND = 2_000;

const engine = await SessionEngine.start({
  shards: 2,
  maxSessionAgeMs: TTL_MS,
  cleanupIntervalMs: 250,
  persistence: { dir, fsync, compactAfterBytes: 8 * 1_048_576 },
});
let expired = 0;
engine.on('expired', (ids) => (expired += ids.length));
const samples = [];
const handles = () => process._getActiveHandles().length;
const deadline = Date.now() + minutes * 60_000;
let created = 0;
try {
  while (Date.now() < deadline) {
    const second = Date.now();
    const batch = [];
    for (let i = 0; i < CREATES_PER_SECOND; i++) {
      batch.push(engine.create().then((id) => engine.appendMessage(id, { role: 'user', content: `soak ${created + i}` })));
    }
    await Promise.all(batch);
    created += CREATES_PER_SECOND;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1_000 - (Date.now() - second))));
    if ((created / CREATES_PER_SECOND) % 5 === 0) {
      globalThis.gc?.();
      const memory = process.memoryUsage();
      const files = readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
      const sample = { heap: memory.heapUsed, rss: memory.rss, handles: handles() };
      samples.push(sample);
      const held = (await engine.stats()).shards.reduce((sum, shard) => sum + shard.sessions, 0);
      console.log(
        `${Math.round((Date.now() - deadline + minutes * 60_000) / 1_000)} s: created ${created}, expired ${expired}, held ${held}, ` +
          `heap ${(sample.heap / 1_048_576).toFixed(1)} MiB, rss ${(sample.rss / 1_048_576).toFixed(1)} MiB, handles ${sample.handles}, files ${(files / 1_048_576).toFixed(1)} MiB`,
      );
    }
  }
} finally {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
}
const third = Math.floor(samples.length / 3);
const warm = samples.slice(third);
if (warm.length >= 2) {
  const first = warm[0];
  const last = warm.at(-1);
  const heapGrowth = (last.heap - first.heap) / first.heap;
  console.log(
    `after warm-up: heap ${(heapGrowth * 100).toFixed(1)}%, rss ${(((last.rss - first.rss) / first.rss) * 100).toFixed(1)}%, handles ${first.handles} -> ${last.handles}`,
  );
  if (heapGrowth > 0.25 || last.handles > first.handles) {
    console.error('FAIL: heap or handles grew after warm-up');
    process.exitCode = 1;
  }
}
