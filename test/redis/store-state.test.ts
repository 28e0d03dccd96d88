/**
 * A Redis shard tells its host when its store goes down and comes back (the events behind the engine's
 * `storeDown` / `storeUp`): down when its connection closes or Redis leaves a call unanswered for
 * `storeTimeoutMs`, up once that is over; each change once, never the same state twice in a row.
 */
import { describe, expect, it } from 'vitest';
import type { ShardConfig, ShardEvent } from '../../dist/src/protocol/messages.js';
import { ReplySequence } from '../../dist/src/shard/batch-runner.js';
import { RedisBackend } from '../../dist/src/shard/redis/redis-backend.js';
import { waitFor } from '../helpers/engine.js';
import { NEVER_ISSUED_ID } from '../helpers/ids.js';
import { hasRedis, withRedis, type RedisServer } from './redis-server.js';

const TIMEOUT_MS = 300;

/** Shard 1 of a Redis engine on `server` (no expiry listener), as its worker runs it, with the events it posts. */
async function withShard(server: RedisServer, fn: (events: ShardEvent[], backend: RedisBackend) => Promise<void>): Promise<void> {
  const events: ShardEvent[] = [];
  const config = {
    shard: 1,
    maxSessionAgeMs: 60_000,
    cleanupIntervalMs: 60_000,
    maxMessagesPerSession: 1_000,
    maxSessionBytes: 1 << 30,
    faultInjection: false,
    redis: { kind: 'single', url: server.url, options: {}, keyPrefix: '', configureKeyspaceEvents: false },
    storeTimeoutMs: TIMEOUT_MS,
  } as unknown as ShardConfig;
  const backend = new RedisBackend(config, new ReplySequence(), (event) => events.push(event));
  try {
    await backend.handlers.ping(null, null);
    await fn(events, backend);
  } finally {
    backend.close();
  }
}

const states = (events: ShardEvent[]) => events.filter((event) => event.type === 'store');

describe.skipIf(!hasRedis)('the store state a Redis shard posts', () => {
  it('posts nothing while Redis serves, down when the connection is lost, and up once it is back', async () => {
    await withRedis(async (server) => {
      await withShard(server, async (events, backend) => {
        expect(await backend.handlers.touch(NEVER_ISSUED_ID, null)).toBe(false);
        expect(states(events)).toEqual([]);
        await server.kill();
        await waitFor(() => states(events).length === 1, 10_000, 'the down event');
        expect(states(events)).toEqual([
          { type: 'store', up: false, reason: 'connection', message: 'the connection to Redis closed; the engine reconnects by itself' },
        ]);
        await server.restart();
        await waitFor(() => states(events).length === 2, 10_000, 'the up event');
        expect(states(events)[1]).toEqual({ type: 'store', up: true });
        expect(await backend.handlers.touch(NEVER_ISSUED_ID, null)).toBe(false);
        expect(states(events)).toHaveLength(2);
      });
    });
  }, 30_000);

  it('posts down when a frozen Redis leaves a call unanswered, and up once it answers again', async () => {
    await withRedis(async (server) => {
      await withShard(server, async (events, backend) => {
        server.pause();
        try {
          const error = await Promise.resolve(backend.handlers.touch(NEVER_ISSUED_ID, null)).then(
            () => null,
            (failure: unknown) => failure,
          );
          // What the batch runner does with a call Redis did not answer: it trips the breaker.
          expect(backend.failureOf(error, NEVER_ISSUED_ID).code).toBe('ERR_STORE_UNAVAILABLE');
          expect(states(events)).toEqual([
            { type: 'store', up: false, reason: 'no answer', message: expect.stringContaining(`storeTimeoutMs (${TIMEOUT_MS} ms)`) },
          ]);
        } finally {
          server.resume();
        }
        await waitFor(() => states(events).length === 2, 10_000, 'the up event');
        expect(states(events)[1]).toEqual({ type: 'store', up: true });
      });
    });
  }, 30_000);
});
