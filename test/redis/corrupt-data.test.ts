/**
 * Bytes in Redis that the engine never wrote so (someone else's writes, a bad restore, a bug of another
 * version): the session they belong to fails its calls with ERR_CORRUPT_DATA, and every other call, even
 * one answered in the same reply, succeeds as if nothing were wrong.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { CorruptDataError, ErrorCode, type SessionEngine, type SessionId } from '../../dist/src/index.js';
import { encodeMessageRecord } from '../../dist/src/protocol/message-record.js';
import { logKey, metaKey } from '../../dist/src/shard/redis/keys.js';
import { codeOf, settle, withEngine } from '../helpers/engine.js';
import { hasRedis, withRedis, type RedisServer } from './redis-server.js';

/** Runs `fn` with a plain connection to `server`, and always closes it. */
async function withRaw<T>(server: RedisServer, fn: (raw: Redis) => Promise<T>): Promise<T> {
  const raw = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true });
  try {
    await raw.connect();
    return await fn(raw);
  } finally {
    raw.disconnect();
  }
}

const CAPABILITIES = { fs: { readTextFile: true }, extra: [1, 'two'] };

/** A session as the healthy ones are made: capabilities, servers and two messages. */
async function makeSession(engine: SessionEngine): Promise<SessionId> {
  const id = await engine.create({ clientCapabilities: CAPABILITIES, mcpServers: ['fs'], cwd: '/work' });
  await engine.appendMessage(id, { role: 'user', content: `hello ${id}` });
  await engine.appendMessage(id, { role: 'assistant', content: 'hi' });
  return id;
}

/** Each way of spoiling one session's keys, and what the error must name. */
const SPOILS: { name: string; names: RegExp; spoil(raw: Redis, id: SessionId): Promise<unknown> }[] = [
  {
    name: 'a truncated field',
    names: /field 'cap'/,
    spoil: async (raw, id) => {
      const stored = (await raw.hgetBuffer(metaKey(id), 'cap'))!;
      return raw.hset(metaKey(id), 'cap', stored.subarray(0, stored.length - 3));
    },
  },
  { name: 'a garbage list entry', names: /message 1 /, spoil: (raw, id) => raw.lset(logKey(id), 1, Buffer.from('garbage')) },
  { name: 'two values in one field', names: /field 'srv'/, spoil: (raw, id) => raw.hset(metaKey(id), 'srv', Buffer.from([0x91, 0xa2, 0x66, 0x73, 0x90])) },
  { name: 'a clock that is no number', names: /field 'c'/, spoil: (raw, id) => raw.hset(metaKey(id), 'c', 'soon') },
  { name: 'a missing field', names: /field 'u'/, spoil: (raw, id) => raw.hdel(metaKey(id), 'u') },
  { name: 'a key of the wrong type', names: /wrong kind of value/, spoil: (raw, id) => raw.multi().del(logKey(id)).set(logKey(id), 'x').exec() },
];

/**
 * Capabilities that decode on their own but redefine the shared Message structure (record 0x41) as
 * `{x, y, z}`: decoded with the shared codec, every later message (of this reply, and of every reply after
 * it) would come out with the wrong field names, silently.
 */
const REDEFINES_MESSAGE = Buffer.from('d4724193a178a179a17a010203', 'hex');

describe.skipIf(!hasRedis)('a session whose data in Redis is corrupt', () => {
  it('fails only that session, with ERR_CORRUPT_DATA naming it and the field, not the calls answered beside it', async () => {
    await withRedis(async (server) => {
      // One shard: every call below is answered in one reply.
      await withEngine({ shards: 1, store: { redis: server.url }, storeTimeoutMs: 5_000 }, async (engine) => {
        await withRaw(server, async (raw) => {
          const healthy = await Promise.all(Array.from({ length: SPOILS.length + 1 }, () => makeSession(engine)));
          const spoilt = await Promise.all(SPOILS.map(() => makeSession(engine)));
          const redefining = await makeSession(engine);
          await Promise.all(SPOILS.map((one, n) => one.spoil(raw, spoilt[n]!)));
          await raw.hset(metaKey(redefining), 'cap', REDEFINES_MESSAGE);

          // In one tick, healthy and spoilt sessions interleaved: gets, and appends to the healthy ones.
          const healthyGets: Promise<unknown>[] = [];
          const appends: Promise<unknown>[] = [];
          const spoiltGets: Promise<unknown>[] = [];
          const redefiningGet = settle(engine.get(redefining));
          for (let n = 0; n < SPOILS.length; n++) {
            appends.push(settle(engine.appendMessage(healthy[n]!, { role: 'user', content: 'more' })));
            spoiltGets.push(settle(engine.get(spoilt[n]!)));
            healthyGets.push(settle(engine.get(healthy[n]!)));
          }
          healthyGets.push(settle(engine.get(healthy[SPOILS.length]!)));
          const [gets, appended, refused] = await Promise.all([Promise.all(healthyGets), Promise.all(appends), Promise.all(spoiltGets)]);

          for (const [n, outcome] of (refused as Awaited<ReturnType<typeof settle>>[]).entries()) {
            expect(outcome.ok, SPOILS[n]!.name).toBe(false);
            const error = outcome.ok ? null : (outcome.error as Error);
            expect(error, SPOILS[n]!.name).toBeInstanceOf(CorruptDataError);
            expect(codeOf(error), SPOILS[n]!.name).toBe(ErrorCode.CORRUPT_DATA);
            expect(error!.message, SPOILS[n]!.name).toContain(spoilt[n]!);
            expect(error!.message, SPOILS[n]!.name).toMatch(SPOILS[n]!.names);
          }
          for (const outcome of appended as Awaited<ReturnType<typeof settle>>[]) expect(outcome).toEqual({ ok: true, value: 3 });
          for (const [n, outcome] of (gets as Awaited<ReturnType<typeof settle<unknown>>>[]).entries()) {
            expect(outcome.ok, `healthy session ${n}`).toBe(true);
            const session = outcome.ok ? (outcome.value as { id: string; context: unknown[]; clientCapabilities: unknown; mcpServers: unknown }) : null;
            expect(session).toMatchObject({ id: healthy[n], clientCapabilities: CAPABILITIES, mcpServers: ['fs'], cwd: '/work' });
            expect(session!.context.slice(0, 2)).toEqual([
              { id: expect.any(String), role: 'user', content: `hello ${healthy[n]}`, timestamp: expect.any(Number) },
              { id: expect.any(String), role: 'assistant', content: 'hi', timestamp: expect.any(Number) },
            ]);
          }
          // The redefining value never reached a shared codec: its own session reads, and every message
          // after it, in this reply and the next, keeps its field names.
          expect((await redefiningGet).ok).toBe(true);
          const again = await engine.get(healthy[0]!);
          expect(again!.context[0]).toEqual({ id: expect.any(String), role: 'user', content: `hello ${healthy[0]}`, timestamp: expect.any(Number) });

          // remove() deletes a spoilt session, and says that it could not hand back what it held.
          const removed = await settle(engine.remove(spoilt[0]!));
          expect(removed.ok ? null : codeOf(removed.error)).toBe(ErrorCode.CORRUPT_DATA);
          expect(removed.ok ? '' : (removed.error as Error).message).toMatch(/removed/);
          expect(await engine.get(spoilt[0]!)).toBeUndefined();
        });
      });
    });
  });

  it('fails the reads of a session holding parts that are not JSON text, typed, and only those', async () => {
    await withRedis(async (server) => {
      await withEngine({ shards: 1, store: { redis: server.url }, storeTimeoutMs: 5_000 }, async (engine) => {
        await withRaw(server, async (raw) => {
          const [healthy, spoilt] = await Promise.all([makeSession(engine), makeSession(engine)]);
          // A well-formed record (UTF-8 parts text starting with '[') whose text breaks off: only a parse finds it.
          const broken = encodeMessageRecord({ id: 'broken', role: 'user', content: Buffer.from('[{"type":"text","te'), timestamp: 1, metadata: null });
          await raw.rpush(logKey(spoilt), Buffer.from(broken));
          const [bad, good] = await Promise.all([settle(engine.getMessagesJson(spoilt)), settle(engine.getMessagesJson(healthy))]);
          expect(bad.ok ? null : codeOf(bad.error)).toBe(ErrorCode.CORRUPT_DATA);
          expect(bad.ok ? '' : (bad.error as Error).message).toMatch(new RegExp(`${spoilt}.*not JSON text`));
          expect(good.ok && JSON.parse((good.value as { json: string }).json)).toHaveLength(2);

          // The host parses what get() and popMessage() return: the text fails that call
          // alone, typed, and the calls answered beside it in the same reply settle as if nothing were wrong.
          const [get, pop, healthyWindow, healthyGet, healthyJson] = await Promise.all([
            settle(engine.get(spoilt)),
            settle(engine.popMessage(spoilt)),
            settle(engine.get(healthy, { lastMessages: 1 })),
            settle(engine.get(healthy)),
            settle(engine.getMessagesJson(healthy)),
          ]);
          for (const outcome of [get, pop]) {
            expect(outcome.ok ? null : codeOf(outcome.error)).toBe(ErrorCode.CORRUPT_DATA);
            expect(outcome.ok ? '' : (outcome.error as Error).message).toContain(spoilt);
          }
          // The pop itself was applied (what it removed is what could not be read), and says so.
          expect(pop.ok ? '' : (pop.error as Error).message).toMatch(/applied/);
          expect(healthyWindow.ok && healthyGet.ok && healthyJson.ok).toBe(true);
          expect(healthyGet.ok && (healthyGet.value as { context: unknown[] }).context).toHaveLength(2);
          // The broken record was popped: the session reads again.
          expect((await engine.get(spoilt))!.context).toHaveLength(2);
        });
      });
    });
  });
});
