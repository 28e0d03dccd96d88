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
});
