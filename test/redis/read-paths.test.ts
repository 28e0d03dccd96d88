/**
 * How the Redis store spends its calls, and that it gives up nothing for it: reads of some kilobytes go as
 * one transaction (a script that refreshes the session, then `LRANGE`) and answer exactly as the read
 * script does; the idle TTL of every key of a session is refreshed only when it has run down, and stays
 * between `maxSessionAgeMs` and that plus its slack; appends check a known id before reading any record.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type MessageInput, SessionEngine, type SessionId } from '../../dist/src/index.js';
import { encodeLegacyMessageRecord } from '../../dist/src/protocol/message-record.js';
import { idsKey, logKey, metaKey } from '../../dist/src/shard/redis/keys.js';
import { windowRange } from '../../dist/src/shard/redis/redis-store.js';
import { codeOf, settle } from '../helpers/engine.js';
import { hasRedis, RedisServer } from './redis-server.js';

const TTL_MS = 3_200_000;
/** A 32nd of the TTL, at most a minute. */
const SLACK_MS = 60_000;
/** Time the test itself may take between a call and its check, on a slow machine. */
const MARGIN_MS = 30_000;
const SESSION_LIMIT = 96 * 1_024;

let server: RedisServer;
let raw: Redis;
/** One shard, so that every read of these tests goes through the same worker. */
let engine: SessionEngine;
/** One shard with a small maxSessionBytes. */
let bounded: SessionEngine;

beforeAll(async () => {
  if (!hasRedis) return;
  server = await RedisServer.start();
  raw = new Redis({ port: server.port, host: '127.0.0.1' });
  engine = await SessionEngine.start({ shards: 1, maxSessionAgeMs: TTL_MS, store: { redis: server.url } });
  bounded = await SessionEngine.start({ shards: 1, maxSessionAgeMs: TTL_MS, maxSessionBytes: SESSION_LIMIT, store: { redis: server.url } });
}, 30_000);
afterAll(async () => {
  raw?.disconnect();
  await engine?.close();
  await bounded?.close();
  await server?.stop();
});

const big = (n: number, bytes = 6_000): MessageInput => ({ role: 'user', content: `${n}`.padEnd(bytes, '.') });

/** How many transactions Redis has run since it started. */
async function transactions(): Promise<number> {
  const stats = await raw.info('commandstats');
  return Number(/cmdstat_exec:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

/** A session of `count` messages of ~6 KB, read whole a few times so that `host`'s reads go as transactions. */
async function largeSession(host: SessionEngine, count = 8): Promise<{ id: SessionId; contents: string[] }> {
  const id = await host.create();
  const messages = Array.from({ length: count }, (_, i) => big(i));
  await host.appendMessages(id, messages);
  for (let i = 0; i < 10; i++) await host.get(id);
  return { id, contents: messages.map((m) => m.content as string) };
}

/** The remaining TTL of each key of session `id` (-2: no key, -1: no TTL). */
async function ttls(id: SessionId): Promise<number[]> {
  return Promise.all([raw.pttl(metaKey(id)), raw.pttl(logKey(id)), raw.pttl(idsKey(id))]);
}

function expectIdleBound(left: number[]): void {
  for (const ms of left) {
    expect(ms).toBeGreaterThan(TTL_MS - MARGIN_MS);
    expect(ms).toBeLessThanOrEqual(TTL_MS + SLACK_MS);
  }
}

describe('the LRANGE bounds of a read window', () => {
  it('reads the newest, a slice from a message on, or nothing, never the whole log by accident', () => {
    expect(windowRange({ lastMessages: 20, fromMessage: 0, maxMessages: -1 })).toEqual([-20, -1]);
    expect(windowRange({ lastMessages: 0, fromMessage: 0, maxMessages: -1 })).toEqual([1, 0]);
    expect(windowRange({ lastMessages: -1, fromMessage: 0, maxMessages: -1 })).toEqual([0, -1]);
    expect(windowRange({ lastMessages: -1, fromMessage: 3, maxMessages: 2 })).toEqual([3, 4]);
    expect(windowRange({ lastMessages: -1, fromMessage: 0, maxMessages: 0 })).toEqual([1, 0]);
  });
});

describe.skipIf(!hasRedis)('reads of some kilobytes, as one transaction', () => {
  it('go as a transaction once a shard reads large sessions', async () => {
    const before = await transactions();
    const { id, contents } = await largeSession(engine);
    expect((await engine.get(id))!.context.map((m) => m.content)).toEqual(contents);
    expect(await transactions()).toBeGreaterThan(before);
    await engine.remove(id);
  });

  it('answer every window as the read script does, with the length of the whole history', async () => {
    const { id, contents } = await largeSession(engine, 10);
    const before = await transactions();
    const read = async (options?: Parameters<SessionEngine['get']>[1]) => {
      const session = (await engine.get(id, options))!;
      return [session.length, session.context.map((m) => m.content)];
    };
    expect(await read()).toEqual([10, contents]);
    expect(await read({ lastMessages: 3 })).toEqual([10, contents.slice(7)]);
    expect(await read({ lastMessages: 0 })).toEqual([10, []]);
    expect(await read({ lastMessages: 50 })).toEqual([10, contents]);
    expect(await read({ fromMessage: 2, maxMessages: 3 })).toEqual([10, contents.slice(2, 5)]);
    expect(await read({ fromMessage: 8 })).toEqual([10, contents.slice(8)]);
    expect(await read({ fromMessage: 20 })).toEqual([10, []]);
    expect(await read({ maxMessages: 0 })).toEqual([10, []]);
    expect(await transactions()).toBeGreaterThanOrEqual(before + 8);
    await engine.remove(id);
  });

  it('refresh lastAccessed and the TTL of every key, and create nothing for an unknown id', async () => {
    const { id } = await largeSession(engine);
    await Promise.all([raw.pexpire(metaKey(id), 60_000), raw.pexpire(logKey(id), 60_000), raw.pexpire(idsKey(id), 60_000)]);
    const before = Date.now();
    const session = (await engine.get(id, { lastMessages: 2 }))!;
    expect(session.lastAccessed).toBeGreaterThanOrEqual(before);
    expectIdleBound(await ttls(id));
    const gone = await engine.create();
    await engine.remove(gone);
    expect(await engine.get(gone)).toBeUndefined();
    expect(await raw.exists(metaKey(gone), logKey(gone), idsKey(gone))).toBe(0);
    await engine.remove(id);
  });

  it('upgrade records of the first format in place, with ids that stay the same', async () => {
    const { id } = await largeSession(engine);
    const record = Buffer.from(encodeLegacyMessageRecord('user', 'written by an earlier release', 1_700_000_000_000));
    await raw.rpush(logKey(id), record);
    const first = (await engine.get(id, { lastMessages: 1 }))!.context[0]!;
    expect(first).toMatchObject({ role: 'user', content: 'written by an earlier release', timestamp: 1_700_000_000_000 });
    expect((await raw.lindexBuffer(logKey(id), -1))![0]).toBe(0x43);
    expect((await engine.get(id, { lastMessages: 1 }))!.context[0]!.id).toBe(first.id);
    expect(await raw.sismember(idsKey(id), first.id)).toBe(1);
    await engine.remove(id);
  });

  it('bound what one read returns by maxSessionBytes, as the read script does', async () => {
    const { id: warm } = await largeSession(bounded, 4);
    const id = await engine.create();
    const messages = Array.from({ length: 20 }, (_, i) => big(i));
    await engine.appendMessages(id, messages);
    const whole = await settle(bounded.get(id));
    expect(whole.ok).toBe(false);
    if (!whole.ok) {
      expect(codeOf(whole.error)).toBe(ErrorCode.LIMIT_EXCEEDED);
      expect((whole.error as Error).message).toMatch(/maxSessionBytes.*lastMessages/);
    }
    expect(codeOf(await settle(bounded.get(id, { lastMessages: 19 })).then((o) => (o.ok ? null : o.error)))).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect((await bounded.get(id, { lastMessages: 2 }))!.context.map((m) => m.content)).toEqual(messages.slice(18).map((m) => m.content));
    await engine.remove(id);
    await bounded.remove(warm);
  });

  it('still answer when Redis has lost its scripts', async () => {
    const { id, contents } = await largeSession(engine);
    await raw.script('FLUSH');
    expect((await engine.get(id))!.context.map((m) => m.content)).toEqual(contents);
    expect((await engine.get(id, { lastMessages: 1 }))!.context.map((m) => m.content)).toEqual(contents.slice(-1));
    await engine.remove(id);
  });
});

describe.skipIf(!hasRedis)('the idle TTL of a session', () => {
  it('is the same on every key after each kind of call: between maxSessionAgeMs and that plus its slack', async () => {
    const id = await engine.create();
    await engine.appendMessage(id, { role: 'user', content: 'first' });
    expectIdleBound(await ttls(id));
    await engine.appendMessages(id, [
      { role: 'user', content: 'a' },
      { role: 'assistant', content: [{ type: 'text', text: 'b' }] },
    ]);
    await engine.get(id);
    await engine.touch(id);
    await engine.update(id, { title: 'ttl' });
    expectIdleBound(await ttls(id));
    await engine.spliceMessages(id, 0, 1);
    await engine.popMessage(id);
    expectIdleBound(await ttls(id));
    await engine.remove(id);
  });

  it('is refreshed once it has run down below maxSessionAgeMs', async () => {
    const id = await engine.create();
    await engine.appendMessage(id, { role: 'user', content: 'first' });
    await Promise.all([raw.pexpire(metaKey(id), TTL_MS - MARGIN_MS - 1_000), raw.pexpire(logKey(id), 5_000), raw.pexpire(idsKey(id), 5_000)]);
    await engine.touch(id);
    expectIdleBound(await ttls(id));
    await engine.remove(id);
  });

  it('reaches a key the call creates: a log emptied and written again, an id set lost and written again', async () => {
    const id = await engine.create();
    await engine.appendMessage(id, { role: 'user', content: 'first' });
    await engine.popMessage(id);
    expect(await raw.exists(logKey(id), idsKey(id))).toBe(0);
    await engine.appendMessages(id, [{ role: 'user', content: 'again' }]);
    expectIdleBound(await ttls(id));
    await raw.del(idsKey(id));
    await engine.appendMessage(id, { role: 'user', content: 'minted' });
    expectIdleBound(await ttls(id));
    await engine.remove(id);
  });
});

describe.skipIf(!hasRedis)('message ids, checked without reading the log', () => {
  it('refuses a caller id equal to an id the engine minted', async () => {
    const id = await engine.create();
    await engine.appendMessage(id, { role: 'user', content: 'minted' });
    const minted = (await engine.get(id))!.context[0]!;
    const other = await settle(engine.appendMessage(id, { id: minted.id, role: 'user', content: 'other' }));
    expect(other.ok).toBe(false);
    if (!other.ok) expect(codeOf(other.error)).toBe(ErrorCode.CONFLICT);
    const many = await settle(
      engine.appendMessages(id, [
        { role: 'user', content: 'new' },
        { id: minted.id, role: 'user', content: 'other' },
      ]),
    );
    expect(many.ok).toBe(false);
    if (!many.ok) expect(codeOf(many.error)).toBe(ErrorCode.CONFLICT);
    expect((await engine.get(id))!.length).toBe(1);
    await engine.remove(id);
  });

  it('refuses a known first id that is not among the newest messages, and a retry whose later message differs', async () => {
    const id = await engine.create();
    await engine.appendMessages(id, [
      { id: 'a', role: 'user', content: 'a', timestamp: 1 },
      { id: 'b', role: 'user', content: 'b', timestamp: 2 },
      { id: 'c', role: 'user', content: 'c', timestamp: 3 },
    ]);
    for (const attempt of [
      [{ id: 'a', role: 'user', content: 'a', timestamp: 1 } as MessageInput],
      [{ id: 'b', role: 'user', content: 'b', timestamp: 2 } as MessageInput, { id: 'x', role: 'user', content: 'x', timestamp: 3 } as MessageInput],
      [{ id: 'x', role: 'user', content: 'x', timestamp: 4 } as MessageInput, { id: 'c', role: 'user', content: 'c', timestamp: 3 } as MessageInput],
    ]) {
      const outcome = await settle(engine.appendMessages(id, attempt));
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) expect(codeOf(outcome.error)).toBe(ErrorCode.CONFLICT);
    }
    expect(
      await engine.appendMessages(id, [
        { id: 'b', role: 'user', content: 'b', timestamp: 2 },
        { id: 'c', role: 'user', content: 'c', timestamp: 3 },
      ]),
    ).toBe(3);
    expect((await engine.get(id))!.context.map((m) => m.id)).toEqual(['a', 'b', 'c']);
    await engine.remove(id);
  });
});
