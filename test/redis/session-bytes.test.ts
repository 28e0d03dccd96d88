/**
 * maxSessionBytes on the Redis store: the session's total (messages, encoded fields, cwd, title, owner) is
 * checked in the scripts, atomically on the server, as the memory store checks it.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, SessionEngine, type SessionId } from '../../dist/src/index.js';
import { logKey, metaKey } from '../../dist/src/shard/redis/keys.js';
import { codeOf, settle } from '../helpers/engine.js';
import { hasRedis, RedisServer } from './redis-server.js';

const LIMIT = 4_096;

let server: RedisServer;
let raw: Redis;
/** Two hosts with the small limit, and one with the default (a session written under a larger limit). */
let a: SessionEngine;
let b: SessionEngine;
let large: SessionEngine;

/** The bytes a session holds in Redis, counted from its keys (not from the total the scripts keep). */
async function storedBytes(id: SessionId): Promise<number> {
  let bytes = 0;
  for (const field of ['cap', 'srv', 'cwd', 'title', 'owner']) bytes += await raw.hstrlen(metaKey(id), field);
  for (const record of await raw.lrangeBuffer(logKey(id), 0, -1)) bytes += record.length;
  return bytes;
}

/** The total the scripts keep, or null when absent. */
async function keptTotal(id: SessionId): Promise<number | null> {
  const value = await raw.hget(metaKey(id), 'b');
  return value === null ? null : Number(value);
}

async function expectSessionLimit(promise: Promise<unknown>): Promise<void> {
  const outcome = await settle(promise);
  expect(outcome.ok).toBe(false);
  if (outcome.ok) return;
  expect(codeOf(outcome.error)).toBe(ErrorCode.LIMIT_EXCEEDED);
  expect((outcome.error as Error).message).toMatch(/^maxSessionBytes: .*\b\d+ bytes\b.*\(4096 bytes\)/);
}

const message = (content: string) => ({ role: 'user' as const, content, timestamp: 1_000 });

describe.skipIf(!hasRedis)('maxSessionBytes on Redis', () => {
  beforeAll(async () => {
    server = await RedisServer.start();
    raw = new Redis({ port: server.port, host: '127.0.0.1' });
    a = await SessionEngine.start({ shards: 2, store: { redis: server.url }, maxSessionBytes: LIMIT });
    b = await SessionEngine.start({ shards: 2, store: { redis: server.url }, maxSessionBytes: LIMIT });
    large = await SessionEngine.start({ shards: 1, store: { redis: server.url } });
  });
  afterAll(async () => {
    raw?.disconnect();
    await a?.close();
    await b?.close();
    await large?.close();
    await server?.stop();
  });

  it('rejects an append that would pass it, and leaves the session unchanged', async () => {
    const id = await a.create({ title: 't' });
    const accepted: string[] = [];
    for (let i = 0; i < 3; i++) {
      const content = `${i}`.repeat(1_000);
      await a.appendMessage(id, message(content));
      accepted.push(content);
    }
    const before = await raw.hgetall(metaKey(id));
    await expectSessionLimit(a.appendMessage(id, message('x'.repeat(1_200))));
    // Nothing of the refused append landed, not even its clock.
    expect(await raw.hgetall(metaKey(id))).toEqual(before);
    expect((await a.get(id))!.context.map((m) => m.content)).toEqual(accepted);
    // A message that fits still goes in, and the kept total matches the bytes stored.
    await a.appendMessage(id, message('small'));
    expect(await keptTotal(id)).toBe(await storedBytes(id));
    expect(await storedBytes(id)).toBeLessThanOrEqual(LIMIT);
    await a.remove(id);
  });

  it('rejects a create whose fields together pass it, and creates nothing', async () => {
    const keys = await raw.dbsize();
    // Each field is within the limit on its own (the host's checks), not all of them together.
    await expectSessionLimit(a.create({ clientCapabilities: { big: 'c'.repeat(2_500) }, cwd: `/${'d'.repeat(2_000)}` }));
    expect(await raw.dbsize()).toBe(keys);
    const id = await a.create({ clientCapabilities: { big: 'c'.repeat(2_500) }, cwd: '/work' });
    expect(await keptTotal(id)).toBe(await storedBytes(id));
    await a.remove(id);
  });

  it('rejects an update that would pass it, and changes nothing', async () => {
    const id = await a.create({ title: 'before' });
    await a.appendMessage(id, message('m'.repeat(3_000)));
    const before = await raw.hgetall(metaKey(id));
    await expectSessionLimit(a.update(id, { title: 't'.repeat(1_000), clientCapabilities: { more: 'x'.repeat(500) } }));
    expect(await raw.hgetall(metaKey(id))).toEqual(before);
    expect((await a.get(id))!.title).toBe('before');
    // Dropping a field makes room, and the total follows.
    await a.update(id, { title: null, owner: 'ann' });
    expect(await keptTotal(id)).toBe(await storedBytes(id));
    await a.remove(id);
  });

  it('holds on the server: two hosts racing appends never pass it together', async () => {
    const id = await a.create();
    const outcomes = await Promise.all(
      Array.from({ length: 60 }, (_, i) => settle((i % 2 === 0 ? a : b).appendMessage(id, message(`${i}:`.padEnd(200, 'r'))))),
    );
    const accepted = outcomes.filter((o) => o.ok).length;
    for (const o of outcomes) if (!o.ok) expect(codeOf(o.error)).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(60);
    // Every acknowledged append is there, and together they stay within the limit.
    expect(await raw.llen(logKey(id))).toBe(accepted);
    expect(await storedBytes(id)).toBeLessThanOrEqual(LIMIT);
    expect(await keptTotal(id)).toBe(await storedBytes(id));
    await a.remove(id);
  });

  it('counts a session written without the total (an earlier release) and keeps it working', async () => {
    const id = await a.create({ cwd: '/old' });
    for (let i = 0; i < 3; i++) await a.appendMessage(id, message(`${i}`.repeat(1_000)));
    await raw.hdel(metaKey(id), 'b');
    expect((await a.get(id))!.context).toHaveLength(3);
    expect(await keptTotal(id)).toBe(await storedBytes(id));
    await raw.hdel(metaKey(id), 'b');
    await expectSessionLimit(a.appendMessage(id, message('y'.repeat(1_200))));
    expect(await raw.llen(logKey(id))).toBe(3);
    await a.appendMessage(id, message('fits'));
    expect(await keptTotal(id)).toBe(await storedBytes(id));
    await raw.hdel(metaKey(id), 'b');
    await a.update(id, { title: 'still writable' });
    expect(await keptTotal(id)).toBe(await storedBytes(id));
    await a.remove(id);
  });

  it('bounds reads of a session written under a larger limit; remove always removes', async () => {
    const id = await large.create();
    const contents = Array.from({ length: 6 }, (_, i) => `${i}`.repeat(1_000));
    for (const content of contents) await large.appendMessage(id, message(content));
    const outcome = await settle(a.get(id));
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(codeOf(outcome.error)).toBe(ErrorCode.LIMIT_EXCEEDED);
      expect((outcome.error as Error).message).toMatch(/maxSessionBytes.*lastMessages/);
    }
    expect((await a.get(id, { lastMessages: 2 }))!.context.map((m) => m.content)).toEqual(contents.slice(4));
    await expectSessionLimit(a.appendMessage(id, message('z')));
    // What remove resolves is bounded like a read: the newest messages that fit with the fields.
    const records = await raw.lrangeBuffer(logKey(id), 0, -1);
    let bytes = (await storedBytes(id)) - records.reduce((sum, record) => sum + record.length, 0);
    let fit = 0;
    for (let i = records.length - 1; i >= 0 && bytes + records[i]!.length <= LIMIT; i--, fit++) bytes += records[i]!.length;
    expect(fit).toBeGreaterThan(0);
    expect(fit).toBeLessThan(contents.length);
    const removed = await a.remove(id);
    expect(removed!.context.map((m) => m.content)).toEqual(contents.slice(contents.length - fit));
    expect(await raw.exists(metaKey(id), logKey(id))).toBe(0);
  });
});
