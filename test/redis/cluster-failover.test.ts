/**
 * A master of the cluster dies and its replica takes over: the engine serves its sessions again, and the
 * `'expired'` events of the promoted master are heard (its subscription follows the failover).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionEngine } from '../../dist/src/index.js';
import { settle, waitFor } from '../helpers/engine.js';
import { hasRedis, RedisCluster } from './redis-server.js';

let cluster: RedisCluster;

// Known flaky, so run on demand only (REDIS_FAILOVER_TEST=1): about one run in 16 the engine's cluster client
// kept answering ERR_STORE_UNAVAILABLE for 30 s after the replica's promotion, although CLUSTER NODES showed
// the new master serving its slots. The cause (the client's slot refresh after a failover) is not found yet.
const failoverTestRequested = process.env.REDIS_FAILOVER_TEST === '1';

describe.skipIf(!hasRedis || !failoverTestRequested)('a failover in the cluster', () => {
  beforeAll(async () => {
    cluster = await RedisCluster.start(1);
  }, 90_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('serves again after a replica is promoted, and announces the expiries of the new master', async () => {
    const engine = await SessionEngine.start({ shards: 2, store: { redis: { cluster: cluster.seeds } }, maxSessionAgeMs: 1_500, storeTimeoutMs: 2_000 });
    try {
      const expired = new Set<string>();
      engine.on('expired', (ids) => ids.forEach((id) => expired.add(id)));
      await cluster.nodes[0]!.kill();
      // The replica is promoted after cluster-node-timeout (2 s) and an election.
      await cluster.waitUntilOk();
      let ids: string[] = [];
      let lastError: unknown = null;
      await waitFor(
        async () => {
          const outcomes = await Promise.all(Array.from({ length: 30 }, () => settle(engine.create())));
          ids = outcomes.flatMap((o) => (o.ok ? [o.value] : []));
          lastError = outcomes.find((o) => !o.ok) ?? lastError;
          return ids.length === 30;
        },
        30_000,
        'every create to succeed after the failover',
      ).catch((error: Error) => {
        throw new Error(`${error.message}; last failure: ${JSON.stringify(lastError, ['error', 'message', 'code'])}; cluster: ${cluster.describe()}`);
      });
      expect(await engine.size()).toBeGreaterThanOrEqual(30);
      // Sessions on every master, the promoted one included, expire and are announced.
      await waitFor(() => ids.every((id) => expired.has(id)), 30_000, 'an expired event for each session after the failover');
    } finally {
      await engine.close();
    }
  }, 120_000);
});
