/** A shard worker that dies loses nothing on Redis: the sessions were never in it. */
import { describe, expect, it } from 'vitest';
import { withEngine, waitFor, injectFault } from '../helpers/engine.js';
import { hasRedis, withRedis } from './redis-server.js';

describe.skipIf(!hasRedis)('a crashed shard on Redis', () => {
  it('restarts with no session lost', async () => {
    await withRedis(async (server) => {
      await withEngine({ shards: 2, store: { redis: server.url }, faultInjection: true }, async (engine) => {
        const restarts: { shard: number; lostSessions: number }[] = [];
        engine.on('shardRestart', (event) => restarts.push(event));
        const ids = await Promise.all(Array.from({ length: 20 }, () => engine.create({ title: 'kept' })));
        await injectFault(engine, 0, 'exit');
        await waitFor(() => restarts.length === 1, 15_000, 'the restart');
        expect(restarts[0]).toEqual({ shard: 0, lostSessions: 0 });
        const sessions = await Promise.all(ids.map((id) => engine.get(id)));
        for (const session of sessions) expect(session).toMatchObject({ title: 'kept' });
      });
    });
  });

  it('tells the callers of a crashed shard that its sessions are in the store, not lost', async () => {
    await withRedis(async (server) => {
      await withEngine({ shards: 1, store: { redis: server.url }, faultInjection: true, shardTimeoutMs: 1_000, storeTimeoutMs: 500 }, async (engine) => {
        const id = await engine.create();
        await engine.injectFault(0, 'hang');
        // Never answered: the watchdog declares the shard crashed and rejects the call.
        const error = await engine.get(id).catch((e: unknown) => e);
        expect(error).toMatchObject({ code: 'ERR_SHARD_CRASHED' });
        expect((error as Error).message).toContain('its sessions are in the store, untouched');
        expect((error as Error).message).not.toContain('lost');
      });
    });
  });
});
