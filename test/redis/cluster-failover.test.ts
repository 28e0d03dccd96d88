/**
 * Masters of the cluster die, one while the engine is idle and one under load, and their replicas take
 * over: every call meanwhile settles within the bound, fails only ERR_STORE_UNAVAILABLE, and never answers
 * with another session's data; afterwards the engine serves every slot again by itself, and the `'expired'`
 * events of the promoted masters are heard (the subscriptions follow the failovers).
 *
 * Issue 5: about one run in ten, one shard's cluster client went on answering "no answer within
 * storeTimeoutMs" for good after the promotion, and the replies it did give could belong to other commands
 * (ioredis's cluster auto-pipelining, see `src/shard/redis/redis-store.ts`). Creates alone hid the second
 * symptom, so each session here carries a title of its own and is read back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, SessionEngine } from '../../dist/src/index.js';
import { codeOf, settle, sleep, waitFor } from '../helpers/engine.js';
import { hasRedis, RedisCluster } from './redis-server.js';

const TIMEOUT_MS = 2_000;
/** Generous for a loaded 2-core machine, far below the 30 s the failure lasted. */
const ROUND_BOUND_MS = 2 * TIMEOUT_MS + 3_000;

let cluster: RedisCluster;

describe.skipIf(!hasRedis)('a failover in the cluster', () => {
  beforeAll(async () => {
    cluster = await RedisCluster.start(1);
  }, 90_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('serves again after each promotion, never answers with another session, and announces the expiries of the new masters', async () => {
    // Allowed to configure the notifications: a promoted replica has never been told to send them.
    const engine = await SessionEngine.start({
      shards: 2,
      store: { redis: { cluster: cluster.seeds }, configureKeyspaceEvents: true },
      maxSessionAgeMs: 1_500,
      storeTimeoutMs: TIMEOUT_MS,
    });
    let stop = false;
    let load: Promise<void> = Promise.resolve();
    try {
      const expired = new Set<string>();
      engine.on('expired', (ids) => {
        for (const id of ids) expired.add(id);
      });
      let serial = 0;
      const seen = { ok: 0, unavailable: 0, wrong: [] as string[], other: [] as unknown[], slowest: 0 };
      /** Creates `count` titled sessions, reads each back; resolves the ids of those fully served. */
      const round = async (count: number): Promise<string[]> => {
        const started = Date.now();
        const titles = Array.from({ length: count }, () => `title-${++serial}`);
        const created = await Promise.all(titles.map((title) => settle(engine.create({ title }))));
        const pairs = created.flatMap((o, i) => (o.ok ? [{ id: o.value, title: titles[i]! }] : []));
        const read = await Promise.all(pairs.map(({ id }) => settle(engine.get(id))));
        seen.slowest = Math.max(seen.slowest, Date.now() - started);
        for (const o of [...created, ...read]) {
          if (o.ok) continue;
          if (codeOf(o.error) === ErrorCode.STORE_UNAVAILABLE) seen.unavailable++;
          else seen.other.push(o.error);
        }
        const served: string[] = [];
        read.forEach((o, i) => {
          const { id, title } = pairs[i]!;
          // `undefined` is allowed: a session written just before a kill may not have reached the replica.
          if (!o.ok || o.value === undefined) return;
          seen.ok++;
          if (o.value.id !== id || o.value.title !== title) seen.wrong.push(`${id} '${title}' read as ${o.value.id} '${o.value.title}'`);
          else served.push(id);
        });
        return served;
      };
      /** Waits until a whole round of creates and reads succeeds; resolves its ids. */
      const servedAgain = async (): Promise<string[]> => {
        let ids: string[] = [];
        await waitFor(
          async () => {
            ids = await round(30);
            return ids.length === 30;
          },
          20_000,
          'every create and read to succeed after the failover',
        ).catch((error: Error) => {
          throw new Error(`${error.message}; seen: ${JSON.stringify({ ...seen, other: seen.other.map(String) })}; cluster: ${cluster.describe()}`);
        });
        return ids;
      };

      /** Sessions on every master, the promoted ones included, expire and are announced. */
      const untilAnnounced = async (ids: string[]): Promise<void> => {
        await waitFor(() => ids.every((id) => expired.has(id)), 20_000, 'an expired event for each session after the failover').catch((error: Error) => {
          const missing = ids.filter((id) => !expired.has(id));
          throw new Error(
            `${error.message}; ${missing.length} of ${ids.length} missing, e.g. ${missing.slice(0, 3).join(' ')}; cluster: ${cluster.describe()}`,
          );
        });
      };

      // A master dies while no call is in flight: the first calls after the promotion still find its slots
      // in the clients' maps (issue 5's case). The replica takes over after cluster-node-timeout (2 s).
      await cluster.nodes[0]!.kill();
      await cluster.waitUntilOk();
      const first = await servedAgain();
      // Announced before the next kill: a session still live on a master that dies may reach its replica
      // already expired, and be deleted there before anyone listens (events are best effort).
      await untilAnnounced(first);

      // Another master dies under a steady load from the host.
      load = (async () => {
        while (!stop) {
          await round(10);
          await sleep(20);
        }
      })();
      const before = seen.ok;
      await waitFor(() => seen.ok >= before + 30, 10_000, 'sessions served before the second kill');
      await cluster.nodes[1]!.kill();
      await cluster.waitUntilOk();
      const second = await servedAgain();
      // `size()` scans every master, the promoted ones included.
      expect(await engine.size()).toBeGreaterThanOrEqual(30);
      stop = true;
      await load;

      expect(seen.wrong).toEqual([]);
      expect(seen.other).toEqual([]);
      expect(seen.slowest).toBeLessThan(ROUND_BOUND_MS);
      await untilAnnounced(second);
    } finally {
      stop = true;
      await load;
      await engine.close();
    }
  }, 120_000);
});
