/**
 * The watchdog ends shards that stop answering (test/integration/crash.test.ts), and only those: a host
 * whose own thread was held (a long garbage collection, a busy machine) finds every batch overdue at its
 * first timer tick back, while the replies wait behind that timer in the event loop. The same holds for
 * the ping a starting worker answers (`src/main/overdue.ts`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, SessionEngine, type ShardRestartEvent } from '../../dist/src/index.js';
import { resolveOptions, shardSpinConfig } from '../../dist/src/main/options.js';
import { Shard } from '../../dist/src/main/shard.js';
import { EngineMetrics } from '../../dist/src/main/metrics.js';
import { sleep, waitFor, withEngine } from '../helpers/engine.js';

// Long enough for a worker to boot and answer its start-up ping on a loaded 2-core machine (at 200 ms a
// busy CI machine failed the start itself, before the case under test).
const SHARD_TIMEOUT_MS = 1_000;

/** Holds this thread (and its event loop) for `ms`. */
function holdThread(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: nothing else runs on this thread meanwhile
  }
}

describe('the watchdog', () => {
  it('does not declare a shard hung whose answer waited behind a held host thread', async () => {
    await withEngine({ shards: 1, shardTimeoutMs: SHARD_TIMEOUT_MS }, async (engine) => {
      const restarts: ShardRestartEvent[] = [];
      engine.on('shardRestart', (event) => restarts.push(event));
      const id = await engine.create();
      const read = engine.get(id);
      // The batch goes out in a microtask queued by the call: after this await it is with the worker.
      await Promise.resolve();
      // Held past shardTimeoutMs three times over, in an event-loop phase of its own (as a timer or a
      // long collection would hold it): the worker answers meanwhile, and the loop's next turn runs the
      // watchdog's timer before it reads the answer.
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          holdThread(3 * SHARD_TIMEOUT_MS);
          resolve();
        }),
      );
      expect((await read)?.id).toBe(id);
      // Some more ticks of the watchdog with nothing in flight.
      await sleep(2 * SHARD_TIMEOUT_MS);
      expect(restarts).toEqual([]);
      expect((await engine.get(id))?.id).toBe(id);
    });
  });

  it('does not fail a start whose workers answered their start-up ping behind a held host thread', async () => {
    // A longer timeout here: after the hold the ping still has to reach the worker (piscina hands it over
    // once it reads the worker's "ready"), and be answered within the quarter timeout of the second look.
    const timeoutMs = 1_000;
    // The ping is sent (queued in piscina) before start() returns its promise.
    const starting = SessionEngine.start({ shards: 2, shardTimeoutMs: timeoutMs });
    // Held three times past the timeout while the workers boot: the first timer afterwards finds the ping late.
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        holdThread(3 * timeoutMs);
        resolve();
      }),
    );
    const engine = await starting;
    try {
      const id = await engine.create();
      expect((await engine.get(id))?.id).toBe(id);
    } finally {
      await engine.close();
    }
  });

  it('fails the start of a worker that never answers its start-up ping with ERR_SHARD_CRASHED', async () => {
    const options = resolveOptions({ shards: 1, shardTimeoutMs: 200 });
    const hooks = { metrics: new EngineMetrics({}), sizeChanged() {}, createSettled() {}, expired() {}, restarted() {}, warning() {}, storeState() {} };
    const shard = new Shard(0, new URL('./fixtures/silent-worker.mjs', import.meta.url).href, options, hooks, shardSpinConfig(options));
    const started = performance.now();
    const error = await shard.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: ErrorCode.SHARD_CRASHED, message: expect.stringMatching(/start-up ping.*within shardTimeoutMs \(200 ms\)/) });
    // Given up only once the timeout has passed (at the second look that finds the ping late).
    expect(performance.now() - started).toBeGreaterThanOrEqual(200);
    await shard.close();
  });

  it('does not declare hung a shard getting on with a burst of large fsynced appends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'session-shards-watchdog-'));
    try {
      // All in one tick: as a single batch they took seconds to apply and fsync, past this timeout.
      await withEngine({ shards: 1, shardTimeoutMs: 2_000, persistence: { dir, fsync: 'always' } }, async (engine) => {
        const restarts: ShardRestartEvent[] = [];
        engine.on('shardRestart', (event) => restarts.push(event));
        const ids = await Promise.all(Array.from({ length: 50 }, () => engine.create()));
        const content = 'w'.repeat(1_048_576);
        const appends = Array.from({ length: 400 }, (_, n) => engine.appendMessage(ids[n % ids.length]!, { role: 'user', content }));
        const lengths = await Promise.all(appends);
        expect(lengths.filter((length) => length === 8)).toHaveLength(ids.length);
        expect(restarts).toEqual([]);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('still ends a hung shard, whose progress counter stands still', async () => {
    await withEngine({ shards: 1, shardTimeoutMs: 2_000, faultInjection: true }, async (engine) => {
      const id = await engine.create();
      await engine.injectFault(0, 'hang');
      const error = await engine.get(id).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: ErrorCode.SHARD_CRASHED });
      await waitFor(async () => (await engine.stats()).shards[0]!.restarts === 1, 20_000, 'the hung shard to be restarted');
    });
  });
});
