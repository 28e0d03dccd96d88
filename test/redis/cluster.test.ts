/**
 * What only a cluster shows: sessions spread over every master, `list()`/`size()` scan them all, and
 * `'expired'` events come from every master's notifications.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, SessionEngine } from '../../dist/src/index.js';
import { codeOf, settle, waitFor } from '../helpers/engine.js';
import { hasRedis, RedisCluster } from './redis-server.js';

let cluster: RedisCluster;

describe.skipIf(!hasRedis)('the engine on a 3-node Redis Cluster', () => {
  beforeAll(async () => {
    cluster = await RedisCluster.start();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('spreads sessions over every master, lists and counts them all, and hears every expiry', async () => {
    const { Cluster } = await import('ioredis');
    const probe = new Cluster(cluster.seeds);
    // Long enough that none expires before it is counted and listed, even on a loaded machine.
    const engine = await SessionEngine.start({
      shards: 2,
      store: { redis: { cluster: cluster.seeds }, configureKeyspaceEvents: true },
      maxSessionAgeMs: 3_000,
    });
    try {
      const expired = new Set<string>();
      engine.on('expired', (ids) => {
        for (const id of ids) expired.add(id);
      });
      const ids = await Promise.all(Array.from({ length: 60 }, () => engine.create()));
      const perMaster = await Promise.all(probe.nodes('master').map((node) => node.dbsize()));
      expect(perMaster).toHaveLength(3);
      for (const keys of perMaster) expect(keys).toBeGreaterThan(0);
      expect(await engine.size()).toBe(60);
      expect(await engine.list()).toEqual([...ids].sort());
      await waitFor(() => ids.every((id) => expired.has(id)), 20_000, 'an expired event for each session on every master');
      expect(await engine.size()).toBe(0);
    } finally {
      await engine.close();
      probe.disconnect();
    }
  });

  it('rejects ERR_STORE_UNAVAILABLE for the sessions of a dead master, within the bound, and serves the others', async () => {
    const engine = await SessionEngine.start({ shards: 2, store: { redis: { cluster: cluster.seeds } }, storeTimeoutMs: 1_000 });
    try {
      const ids = await Promise.all(Array.from({ length: 30 }, () => engine.create()));
      await cluster.nodes[2]!.kill();
      const started = Date.now();
      const outcomes = await Promise.all(ids.map((id) => settle(engine.touch(id))));
      expect(Date.now() - started).toBeLessThan(1_000 + 4_000);
      const failed = outcomes.filter((o) => !o.ok);
      expect(failed.length).toBeGreaterThan(0);
      expect(failed.length).toBeLessThan(ids.length);
      for (const o of failed) expect(o.ok ? null : codeOf(o.error)).toBe(ErrorCode.STORE_UNAVAILABLE);
    } finally {
      await engine.close();
    }
  });
});
