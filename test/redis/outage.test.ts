/**
 * A Redis that goes away: calls reject ERR_STORE_UNAVAILABLE within storeTimeoutMs (never hang), and the
 * engine serves again by itself once Redis is back.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, SessionEngine, shardFor, StoreUnavailableError } from '../../dist/src/index.js';
import { codeOf, settle, sleep, waitFor, withEngine, type Outcome } from '../helpers/engine.js';
import { freePort, hasRedis, withRedis } from './redis-server.js';

const TIMEOUT_MS = 1_000;
const SHARDS = 2;

describe.skipIf(!hasRedis)('a Redis that goes away', () => {
  it('rejects typed errors while it is down, within the bound, and serves again after it restarts, mid-load', async () => {
    await withRedis(async (server) => {
      await withEngine({ shards: SHARDS, store: { redis: server.url }, storeTimeoutMs: TIMEOUT_MS }, async (engine) => {
        const id = await engine.create();
        let stop = false;
        const seen = { ok: 0, unavailable: 0, other: [] as unknown[], slowRounds: [] as number[], messages: new Set<string>() };
        // A steady load from the host while Redis dies and comes back.
        const load = (async () => {
          while (!stop) {
            const started = Date.now();
            const outcomes = await Promise.all(Array.from({ length: 20 }, () => settle(engine.appendMessage(id, { role: 'user', content: 'x' }))));
            // Generous for a loaded machine, but far below ioredis's own minute of retries. Recorded, not
            // asserted here: an assertion failing inside the loop would surface as an unhandled rejection.
            const took = Date.now() - started;
            if (took >= TIMEOUT_MS + 3_000) seen.slowRounds.push(took);
            for (const o of outcomes) {
              if (o.ok) seen.ok++;
              else if (codeOf(o.error) === ErrorCode.STORE_UNAVAILABLE) {
                seen.unavailable++;
                seen.messages.add((o.error as Error).message);
              }
              // The session is gone with the killed server (no persistence): appends then find none.
              else if (codeOf(o.error) !== ErrorCode.SESSION_NOT_FOUND) seen.other.push(o.error);
            }
            await sleep(5);
          }
        })();
        try {
          await waitFor(() => seen.ok > 50, 10_000, 'appends before the kill');
          await server.kill();
          const whileDown = await settle(engine.get(id));
          expect(whileDown.ok).toBe(false);
          expect(whileDown.ok ? null : whileDown.error).toBeInstanceOf(StoreUnavailableError);
          await waitFor(() => seen.unavailable > 0, 10_000, 'typed errors while down');
          await sleep(300);
          await server.restart();
          // Service afterwards, from every shard: each shard's connection comes back on its own schedule, so
          // one shard serving says nothing of the other. Then a new session works end to end.
          const serving = new Set<number>();
          await waitFor(
            async () => {
              const outcome = await settle(engine.create());
              if (outcome.ok) serving.add(shardFor(outcome.value, SHARDS));
              return serving.size === SHARDS;
            },
            15_000,
            'service from every shard after the restart',
          );
          const fresh = await engine.create();
          expect(await engine.appendMessage(fresh, { role: 'user', content: 'back' })).toBe(1);
        } finally {
          // The load stops whatever happened above: it must not outlive the test against a closed engine.
          stop = true;
          await load;
        }
        expect(seen.slowRounds).toEqual([]);
        expect(seen.other).toEqual([]);
        // In the engine's words, not ioredis's ("Stream isn't writeable and enableOfflineQueue options is false").
        const messages = [...seen.messages];
        expect(messages.filter((message) => /offline ?queue|stream isn't|ioredis/i.test(message))).toEqual([]);
        expect(
          messages.some((message) => message.includes('the Redis store is not connected (connection lost or not yet established); the call was not sent')),
        ).toBe(true);
      });
    });
  }, 60_000);

  it('announces expiries again after Redis restarted (its notification setting is re-enabled, when the engine may set it)', async () => {
    await withRedis(async (server) => {
      const store = { redis: server.url, configureKeyspaceEvents: true };
      await withEngine({ shards: 2, store, storeTimeoutMs: TIMEOUT_MS, maxSessionAgeMs: 300 }, async (engine) => {
        const expired = new Set<string>();
        engine.on('expired', (ids) => {
          for (const id of ids) expired.add(id);
        });
        await server.kill();
        await server.restart();
        await waitFor(async () => (await settle(engine.create())).ok, 15_000, 'service after the restart');
        // The subscriber reconnects on its own schedule, and an expiry before it is back is lost (best
        // effort): keep creating until one of these sessions is announced. Each shard's connection comes
        // back on its own schedule too: a create routed to one still reconnecting is refused, not counted.
        const created: string[] = [];
        await waitFor(
          async () => {
            const outcome = await settle(engine.create());
            if (outcome.ok) created.push(outcome.value);
            return created.some((id) => expired.has(id));
          },
          15_000,
          'an expired event after the restart',
        );
      });
    });
  }, 60_000);

  it('rejects start() with ERR_STORE_UNAVAILABLE, in bounded time, when Redis is not there', async () => {
    const port = await freePort();
    const started = Date.now();
    const error = await SessionEngine.start({ shards: 1, store: { redis: `redis://127.0.0.1:${port}` }, storeTimeoutMs: TIMEOUT_MS }).catch((e) => e);
    expect(codeOf(error)).toBe(ErrorCode.STORE_UNAVAILABLE);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 5_000);
  });

  it('settles every one of 20 000 calls queued at once against a frozen Redis within storeTimeoutMs + 1 s, then serves again', async () => {
    await withRedis(async (server) => {
      await withEngine({ shards: 1, store: { redis: server.url }, storeTimeoutMs: TIMEOUT_MS }, async (engine) => {
        const ids = await Promise.all(Array.from({ length: 8 }, () => engine.create()));
        server.pause();
        let slowest = 0;
        let outcomes: Outcome<unknown>[];
        try {
          // Far more than one batch (maxBatchOps) for the one shard, all issued in one tick.
          const calls = Array.from({ length: 20_000 }, (_, n) => {
            const id = ids[n % ids.length]!;
            const issuedAt = performance.now();
            const call: Promise<unknown> =
              n % 3 === 0 ? engine.appendMessage(id, { role: 'user', content: `m${n}` }) : n % 3 === 1 ? engine.get(id) : engine.touch(id);
            return settle(call).then((outcome) => {
              slowest = Math.max(slowest, performance.now() - issuedAt);
              return outcome;
            });
          });
          outcomes = await Promise.all(calls);
          // Redis is known down now: a later call is refused unsent rather than sent to wait out the bound.
          const refused = await settle(engine.touch(ids[0]!));
          expect(refused.ok ? null : codeOf(refused.error)).toBe(ErrorCode.STORE_UNAVAILABLE);
          expect(refused.ok ? '' : (refused.error as Error).message).toMatch(/has not answered since; the call was not sent/);
        } finally {
          server.resume();
        }
        const codes = new Set(outcomes.map((o) => (o.ok ? 'ok' : codeOf(o.error))));
        expect(codes).toEqual(new Set([ErrorCode.STORE_UNAVAILABLE]));
        // The bound is storeTimeoutMs + 1 s; 3 s more of slack for a loaded 2-core machine (queued one batch
        // behind another, as before, the slowest took some 11 s).
        expect(slowest).toBeLessThan(TIMEOUT_MS + 1_000 + 3_000);
        await waitFor(async () => (await settle(engine.touch(ids[0]!))).ok, 15_000, 'service after SIGCONT');
        expect(await engine.appendMessage(ids[1]!, { role: 'user', content: 'back' })).toBeGreaterThan(0);
      });
    });
  }, 60_000);

  it('rejects calls to a Redis that stops answering (SIGSTOP) within the bound', async () => {
    await withRedis(async (server) => {
      await withEngine({ shards: 1, store: { redis: server.url }, storeTimeoutMs: TIMEOUT_MS }, async (engine) => {
        const id = await engine.create();
        server.pause();
        try {
          const started = Date.now();
          const outcome = await settle(engine.touch(id));
          expect(outcome.ok ? null : codeOf(outcome.error)).toBe(ErrorCode.STORE_UNAVAILABLE);
          expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 3_000);
        } finally {
          server.resume();
        }
        await waitFor(async () => (await settle(engine.touch(id))).ok, 15_000, 'service after SIGCONT');
        expect(await engine.touch(id)).toBe(true);
      });
    });
  });
});
