/**
 * The engine's public behaviours, run against both stores: the shards' memory and Redis. Whatever a host
 * sees through the API must not depend on where the sessions live, except where the README says so
 * (`sweep()` resolves 0 on Redis; `maxSessions` is not enforced there).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, SessionEngine, type SessionEngineOptions, type SessionId } from '../../dist/src/index.js';
import { codeOf, sleep, waitFor, withEngine } from '../helpers/engine.js';
import { NEVER_ISSUED_ID } from '../helpers/ids.js';
import { hasRedis, RedisCluster, RedisServer } from './redis-server.js';

let server: RedisServer | null = null;
let cluster: RedisCluster | null = null;

beforeAll(async () => {
  if (!hasRedis) return;
  // Settled, not Promise.all: when one fails to start, the other must still be kept, for afterAll to stop.
  // The single server notifies expired keys as an operator would configure it; on the cluster, the engine
  // is allowed to configure the nodes itself (store.configureKeyspaceEvents).
  const [single, three] = await Promise.allSettled([RedisServer.start(['--notify-keyspace-events', 'Ex']), RedisCluster.start()]);
  if (single.status === 'fulfilled') server = single.value;
  if (three.status === 'fulfilled') cluster = three.value;
  for (const outcome of [single, three]) if (outcome.status === 'rejected') throw outcome.reason;
}, 60_000);
afterAll(async () => {
  await server?.stop();
  await cluster?.stop();
});

const STORES = [
  { name: 'memory', store: null },
  { name: 'redis', store: 'single' },
  { name: 'a 3-node Redis Cluster', store: 'cluster' },
] as const;

describe.each(STORES)('the engine on $name', ({ store }) => {
  const skip = store !== null && !hasRedis;
  /** The options of one test, on this store. */
  const options = (extra: SessionEngineOptions = {}): SessionEngineOptions => ({
    shards: 2,
    ...extra,
    ...(store === 'single' ? { store: { redis: server!.url }, storeTimeoutMs: 2_000 } : {}),
    ...(store === 'cluster' ? { store: { redis: { cluster: cluster!.seeds }, configureKeyspaceEvents: true }, storeTimeoutMs: 2_000 } : {}),
  });
  const run = (fn: (engine: SessionEngine) => Promise<void>, extra?: SessionEngineOptions) => withEngine(options(extra), fn);

  it.skipIf(skip)('creates a session with its fields and reads it back', async () => {
    await run(async (engine) => {
      const id = await engine.create({
        clientCapabilities: { fs: { readTextFile: true }, extra: [1, 'two'] },
        mcpServers: ['fs'],
        cwd: '/work',
        title: 'T',
        owner: 'ann',
      });
      const session = await engine.get(id);
      expect(session).toMatchObject({
        id,
        context: [],
        clientCapabilities: { fs: { readTextFile: true }, extra: [1, 'two'] },
        mcpServers: ['fs'],
        cwd: '/work',
        title: 'T',
        owner: 'ann',
      });
      expect(session!.updatedAt).toBe(session!.createdAt);
      expect(session!.lastAccessed).toBeGreaterThanOrEqual(session!.createdAt);
      const bare = await engine.get(await engine.create());
      expect(bare).toMatchObject({ clientCapabilities: null, mcpServers: [], cwd: null, title: null, owner: null });
    });
  });

  it.skipIf(skip)('appends in order, returns the new length, and reads only the newest messages when asked', async () => {
    await run(async (engine) => {
      const id = await engine.create();
      const lengths = await Promise.all(
        ['a', 'b', 'c', 'é'.repeat(200), ''].map((content, i) => engine.appendMessage(id, { role: 'user', content, timestamp: 1_000 + i })),
      );
      expect(lengths).toEqual([1, 2, 3, 4, 5]);
      const session = await engine.get(id);
      expect(session!.context.map((m) => m.content)).toEqual(['a', 'b', 'c', 'é'.repeat(200), '']);
      expect(session!.context[0]).toEqual({ id: expect.any(String), role: 'user', content: 'a', timestamp: 1_000 });
      expect((await engine.get(id, { lastMessages: 2 }))!.context.map((m) => m.content)).toEqual(['é'.repeat(200), '']);
      expect((await engine.get(id, { lastMessages: 0 }))!.context).toEqual([]);
      expect((await engine.get(id, { lastMessages: 99 }))!.context).toHaveLength(5);
    });
  });

  it.skipIf(skip)('updates the fields given, clears those given as null, and leaves the rest', async () => {
    await run(async (engine) => {
      const id = await engine.create({ cwd: '/a', title: 'T', owner: 'ann', mcpServers: ['x'] });
      await engine.update(id, { title: null, owner: 'bob', clientCapabilities: { terminal: true } });
      expect(await engine.get(id)).toMatchObject({ cwd: '/a', title: null, owner: 'bob', mcpServers: ['x'], clientCapabilities: { terminal: true } });
    });
  });

  it.skipIf(skip)('rejects with the same typed errors', async () => {
    await run(
      async (engine) => {
        expect(codeOf(await engine.appendMessage(NEVER_ISSUED_ID, { role: 'user', content: 'x' }).catch((e) => e))).toBe(ErrorCode.SESSION_NOT_FOUND);
        expect(codeOf(await engine.update(NEVER_ISSUED_ID, { title: 'x' }).catch((e) => e))).toBe(ErrorCode.SESSION_NOT_FOUND);
        expect(codeOf(await engine.get('nope').catch((e) => e))).toBe(ErrorCode.INVALID_SESSION_ID);
        const id = await engine.create();
        expect(codeOf(await engine.appendMessage(id, { role: 'user', content: 'x'.repeat(65) }).catch((e) => e))).toBe(ErrorCode.LIMIT_EXCEEDED);
        await engine.appendMessage(id, { role: 'user', content: '1' });
        await engine.appendMessage(id, { role: 'user', content: '2' });
        const third = await engine.appendMessage(id, { role: 'user', content: '3' }).catch((e) => e);
        expect(codeOf(third)).toBe(ErrorCode.LIMIT_EXCEEDED);
        expect((third as Error).message).toMatch(/maxMessagesPerSession/);
        expect((await engine.get(id))!.context).toHaveLength(2);
      },
      { maxMessagesPerSession: 2, maxMessageBytes: 64 },
    );
  });

  it.skipIf(skip)('touches, removes (resolving the session as it was), and forgets', async () => {
    await run(async (engine) => {
      const id = await engine.create({ title: 'gone' });
      await engine.appendMessage(id, { role: 'assistant', content: 'bye' });
      expect(await engine.touch(id)).toBe(true);
      const removed = await engine.remove(id);
      expect(removed).toMatchObject({ id, title: 'gone', context: [{ role: 'assistant', content: 'bye' }] });
      expect(await engine.remove(id)).toBeUndefined();
      expect(await engine.get(id)).toBeUndefined();
      expect(await engine.touch(id)).toBe(false);
    });
  });

  it.skipIf(skip)('lists in either order, filters, pages, and counts', async () => {
    await run(async (engine) => {
      // Earlier tests of this file share the server: count only what this test creates.
      const before = await engine.size();
      const ids: SessionId[] = [];
      for (let i = 0; i < 6; i++) {
        ids.push(await engine.create({ owner: i % 2 === 0 ? 'even' : 'odd', cwd: `/p${i % 3}` }));
        // ULIDs within one millisecond are ordered too, but creating across shards must not depend on it
        await sleep(2);
      }
      expect(await engine.size()).toBe(before + 6);
      const all = await engine.list();
      expect(all.filter((id) => ids.includes(id))).toEqual(ids);
      expect(await engine.list({ owner: 'even' })).toEqual([ids[0], ids[2], ids[4]]);
      expect(await engine.list({ owner: 'odd', cwd: '/p0' })).toEqual([ids[3]]);
      expect(await engine.list({ after: ids[1], limit: 2 })).toEqual([ids[2], ids[3]]);
      expect(await engine.list({ order: 'desc', limit: 2 })).toEqual([ids[5], ids[4]]);
      expect(await engine.list({ order: 'desc', after: ids[2], owner: 'even' })).toEqual([ids[0]]);
      for (const id of ids) await engine.remove(id);
      expect(await engine.size()).toBe(before);
    });
  });

  it.skipIf(skip)('expires idle sessions, announces them, and keeps those in use', async () => {
    const expired: string[] = [];
    await run(
      async (engine) => {
        engine.on('expired', (ids) => expired.push(...ids));
        const idle = await engine.create();
        const busy = await engine.create();
        const deadline = Date.now() + 3_000;
        while (Date.now() < deadline) {
          expect(await engine.touch(busy)).toBe(true);
          await sleep(100);
        }
        expect(await engine.get(idle)).toBeUndefined();
        expect(await engine.get(busy)).toBeDefined();
        // Memory: found at the access above or by the timer. Redis: a keyspace notification, best effort
        // but prompt on an idle local server.
        await waitFor(() => expired.includes(idle), 10_000, 'the expired event');
        expect(expired).not.toContain(busy);
        expect(typeof (await engine.sweep())).toBe('number');
      },
      // Touched every ~100 ms: a TTL ten times that keeps the busy one alive through a stalled turn or two.
      { maxSessionAgeMs: 1_000, cleanupIntervalMs: 100 },
    );
  });

  it.skipIf(skip)('serves a large mixed batch, one result per op', async () => {
    await run(async (engine) => {
      const ids = await Promise.all(Array.from({ length: 300 }, (_, i) => engine.create({ title: `s${i}` })));
      const results = await Promise.all(
        ids.flatMap((id, i) => [engine.appendMessage(id, { role: 'user', content: `m${i}` }), engine.get(id), engine.touch(id)]),
      );
      for (let i = 0; i < ids.length; i++) {
        expect(results[i * 3]).toBe(1);
        expect(results[i * 3 + 1]).toMatchObject({ id: ids[i], title: `s${i}`, context: [{ content: `m${i}` }] });
        expect(results[i * 3 + 2]).toBe(true);
      }
      await Promise.all(ids.map((id) => engine.remove(id)));
    });
  });
});

describe.skipIf(!hasRedis)('what differs on Redis', () => {
  it('does not enforce maxSessions, sweeps nothing, and refuses persistence', async () => {
    await withEngine({ shards: 2, maxSessions: 2, store: { redis: server!.url } }, async (engine) => {
      const ids = await Promise.all(Array.from({ length: 5 }, () => engine.create()));
      expect(new Set(ids).size).toBe(5);
      expect(await engine.sweep()).toBe(0);
      const stats = await engine.stats();
      expect(stats.shards).toHaveLength(2);
      expect(stats.shards.reduce((sum, shard) => sum + shard.ops, 0)).toBeGreaterThanOrEqual(5);
      await Promise.all(ids.map((id) => engine.remove(id)));
    });
    const refused = await SessionEngine.start({ store: { redis: server!.url }, persistence: { dir: '/tmp/never' } }).catch((e) => e);
    expect(codeOf(refused)).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  it('stores values with the format version, under keys hashed by session', async () => {
    const { Redis } = await import('ioredis');
    const client = new Redis(server!.url);
    try {
      await withEngine({ shards: 1, store: { redis: server!.url } }, async (engine) => {
        const id = await engine.create();
        await engine.appendMessage(id, { role: 'user', content: 'x' });
        expect(await client.hget(`ss:{${id}}:m`, 'v')).toBe('3');
        expect(await client.llen(`ss:{${id}}:l`)).toBe(1);
        // The set of the session's message ids.
        expect(await client.scard(`ss:{${id}}:i`)).toBe(1);
        const ttl = await client.pttl(`ss:{${id}}:m`);
        expect(ttl).toBeGreaterThan(0);
        expect(await client.pttl(`ss:{${id}}:l`)).toBeGreaterThan(0);
        expect(await client.pttl(`ss:{${id}}:i`)).toBeGreaterThan(0);
        await engine.remove(id);
        expect(await client.exists(`ss:{${id}}:m`, `ss:{${id}}:l`, `ss:{${id}}:i`)).toBe(0);
      });
    } finally {
      client.disconnect();
    }
  });
});
