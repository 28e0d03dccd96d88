/**
 * Redis servers set up otherwise than the harness's default: a database other than 0, and a server that
 * refuses `CONFIG` (as many managed services do), where the README says what becomes of `'expired'` events.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { SessionEngine } from '../../dist/src/index.js';
import { sleep, waitFor, withEngine } from '../helpers/engine.js';
import { NEVER_ISSUED_ID } from '../helpers/ids.js';
import { hasRedis, withRedis, type RedisServer } from './redis-server.js';

const TTL_MS = 300;

/** Runs `fn` with a plain connection to `server`'s database `db`, and always closes it. */
async function withProbe<T>(server: RedisServer, db: number, fn: (probe: Redis) => Promise<T>): Promise<T> {
  const probe = new Redis({ port: server.port, host: '127.0.0.1', db, lazyConnect: true });
  try {
    await probe.connect();
    return await fn(probe);
  } finally {
    probe.disconnect();
  }
}

/**
 * Resolves once `id` has expired. Polled with `list()`, not `get()`: a get refreshes the idle clock, so a
 * poll that reached Redis a millisecond early (timers may fire that early) would keep the session alive
 * for as long as it polled. A scan leaves the clock alone, and Redis deletes the key it finds expired.
 */
async function untilExpired(engine: SessionEngine, id: string): Promise<void> {
  await sleep(TTL_MS);
  await waitFor(async () => !(await engine.list()).includes(id), 10_000, `session ${id} to expire`);
  expect(await engine.get(id)).toBeUndefined();
}

/**
 * Resolves once every expiry notification Redis sent on db `db` before now has reached `expired`: a
 * notification published now, on the channel the engine listens to, arrives after them on the same
 * connection. Works whether or not Redis sends notifications of its own.
 */
async function drainNotifications(server: RedisServer, db: number, expired: Set<string>): Promise<void> {
  await withProbe(server, db, async (probe) => {
    await waitFor(
      async () => {
        await probe.publish(`__keyevent@${db}__:expired`, `ss:{${NEVER_ISSUED_ID}}:m`);
        return expired.has(NEVER_ISSUED_ID);
      },
      10_000,
      'the marker notification',
    );
  });
}

describe.skipIf(!hasRedis)('the engine on Redis set up otherwise', () => {
  it('keeps its sessions in the database it is given, and serves and announces them from there', async () => {
    await withRedis(async (server) => {
      // A TTL of its own: two probe connections are opened between the append and the reads, and the session
      // must still be there for them.
      const store = { redis: { host: '127.0.0.1', port: server.port, db: 3 }, configureKeyspaceEvents: true };
      await withEngine({ shards: 2, store, maxSessionAgeMs: 1_500 }, async (engine) => {
        const expired = new Set<string>();
        engine.on('expired', (ids) => {
          for (const id of ids) expired.add(id);
        });
        const id = await engine.create({ title: 'in db 3' });
        expect(await engine.appendMessage(id, { role: 'user', content: 'hello' })).toBe(1);
        await withProbe(server, 3, async (probe) => expect(await probe.exists(`ss:{${id}}:m`, `ss:{${id}}:l`)).toBe(2));
        await withProbe(server, 0, async (probe) => expect(await probe.dbsize()).toBe(0));
        expect(await engine.get(id)).toMatchObject({ id, title: 'in db 3', context: [expect.objectContaining({ content: 'hello' })] });
        expect(await engine.list()).toEqual([id]);
        expect(await engine.size()).toBe(1);
        // Its expiry is announced from db 3's notifications.
        await waitFor(() => expired.has(id), 10_000, 'an expired event from db 3');
        expect(await engine.size()).toBe(0);
      });
    });
  });

  it('starts and serves where CONFIG is refused, even when allowed to configure; sessions still expire, but without events, as the README says', async () => {
    const announced = await expireOneSession(
      ['--rename-command', 'CONFIG', ''],
      async (engine, id) => {
        expect(await engine.appendMessage(id, { role: 'user', content: 'x' })).toBe(1);
        expect((await engine.get(id))!.context).toHaveLength(1);
      },
      true,
    );
    expect(announced).toBe(false);
  });

  it('announces expiries where CONFIG is refused but the server is configured to notify them', async () => {
    expect(await expireOneSession(['--rename-command', 'CONFIG', '', '--notify-keyspace-events', 'Ex'])).toBe(true);
  });
});

/**
 * On a redis-server started with `serverArgs` (the engine allowed to configure it or not): creates a session (then runs `use` on it), waits until Redis
 * has expired it, and answers whether the engine announced its expiry.
 */
async function expireOneSession(
  serverArgs: string[],
  use?: (engine: SessionEngine, id: string) => Promise<void>,
  configureKeyspaceEvents = false,
): Promise<boolean> {
  let announced = false;
  await withRedis(async (server) => {
    await withEngine({ shards: 2, store: { redis: server.url, configureKeyspaceEvents }, maxSessionAgeMs: TTL_MS }, async (engine) => {
      const expired = new Set<string>();
      engine.on('expired', (ids) => {
        for (const id of ids) expired.add(id);
      });
      const id = await engine.create();
      await use?.(engine, id);
      await untilExpired(engine, id);
      await withProbe(server, 0, async (probe) => expect(await probe.exists(`ss:{${id}}:m`)).toBe(0));
      await drainNotifications(server, 0, expired);
      announced = expired.has(id);
    });
  }, serverArgs);
  return announced;
}
