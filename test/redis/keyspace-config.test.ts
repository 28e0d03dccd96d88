/**
 * `notify-keyspace-events` is a global setting of the Redis server, shared with every other app on it. The
 * engine leaves it alone unless `store.configureKeyspaceEvents` allows it to turn on the notifications of
 * expired keys (behind the `'expired'` events); when it finds them off and may not (or cannot) turn them on,
 * its shard posts one warning with a stable code for the host to emit.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/main/errors.js';
import { resolveOptions } from '../../src/main/options.js';
import { KEYSPACE_EVENTS_WARNING, type ShardConfig, type ShardEvent } from '../../dist/src/protocol/messages.js';
import { ReplySequence } from '../../dist/src/shard/batch-runner.js';
import { RedisBackend } from '../../dist/src/shard/redis/redis-backend.js';
import type { SessionEngine } from '../../dist/src/index.js';
import { sleep, waitFor, withEngine } from '../helpers/engine.js';
import { NEVER_ISSUED_ID } from '../helpers/ids.js';
import { hasRedis, withRedis, type RedisServer } from './redis-server.js';

const TTL_MS = 300;
const CHANNEL = '__keyevent@0__:expired';

/** Runs `fn` with a plain connection to `server`, and always closes it. */
async function withProbe<T>(server: RedisServer, fn: (probe: Redis) => Promise<T>): Promise<T> {
  const probe = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true });
  try {
    await probe.connect();
    return await fn(probe);
  } finally {
    probe.disconnect();
  }
}

/** The server's `notify-keyspace-events`, read with `CONFIG GET` under the name it was renamed to (if so). */
async function notifyFlags(server: RedisServer, config = 'CONFIG'): Promise<string> {
  return withProbe(server, async (probe) => ((await probe.call(config, 'GET', 'notify-keyspace-events')) as string[])[1]!);
}

/** Resolves once someone subscribes to the expired-keys channel: the listener checks the setting before it subscribes. */
async function untilListening(server: RedisServer): Promise<void> {
  await withProbe(server, async (probe) =>
    waitFor(async () => ((await probe.pubsub('NUMSUB', CHANNEL)) as [string, number])[1] === 1, 10_000, 'the expiry listener to subscribe'),
  );
}

/**
 * Shard 0 of a Redis engine on `server`, as its worker runs it, with the events it posts to the host; once
 * its start-up ping has answered and its expiry listener has subscribed.
 */
async function withShard(
  server: RedisServer,
  configureKeyspaceEvents: boolean,
  fn: (events: ShardEvent[], backend: RedisBackend) => Promise<void>,
): Promise<void> {
  const events: ShardEvent[] = [];
  const config = {
    shard: 0,
    maxSessionAgeMs: 60_000,
    cleanupIntervalMs: 60_000,
    maxMessagesPerSession: 1_000,
    maxSessionBytes: 1 << 30,
    faultInjection: false,
    redis: { kind: 'single', url: server.url, options: {}, keyPrefix: '', configureKeyspaceEvents },
    storeTimeoutMs: 2_000,
  } as unknown as ShardConfig;
  const backend = new RedisBackend(config, new ReplySequence(), (event) => events.push(event));
  try {
    await backend.handlers.ping(null, null);
    await untilListening(server);
    await fn(events, backend);
  } finally {
    backend.close();
  }
}

const warnings = (events: ShardEvent[]) => events.filter((event) => event.type === 'warning');

/** Creates a session on `engine`, waits until Redis has expired it, and answers whether `engine` announced it. */
async function expiryAnnounced(server: RedisServer, engine: SessionEngine): Promise<boolean> {
  const expired = new Set<string>();
  engine.on('expired', (ids) => {
    for (const id of ids) expired.add(id);
  });
  const id = await engine.create();
  await sleep(TTL_MS);
  // Polled with list(), which leaves the idle clock alone (a get would refresh it); Redis deletes what it finds expired.
  await waitFor(async () => !(await engine.list()).includes(id), 10_000, `session ${id} to expire`);
  // A notification published now arrives after every one Redis sent before, on the engine's connection.
  await withProbe(server, (probe) =>
    waitFor(
      async () => {
        await probe.publish(CHANNEL, `ss:{${NEVER_ISSUED_ID}}:m`);
        return expired.has(NEVER_ISSUED_ID);
      },
      10_000,
      'the marker notification',
    ),
  );
  return expired.has(id);
}

describe('the store.configureKeyspaceEvents option', () => {
  it('defaults to false, takes a boolean, and refuses anything else by name', () => {
    expect(resolveOptions({ store: { redis: 'redis://x' } }).store!.redis.configureKeyspaceEvents).toBe(false);
    expect(resolveOptions({ store: { redis: 'redis://x', configureKeyspaceEvents: true } }).store!.redis.configureKeyspaceEvents).toBe(true);
    expect(() => resolveOptions({ store: { redis: 'redis://x', configureKeyspaceEvents: 'yes' } })).toThrow(
      /options\.store\.configureKeyspaceEvents must be a boolean, got .*yes/,
    );
    expect(() => resolveOptions({ store: { redis: 'redis://x', configureKeyspaceEvent: true } })).toThrow(InvalidArgumentError);
    expect(() => resolveOptions({ store: { redis: 'redis://x', configureKeyspaceEvent: true } })).toThrow(
      /options\.store\.configureKeyspaceEvent is not a store option \(known: redis, configureKeyspaceEvents\)/,
    );
  });
});

describe.skipIf(!hasRedis)("the engine and a shared server's notify-keyspace-events", () => {
  it('leaves the setting alone by default: no CONFIG SET, and no expired events from a server that sends none', async () => {
    await withRedis(async (server) => {
      const before = await notifyFlags(server);
      expect(before).toBe('');
      await withEngine({ shards: 2, store: { redis: server.url }, maxSessionAgeMs: TTL_MS }, async (engine) => {
        expect(await expiryAnnounced(server, engine)).toBe(false);
        expect(await notifyFlags(server)).toBe(before);
      });
    });
  });

  it("leaves another app's setting as it was by default, and announces expiries when the server is configured for them", async () => {
    await withRedis(
      async (server) => {
        const before = await notifyFlags(server);
        await withEngine({ shards: 2, store: { redis: server.url }, maxSessionAgeMs: TTL_MS }, async (engine) => {
          expect(await expiryAnnounced(server, engine)).toBe(true);
          expect(await notifyFlags(server)).toBe(before);
        });
      },
      ['--notify-keyspace-events', 'KgEx'],
    );
  });

  it('turns on expired-key notifications when allowed, keeping the flags already set, and announces expiries', async () => {
    await withRedis(
      async (server) => {
        const before = await notifyFlags(server);
        expect(before).not.toMatch(/[Ex]/);
        await withEngine({ shards: 2, store: { redis: server.url, configureKeyspaceEvents: true }, maxSessionAgeMs: TTL_MS }, async (engine) => {
          expect(await expiryAnnounced(server, engine)).toBe(true);
          const after = await notifyFlags(server);
          expect([...after].sort()).toEqual([...`${before}Ex`].sort());
        });
      },
      ['--notify-keyspace-events', 'Kg'],
    );
  });
});

describe.skipIf(!hasRedis)('the warning a Redis shard posts for its host', () => {
  it('warns once, with its stable code and what to set, when the server does not notify expired keys and the engine may not set it', async () => {
    await withRedis(async (server) => {
      await withShard(server, false, async (events) => {
        expect(warnings(events)).toEqual([{ type: 'warning', code: KEYSPACE_EVENTS_WARNING, message: expect.any(String) }]);
        const [warning] = warnings(events) as { message: string }[];
        expect(warning!.message).toContain(`Redis at 127.0.0.1:${server.port} does not notify expired keys`);
        expect(warning!.message).toContain('CONFIG SET notify-keyspace-events Ex');
        expect(warning!.message).toContain('store.configureKeyspaceEvents: true');
        // Reconnected to a restarted server, it checks again but does not say it twice.
        await server.kill();
        await server.restart();
        await untilListening(server);
        expect(warnings(events)).toHaveLength(1);
        expect(await notifyFlags(server)).toBe('');
      });
    });
  });

  it('says nothing when the server notifies expired keys', async () => {
    await withRedis(
      async (server) => {
        await withShard(server, false, async (events) => expect(warnings(events)).toEqual([]));
      },
      ['--notify-keyspace-events', 'Ex'],
    );
  });

  it('says nothing when it may, and does, set the notifications itself', async () => {
    await withRedis(async (server) => {
      await withShard(server, true, async (events) => {
        expect(warnings(events)).toEqual([]);
        expect([...(await notifyFlags(server))].sort()).toEqual(['E', 'x']);
      });
    });
  });

  it('warns when it was allowed to set them but the server refuses CONFIG', async () => {
    await withRedis(
      async (server) => {
        await withShard(server, true, async (events) => {
          expect(warnings(events)).toHaveLength(1);
          expect((warnings(events)[0] as { message: string }).message).toMatch(
            /^store\.configureKeyspaceEvents: Redis at 127\.0\.0\.1:\d+ refused CONFIG \(.*\), .* set notify-keyspace-events to include "Ex"/,
          );
        });
        expect(await notifyFlags(server, 'HIDDENCONFIG')).toBe('');
      },
      ['--rename-command', 'CONFIG', 'HIDDENCONFIG'],
    );
  });

  it('stays silent where CONFIG is refused and it was not allowed to set anything: it cannot tell', async () => {
    await withRedis(
      async (server) => {
        await withShard(server, false, async (events) => expect(warnings(events)).toEqual([]));
      },
      ['--rename-command', 'CONFIG', 'HIDDENCONFIG'],
    );
  });
});
