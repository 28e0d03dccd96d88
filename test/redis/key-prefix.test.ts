/**
 * A key prefix (`keyPrefix`, in the ioredis options of `store.redis`, or in `redisOptions` of a cluster, as
 * ioredis takes it) lets several apps share one Redis: every key an engine writes starts with it, the session
 * id stays each key's hash tag (sessions still spread over a cluster's slots), and an engine sees only the
 * sessions, and hears only the expiries, under its own prefix.
 */
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/main/errors.js';
import { resolveOptions } from '../../src/main/options.js';
import { idOfMetaKey, KeySpace } from '../../src/shard/redis/keys.js';
import { SessionEngine, type SessionEngineOptions } from '../../dist/src/index.js';
import { sleep, waitFor } from '../helpers/engine.js';
import { NEVER_ISSUED_ID } from '../helpers/ids.js';
import { hasRedis, RedisCluster, RedisServer } from './redis-server.js';

const ID = '01ARZ3NDEKTSV4RRFFQ69G5FAV';

function refusal(options: unknown): string {
  try {
    resolveOptions(options);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return (error as Error).message;
  }
  throw new Error('accepted');
}

describe('the keyPrefix option', () => {
  it("is taken from the connection options of a single Redis or of a cluster's nodes, and kept out of what ioredis gets", () => {
    expect(resolveOptions({ store: { redis: { host: 'h', keyPrefix: 'app1:' } } }).store!.redis).toMatchObject({
      options: { host: 'h' },
      keyPrefix: 'app1:',
    });
    expect(resolveOptions({ store: { redis: { cluster: ['h:7000'], redisOptions: { keyPrefix: 'app1:', password: 'p' } } } }).store!.redis).toMatchObject({
      options: { password: 'p' },
      keyPrefix: 'app1:',
    });
    expect(resolveOptions({ store: { redis: 'redis://h' } }).store!.redis.keyPrefix).toBe('');
  });

  it('refuses a prefix that is not text, that would take the hash tag, or that is too long, by name', () => {
    expect(refusal({ store: { redis: { keyPrefix: 7 } } })).toMatch(/^options\.store\.redis\.keyPrefix must be a string, got 7/);
    expect(refusal({ store: { redis: { keyPrefix: '{app}:' } } })).toMatch(/^options\.store\.redis\.keyPrefix may not contain '\{' or '\}' .*hash tag/);
    expect(refusal({ store: { redis: { cluster: ['h:7000'], redisOptions: { keyPrefix: 'a}' } } } })).toMatch(
      /^options\.store\.redis\.redisOptions\.keyPrefix may not contain/,
    );
    expect(refusal({ store: { redis: { keyPrefix: 'x'.repeat(257) } } })).toMatch(/keyPrefix must be at most 256 bytes/);
    expect(refusal({ store: { redis: { cluster: ['h:7000'], keyPrefix: 'a:' } } })).toMatch(
      /options\.store\.redis\.keyPrefix is not an option of a cluster .*give keyPrefix in redisOptions/,
    );
  });

  it('goes in front of every key, before the hash tag, and an engine knows only the meta keys under its own prefix', () => {
    const app = new KeySpace('app1:');
    expect(app.session(ID)).toEqual([`app1:ss:{${ID}}:m`, `app1:ss:{${ID}}:l`, `app1:ss:{${ID}}:i`]);
    expect(app.idOfMetaKey(`app1:ss:{${ID}}:m`)).toBe(ID);
    expect(app.idOfMetaKey(`ss:{${ID}}:m`)).toBeNull();
    expect(app.idOfMetaKey(`app2:ss:{${ID}}:m`)).toBeNull();
    expect(app.idOfMetaKey(`xapp1:ss:{${ID}}:m`)).toBeNull();
    expect(app.idOfMetaKey(`app1:ss:{${ID}}:l`)).toBeNull();
    expect(idOfMetaKey(`app1:ss:{${ID}}:m`)).toBeNull();
    // A glob character of the prefix is matched as itself by SCAN.
    expect(new KeySpace('a*[b]?:').metaPattern).toBe('a\\*\\[b\\]\\?:ss:{*}:m');
    expect(new KeySpace('a.b:').idOfMetaKey(`axb:ss:{${ID}}:m`)).toBeNull();
  });
});

/** Every key on `node` (a test server: few keys). */
async function keysOf(node: Redis): Promise<string[]> {
  return (await node.keys('*')).sort();
}

describe.skipIf(!hasRedis)('engines with key prefixes on one Redis', () => {
  let server: RedisServer;
  let probe: Redis;
  beforeAll(async () => {
    server = await RedisServer.start(['--notify-keyspace-events', 'Ex']);
    probe = new Redis({ port: server.port, host: '127.0.0.1' });
  });
  afterAll(async () => {
    probe?.disconnect();
    await server?.stop();
  });

  const start = (keyPrefix: string | undefined, extra: SessionEngineOptions = {}) =>
    SessionEngine.start({
      shards: 2,
      ...extra,
      store: { redis: { host: '127.0.0.1', port: server.port, ...(keyPrefix === undefined ? {} : { keyPrefix }) } },
    });

  it('writes every key of a session under the prefix, and serves every operation from there', async () => {
    await probe.flushall();
    const engine = await start('app1:');
    try {
      const id = await engine.create({ title: 'prefixed', owner: 'ann' });
      await engine.appendMessages(id, [
        { role: 'user', content: 'one' },
        { role: 'assistant', content: 'two' },
      ]);
      expect(await keysOf(probe)).toEqual([`app1:ss:{${id}}:i`, `app1:ss:{${id}}:l`, `app1:ss:{${id}}:m`]);
      const copy = await engine.fork(id, { title: 'copy' });
      expect(await probe.exists(`app1:ss:{${copy}}:m`, `app1:ss:{${copy}}:l`, `app1:ss:{${copy}}:i`)).toBe(3);
      expect(await engine.popMessage(copy)).toMatchObject({ content: 'two' });
      expect((await engine.get(id))!.context.map((m) => m.content)).toEqual(['one', 'two']);
      expect((await engine.get(copy))!.context.map((m) => m.content)).toEqual(['one']);
      expect(await engine.list({ owner: 'ann' })).toEqual([id, copy].sort());
      expect(await engine.size()).toBe(2);
      await engine.remove(id);
      await engine.remove(copy);
      expect(await keysOf(probe)).toEqual([]);
    } finally {
      await engine.close();
    }
  });

  it('keeps apps apart: each engine lists, counts, reads and hears the expiry of its own sessions only', async () => {
    await probe.flushall();
    const TTL_MS = 1_000;
    // Prefixes that glob one another (`*`) or extend one another, and an engine without a prefix.
    const prefixes = ['app1:', 'app*:', 'app1:x:', undefined];
    const engines = await Promise.all(prefixes.map((prefix) => start(prefix, { maxSessionAgeMs: TTL_MS })));
    try {
      const heard = engines.map(() => new Set<string>());
      for (const [i, engine] of engines.entries()) {
        engine.on('expired', (ids) => {
          for (const id of ids) heard[i]!.add(id);
        });
      }
      const own = await Promise.all(engines.map((engine) => Promise.all([engine.create(), engine.create()])));
      for (const [i, engine] of engines.entries()) {
        expect(await engine.list()).toEqual([...own[i]!].sort());
        expect(await engine.size()).toBe(2);
        for (const [j, ids] of own.entries()) {
          if (j === i) continue;
          for (const id of ids) {
            expect(await engine.get(id)).toBeUndefined();
            expect(await engine.touch(id)).toBe(false);
          }
        }
      }
      // A session without messages is its meta hash alone.
      expect(await probe.dbsize()).toBe(2 * engines.length);
      // Each hears the expiry of its own sessions, and after a marker under its own prefix (published after
      // every expiry), none of the others'.
      await sleep(TTL_MS);
      for (const [i, engine] of engines.entries()) {
        await waitFor(async () => (await engine.list()).length === 0, 10_000, `engine ${i}'s sessions to expire`);
      }
      for (const [i, prefix] of prefixes.entries()) {
        await waitFor(
          async () => {
            await probe.publish('__keyevent@0__:expired', `${prefix ?? ''}ss:{${NEVER_ISSUED_ID}}:m`);
            return heard[i]!.has(NEVER_ISSUED_ID);
          },
          10_000,
          `engine ${i}'s marker`,
        );
        heard[i]!.delete(NEVER_ISSUED_ID);
        expect([...heard[i]!].sort()).toEqual([...own[i]!].sort());
      }
    } finally {
      await Promise.all(engines.map((engine) => engine.close()));
    }
  }, 30_000);
});

describe.skipIf(!hasRedis)('engines with key prefixes on a 3-node Redis Cluster', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await RedisCluster.start();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('spread prefixed sessions over every master, serve forks across slots, keep apart, and hear every expiry', async () => {
    const probe = new Cluster(cluster.seeds);
    const start = (keyPrefix: string) =>
      SessionEngine.start({
        shards: 2,
        store: { redis: { cluster: cluster.seeds, redisOptions: { keyPrefix } }, configureKeyspaceEvents: true },
        maxSessionAgeMs: 3_000,
      });
    const [one, two] = await Promise.all([start('app1:'), start('app2:')]);
    try {
      const expired = new Set<string>();
      one.on('expired', (ids) => {
        for (const id of ids) expired.add(id);
      });
      const heardByTwo: string[] = [];
      two.on('expired', (ids) => heardByTwo.push(...ids));
      const ids = await Promise.all(Array.from({ length: 30 }, () => one.create()));
      await one.appendMessage(ids[0]!, { role: 'user', content: 'hello' });
      // A fork to a new id: nearly always another slot, often another node.
      const copy = await one.fork(ids[0]!);
      expect((await one.get(copy))!.context.map((m) => m.content)).toEqual(['hello']);
      const all = [...ids, copy];
      const masters = probe.nodes('master');
      expect(masters).toHaveLength(3);
      for (const node of masters) {
        const keys = await keysOf(node);
        expect(keys.length).toBeGreaterThan(0);
        for (const key of keys) expect(key).toMatch(/^app1:ss:\{[0-9A-Z]{26}\}:[mli]$/);
      }
      expect(await one.size()).toBe(all.length);
      expect(await one.list()).toEqual([...all].sort());
      expect(await two.size()).toBe(0);
      expect(await two.list()).toEqual([]);
      expect(await two.get(ids[0]!)).toBeUndefined();
      await waitFor(() => all.every((id) => expired.has(id)), 20_000, 'an expired event for each session on every master');
      expect(await one.size()).toBe(0);
      // `two` listens to the same masters' notifications, but none of `one`'s keys is its own. A marker under
      // its prefix, published on every master (a cluster passes each publish on to every node), reaches each of
      // its three subscribers three times, after the notifications its node sent before.
      for (const node of masters) await node.publish('__keyevent@0__:expired', `app2:ss:{${NEVER_ISSUED_ID}}:m`);
      const markers = () => heardByTwo.filter((id) => id === NEVER_ISSUED_ID).length;
      await waitFor(() => markers() === 9, 10_000, "the markers on each of the second engine's subscribers");
      expect(heardByTwo.filter((id) => id !== NEVER_ISSUED_ID)).toEqual([]);
    } finally {
      await Promise.all([one.close(), two.close()]);
      probe.disconnect();
    }
  }, 60_000);
});
