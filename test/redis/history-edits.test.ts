/**
 * Structured messages and history edits on the Redis store, through the public `SessionEngine` API:
 * ids and metadata, appendMessages (all or none, retries, ifLength, id uniqueness), popMessage,
 * spliceMessages, fork, read windows, session metadata; and sessions written by an earlier release
 * (records without ids), whose messages get ids that never change once served.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type Message, type MessageInput, SessionEngine, type SessionId } from '../../dist/src/index.js';
import { ConflictError } from '../../dist/src/main/errors.js';
import { encodeLegacyMessageRecord, upgradeLegacyRecord } from '../../dist/src/protocol/message-record.js';
import { idsKey, logKey, metaKey } from '../../dist/src/shard/redis/keys.js';
import { codeOf, settle } from '../helpers/engine.js';
import { NEVER_ISSUED_ID } from '../helpers/ids.js';
import { hasRedis, RedisCluster, RedisServer } from './redis-server.js';

let server: RedisServer;
let raw: Redis;
let engine: SessionEngine;
/** A second host on the same Redis. */
let other: SessionEngine;
/** A host with small limits. */
let small: SessionEngine;

const SESSION_LIMIT = 4_096;

beforeAll(async () => {
  if (!hasRedis) return;
  server = await RedisServer.start();
  raw = new Redis({ port: server.port, host: '127.0.0.1' });
  engine = await SessionEngine.start({ shards: 2, store: { redis: server.url } });
  other = await SessionEngine.start({ shards: 3, store: { redis: server.url } });
  small = await SessionEngine.start({ shards: 2, store: { redis: server.url }, maxMessagesPerSession: 5, maxSessionBytes: SESSION_LIMIT });
}, 30_000);
afterAll(async () => {
  raw?.disconnect();
  await engine?.close();
  await other?.close();
  await small?.close();
  await server?.stop();
});

/** Rejects with ERR_CONFLICT (a `ConflictError`) whose message matches `words`. */
async function expectConflict(promise: Promise<unknown>, words?: RegExp): Promise<void> {
  const outcome = await settle(promise);
  expect(outcome.ok, 'expected ERR_CONFLICT').toBe(false);
  if (outcome.ok) return;
  expect(outcome.error).toBeInstanceOf(ConflictError);
  expect(codeOf(outcome.error)).toBe(ErrorCode.CONFLICT);
  if (words) expect((outcome.error as Error).message).toMatch(words);
}

async function expectCode(promise: Promise<unknown>, code: string, words?: RegExp): Promise<void> {
  const outcome = await settle(promise);
  expect(outcome.ok, `expected ${code}`).toBe(false);
  if (outcome.ok) return;
  expect(codeOf(outcome.error)).toBe(code);
  if (words) expect((outcome.error as Error).message).toMatch(words);
}

const text = (id: string, content = id): MessageInput => ({ id, role: 'user', content, timestamp: 1_000 });
const idsOf = (messages: readonly Message[]): string[] => messages.map((m) => m.id);
async function history(id: SessionId, host = engine): Promise<string[]> {
  return idsOf((await host.get(id))!.context);
}

/** The bytes a session holds in Redis, counted from its keys (as `lua-scripts.ts` counts them). */
async function storedBytes(id: SessionId): Promise<number> {
  let bytes = 0;
  for (const field of ['cap', 'srv', 'cwd', 'title', 'owner', 'meta']) bytes += await raw.hstrlen(metaKey(id), field);
  for (const record of await raw.lrangeBuffer(logKey(id), 0, -1)) bytes += record.length;
  return bytes;
}

/** What the scripts keep beside the log agrees with the log: the byte total and the set of ids. */
async function expectBookkeeping(id: SessionId): Promise<void> {
  expect(Number(await raw.hget(metaKey(id), 'b'))).toBe(await storedBytes(id));
  const ids = (await engine.get(id))!.context.map((m) => m.id);
  expect((await raw.smembers(idsKey(id))).sort()).toEqual([...ids].sort());
  expect(Number((await raw.hget(metaKey(id), 'ni')) ?? 0)).toBe(ids.length);
}

describe.skipIf(!hasRedis)('structured messages on Redis', () => {
  it('round-trips content parts, metadata and ids, and mints ids for the rest', async () => {
    const id = await engine.create();
    const parts = [
      { type: 'text', text: 'let me look' },
      { type: 'tool_call', toolCallId: 'call-1', name: 'read_file', input: { path: '/etc/hosts', lines: [1, 2] } },
      { type: 'thought', text: 'hmm' },
    ];
    const result = [{ type: 'tool_result', toolCallId: 'call-1', output: { text: '127.0.0.1 localhost', nested: [null, true, 1.5] }, isError: false }];
    const length = await engine.appendMessages(id, [
      { id: 'u-1', role: 'user', content: 'read my hosts file', timestamp: 1_000 },
      { id: 'a-1', role: 'assistant', content: parts, timestamp: 1_001, metadata: { model: 'm-1', usage: { in: 10, out: 20 } } },
      { id: 't-1', role: 'tool', content: result, timestamp: 1_002 },
      { role: 'assistant', content: 'é ✓ done', metadata: { final: true } },
    ]);
    expect(length).toBe(4);
    expect(await engine.appendMessage(id, { role: 'user', content: 'thanks' })).toBe(5);
    const session = (await engine.get(id))!;
    expect(session.length).toBe(5);
    expect(session.context.slice(0, 3)).toEqual([
      { id: 'u-1', role: 'user', content: 'read my hosts file', timestamp: 1_000 },
      { id: 'a-1', role: 'assistant', content: parts, timestamp: 1_001, metadata: { model: 'm-1', usage: { in: 10, out: 20 } } },
      { id: 't-1', role: 'tool', content: result, timestamp: 1_002 },
    ]);
    expect(session.context[3]).toMatchObject({ role: 'assistant', content: 'é ✓ done', metadata: { final: true } });
    expect(session.context[4]).not.toHaveProperty('metadata');
    for (const minted of session.context.slice(3)) expect(minted.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    // The same through another host, and again (ids are stored, not made up per read).
    expect((await other.get(id))!.context).toEqual(session.context);
    await expectBookkeeping(id);
    await engine.remove(id);
  });

  it('appends all or none: a limit passed by any message appends nothing', async () => {
    const id = await small.create();
    await small.appendMessages(id, [text('a'), text('b'), text('c')]);
    // maxMessagesPerSession (5): three more would make six.
    await expectCode(small.appendMessages(id, [text('d'), text('e'), text('f')]), ErrorCode.LIMIT_EXCEEDED, /maxMessagesPerSession/);
    // maxSessionBytes: the second message is what passes it.
    await expectCode(small.appendMessages(id, [text('g', 'small'), text('h', 'x'.repeat(SESSION_LIMIT))]), ErrorCode.LIMIT_EXCEEDED, /maxSessionBytes/);
    // maxMessageBytes, checked by the host before anything is sent.
    await expectCode(small.appendMessages(id, [text('i'), { role: 'user', content: 'x'.repeat(2 * 1_048_576) }]), ErrorCode.LIMIT_EXCEEDED);
    expect(await history(id, small)).toEqual(['a', 'b', 'c']);
    // The refused calls' ids were not taken.
    expect(await small.appendMessages(id, [text('d'), text('g')])).toBe(5);
    await expectBookkeeping(id);
    await small.remove(id);
  });

  it('appends only at the length asked for (ifLength), and names both lengths when it differs', async () => {
    const id = await engine.create();
    expect(await engine.appendMessages(id, [text('a')], { ifLength: 0 })).toBe(1);
    await expectConflict(engine.appendMessages(id, [text('b')], { ifLength: 0 }), /ifLength.*\b1\b.*\b0\b|ifLength.*\b0\b.*\b1\b/);
    await expectConflict(engine.appendMessage(id, text('b'), { ifLength: 2 }), /ifLength/);
    expect(await engine.appendMessage(id, text('b'), { ifLength: 1 })).toBe(2);
    // An empty call resolves the length, or conflicts like any other.
    expect(await engine.appendMessages(id, [], { ifLength: 2 })).toBe(2);
    await expectConflict(engine.appendMessages(id, [], { ifLength: 5 }));
    expect(await history(id)).toEqual(['a', 'b']);
    await engine.remove(id);
  });

  it('lets exactly one of many concurrent appenders win each length, so the winners end up in order', async () => {
    const id = await engine.create();
    const writers = 12;
    const rounds = 3;
    // Every writer tries at length 0 at once: one wins.
    const first = await Promise.all(
      Array.from({ length: writers }, (_, w) => settle((w % 2 ? other : engine).appendMessage(id, text(`first-${w}`), { ifLength: 0 }))),
    );
    expect(first.filter((o) => o.ok)).toHaveLength(1);
    for (const outcome of first) if (!outcome.ok) expect(codeOf(outcome.error)).toBe(ErrorCode.CONFLICT);
    // Then each writer appends its messages in a read-then-append loop, through both hosts.
    const wins: [number, string][] = [];
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        const host = w % 2 ? other : engine;
        for (let r = 0; r < rounds; r++) {
          for (;;) {
            const { length } = (await host.get(id, { lastMessages: 0 }))!;
            const outcome = await settle(host.appendMessages(id, [text(`w${w}-r${r}-0`), text(`w${w}-r${r}-1`)], { ifLength: length }));
            if (outcome.ok) {
              expect(outcome.value).toBe(length + 2);
              wins.push([length, `w${w}-r${r}`]);
              break;
            }
            expect(codeOf(outcome.error)).toBe(ErrorCode.CONFLICT);
          }
        }
      }),
    );
    wins.sort((x, y) => x[0] - y[0]);
    const winner = first.findIndex((o) => o.ok);
    const expected = [`first-${winner}`, ...wins.flatMap(([, name]) => [`${name}-0`, `${name}-1`])];
    expect(await history(id)).toEqual(expected);
    expect(await history(id, other)).toEqual(expected);
    expect(expected).toHaveLength(1 + writers * rounds * 2);
    await expectBookkeeping(id);
    await engine.remove(id);
  });

  it('takes a retried append as done (same ids and content) and refuses the same id with other content', async () => {
    const id = await engine.create();
    const batch: MessageInput[] = [
      { id: 'r-1', role: 'user', content: 'question' },
      { id: 'r-2', role: 'assistant', content: [{ type: 'text', text: 'answer' }], metadata: { n: 1 } },
    ];
    expect(await engine.appendMessages(id, batch)).toBe(2);
    // A retry: the engine stamps it again (later), which the retry rule ignores for unstamped messages.
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await engine.appendMessages(id, batch)).toBe(2);
    expect(await other.appendMessages(id, batch, { ifLength: 0 })).toBe(2);
    // One message retried on its own is the newest one.
    expect(await engine.appendMessage(id, batch[1]!)).toBe(2);
    expect(await history(id)).toEqual(['r-1', 'r-2']);
    // Stamped messages must match their timestamps too.
    expect(await engine.appendMessage(id, { id: 's-1', role: 'user', content: 's', timestamp: 5 })).toBe(3);
    expect(await engine.appendMessage(id, { id: 's-1', role: 'user', content: 's', timestamp: 5 })).toBe(3);
    await expectConflict(engine.appendMessage(id, { id: 's-1', role: 'user', content: 's', timestamp: 6 }), /s-1/);
    // The same id with other content, or a retry no longer at the end, is a conflict.
    await expectConflict(engine.appendMessage(id, { id: 's-1', role: 'user', content: 'other' }), /"s-1"/);
    await expectConflict(engine.appendMessages(id, batch), /"r-1"/);
    await expectConflict(engine.appendMessage(id, { id: 'r-2', role: 'assistant', content: [{ type: 'text', text: 'answer' }], metadata: { n: 2 } }));
    expect(await history(id)).toEqual(['r-1', 'r-2', 's-1']);
    await engine.remove(id);
  });

  it('refuses ids twice in one call or already in the session, appending nothing', async () => {
    const id = await engine.create();
    await engine.appendMessages(id, [text('a'), text('b')]);
    await expectConflict(engine.appendMessages(id, [text('c'), text('d'), text('c')]), /"c".*twice/);
    await expectConflict(engine.appendMessages(id, [text('c'), text('a')]), /"a".*already/);
    // A minted id is in the set too.
    const minted = (await engine.get(id, { lastMessages: 1 }))!.context[0]!.id;
    await engine.appendMessage(id, { role: 'user', content: 'minted' });
    const mintedId = (await engine.get(id, { lastMessages: 1 }))!.context[0]!.id;
    await expectConflict(engine.appendMessage(id, text(mintedId)), new RegExp(mintedId));
    expect(minted).toBe('b');
    expect((await engine.get(id))!.length).toBe(3);
    await engine.remove(id);
  });

  it('pops the newest message, and its id is free again', async () => {
    const id = await engine.create();
    expect(await engine.popMessage(id)).toBeUndefined();
    await engine.appendMessages(id, [text('a'), { id: 'b', role: 'assistant', content: [{ type: 'text', text: 'B' }], timestamp: 2, metadata: { k: 1 } }]);
    await expectConflict(engine.popMessage(id, { ifLength: 1 }), /ifLength/);
    expect(await engine.popMessage(id, { ifLength: 2 })).toEqual({
      id: 'b',
      role: 'assistant',
      content: [{ type: 'text', text: 'B' }],
      timestamp: 2,
      metadata: { k: 1 },
    });
    expect(await engine.appendMessage(id, text('b'))).toBe(2);
    expect(await engine.popMessage(id)).toMatchObject({ id: 'b', content: 'b' });
    expect(await engine.popMessage(id)).toMatchObject({ id: 'a' });
    expect(await engine.popMessage(id)).toBeUndefined();
    expect((await engine.get(id))!.length).toBe(0);
    await expectBookkeeping(id);
    await expectCode(engine.popMessage(NEVER_ISSUED_ID), ErrorCode.SESSION_NOT_FOUND);
    await engine.remove(id);
  });

  it('splices as Array.prototype.splice does', async () => {
    const cases: [start: number, deleteCount: number, insert: number][] = [
      [1, 1, 0],
      [-2, 1, 1],
      [-100, 2, 0],
      [2, Number.POSITIVE_INFINITY, 0],
      [3, 0, 2],
      [100, 5, 1],
      [0, 0, 0],
      [-1, Number.POSITIVE_INFINITY, 1],
      [0, 3, 1],
      [7, 1, 3],
      [8, 0, 1],
      [1, 0, 4],
      [0, Number.POSITIVE_INFINITY, 0],
      [0, 0, 3],
    ];
    let n = 0;
    for (const [start, deleteCount, insert] of cases) {
      const id = await engine.create();
      const model = Array.from({ length: 10 }, (_, i) => `m${i}`);
      await engine.appendMessages(
        id,
        model.map((m) => text(m)),
      );
      const inserted = Array.from({ length: insert }, () => `new${n++}`);
      const removed = await engine.spliceMessages(
        id,
        start,
        deleteCount,
        inserted.map((m) => text(m)),
      );
      const expectedRemoved = model.splice(start, deleteCount, ...inserted);
      const what = `splice(${start}, ${deleteCount}, ${insert} new)`;
      expect(idsOf(removed), what).toEqual(expectedRemoved);
      expect(
        removed.every((m) => m.content === m.id && m.role === 'user' && m.timestamp === 1_000),
        what,
      ).toBe(true);
      expect(await history(id), what).toEqual(model);
      expect((await engine.get(id))!.length, what).toBe(model.length);
      await expectBookkeeping(id);
      await engine.remove(id);
    }
  });

  it('checks a splice: ifLength, ids new to what remains, limits of the result', async () => {
    const id = await small.create();
    await small.appendMessages(id, [text('a'), text('b'), text('c'), text('d')]);
    await expectConflict(small.spliceMessages(id, 0, 1, [], { ifLength: 3 }), /ifLength/);
    // 'a' stays, so it cannot be inserted; 'b' is removed by this very splice, so it can.
    await expectConflict(small.spliceMessages(id, 1, 1, [text('a')]), /"a"/);
    await expectConflict(small.spliceMessages(id, 1, 1, [text('x'), text('x')]), /twice/);
    expect(idsOf(await small.spliceMessages(id, 1, 1, [text('b', 'B again')], { ifLength: 4 }))).toEqual(['b']);
    // The result would hold 6 messages (limit 5); or too many bytes.
    await expectCode(small.spliceMessages(id, 0, 0, [text('e'), text('f')]), ErrorCode.LIMIT_EXCEEDED, /maxMessagesPerSession/);
    await expectCode(small.spliceMessages(id, 0, 1, [text('big', 'x'.repeat(SESSION_LIMIT))]), ErrorCode.LIMIT_EXCEEDED, /maxSessionBytes/);
    expect((await small.get(id))!.context.map((m) => [m.id, m.content])).toEqual([
      ['a', 'a'],
      ['b', 'B again'],
      ['c', 'c'],
      ['d', 'd'],
    ]);
    // Compaction: the first three become one summary.
    expect(idsOf(await small.spliceMessages(id, 0, 3, [{ id: 'summary', role: 'system', content: 'a, b and c' }]))).toEqual(['a', 'b', 'c']);
    expect(await history(id, small)).toEqual(['summary', 'd']);
    expect(await small.appendMessage(id, text('a'))).toBe(3);
    await expectBookkeeping(id);
    await expectCode(small.spliceMessages(NEVER_ISSUED_ID, 0, 0), ErrorCode.SESSION_NOT_FOUND);
    await small.remove(id);
  });

  it('forks a session: its fields and a copy of its messages, independent from then on', async () => {
    const source = await engine.create({
      clientCapabilities: { terminal: true },
      mcpServers: ['fs'],
      cwd: '/w',
      title: 'T',
      owner: 'ann',
      metadata: { project: 'p' },
    });
    await engine.appendMessages(source, [text('a'), { id: 'b', role: 'assistant', content: [{ type: 'text', text: 'B' }], metadata: { x: 1 } }, text('c')]);
    const before = (await engine.get(source))!;
    const copy = await engine.fork(source);
    expect(copy).not.toBe(source);
    const forked = (await other.get(copy))!;
    expect(forked).toMatchObject({
      id: copy,
      clientCapabilities: { terminal: true },
      mcpServers: ['fs'],
      cwd: '/w',
      title: 'T',
      owner: 'ann',
      metadata: { project: 'p' },
      length: 3,
    });
    expect(forked.context).toEqual(before.context);
    expect(forked.createdAt).toBeGreaterThanOrEqual(before.createdAt);
    expect(forked.updatedAt).toBe(forked.createdAt);
    // Edits of either never show in the other.
    await engine.appendMessage(source, text('d'));
    await engine.spliceMessages(copy, 0, 1, [text('z')]);
    await engine.update(copy, { metadata: { project: 'q' } });
    expect(await history(source)).toEqual(['a', 'b', 'c', 'd']);
    expect(await history(copy)).toEqual(['z', 'b', 'c']);
    expect((await engine.get(source))!.metadata).toEqual({ project: 'p' });
    // Each keeps its own ids: 'd' is free in the copy, 'z' in the source.
    expect(await engine.appendMessage(copy, text('d'))).toBe(4);
    expect(await engine.appendMessage(source, text('z'))).toBe(5);
    await expectConflict(engine.appendMessage(copy, text('b')));
    await expectBookkeeping(source);
    await expectBookkeeping(copy);

    // The first `messages` messages; title and metadata replaced, or cleared.
    const two = await engine.fork(source, { messages: 2, title: 'two', metadata: null });
    expect(await engine.get(two)).toMatchObject({ title: 'two', metadata: null, owner: 'ann', length: 2 });
    expect(await history(two)).toEqual(['a', 'b']);
    const none = await engine.fork(source, { messages: 0, metadata: { other: true } });
    expect(await engine.get(none)).toMatchObject({ title: 'T', metadata: { other: true }, length: 0, context: [] });
    const all = await engine.fork(source, { messages: 99, title: null });
    expect(await engine.get(all)).toMatchObject({ title: null, length: 5 });
    await expectBookkeeping(all);
    await expectCode(engine.fork(NEVER_ISSUED_ID), ErrorCode.SESSION_NOT_FOUND);
    for (const one of [source, copy, two, none, all]) await engine.remove(one);
  });

  it('reads windows of the history, with the length of all of it', async () => {
    const id = await engine.create();
    await engine.appendMessages(
      id,
      Array.from({ length: 10 }, (_, i) => text(`m${i}`)),
    );
    const window = async (options: Parameters<SessionEngine['get']>[1]) => {
      const session = (await engine.get(id, options))!;
      expect(session.length).toBe(10);
      return idsOf(session.context);
    };
    expect(await window({ lastMessages: 3 })).toEqual(['m7', 'm8', 'm9']);
    expect(await window({ lastMessages: 0 })).toEqual([]);
    expect(await window({ lastMessages: 50 })).toHaveLength(10);
    expect(await window({ fromMessage: 4 })).toEqual(['m4', 'm5', 'm6', 'm7', 'm8', 'm9']);
    expect(await window({ fromMessage: 4, maxMessages: 2 })).toEqual(['m4', 'm5']);
    expect(await window({ maxMessages: 2 })).toEqual(['m0', 'm1']);
    expect(await window({ fromMessage: 9, maxMessages: 5 })).toEqual(['m9']);
    expect(await window({ fromMessage: 10 })).toEqual([]);
    expect(await window({ fromMessage: 50, maxMessages: 1 })).toEqual([]);
    expect(await window({ fromMessage: 3, maxMessages: 0 })).toEqual([]);
    await engine.remove(id);
  });

  it('keeps session metadata: created, replaced, cleared, and counted in maxSessionBytes', async () => {
    const id = await engine.create({ title: 't', metadata: { a: 1, nested: { list: [1, 'two', null] } } });
    expect((await engine.get(id))!.metadata).toEqual({ a: 1, nested: { list: [1, 'two', null] } });
    await engine.update(id, { title: 'u' });
    expect((await engine.get(id))!.metadata).toEqual({ a: 1, nested: { list: [1, 'two', null] } });
    await engine.update(id, { metadata: { b: 'é' } });
    expect(await engine.get(id)).toMatchObject({ title: 'u', metadata: { b: 'é' } });
    expect(await engine.remove(id)).toMatchObject({ metadata: { b: 'é' }, length: 0 });

    const bounded = await small.create({ metadata: { pad: 'x'.repeat(1_000) } });
    expect(Number(await raw.hget(metaKey(bounded), 'b'))).toBe(await storedBytes(bounded));
    await expectCode(small.update(bounded, { metadata: { pad: 'x'.repeat(SESSION_LIMIT) } }), ErrorCode.LIMIT_EXCEEDED, /maxSessionBytes/);
    await expectCode(small.create({ metadata: { pad: 'x'.repeat(SESSION_LIMIT) } }), ErrorCode.LIMIT_EXCEEDED, /maxSessionBytes/);
    await small.update(bounded, { metadata: null });
    expect((await small.get(bounded))!.metadata).toBeNull();
    expect(await raw.hexists(metaKey(bounded), 'meta')).toBe(0);
    expect(Number(await raw.hget(metaKey(bounded), 'b'))).toBe(await storedBytes(bounded));
    await small.remove(bounded);
  });

  it('rebuilds the set of ids when it is lost (it expired while only an earlier release touched the session)', async () => {
    const id = await engine.create();
    await engine.appendMessages(id, [text('a'), text('b')]);
    await raw.del(idsKey(id));
    await expectConflict(engine.appendMessage(id, text('a')), /"a"/);
    await engine.appendMessage(id, text('c'));
    await expectBookkeeping(id);
    await engine.remove(id);
  });
});

/** A session as the previous release wrote it: format 2, records without ids, no byte total, no id set. */
async function writeLegacySession(id: SessionId, contents: string[], startAt = 1_700_000_000_000): Promise<Buffer[]> {
  const records = contents.map((content, i) => Buffer.from(encodeLegacyMessageRecord(i % 2 ? 'assistant' : 'user', content, startAt + i)));
  const now = Date.now();
  await raw.hset(metaKey(id), 'v', '2', 'c', now, 'a', now, 'u', now, 'cap', Buffer.from([0xc0]), 'srv', Buffer.from([0x90]), 'title', 'old');
  if (records.length > 0) await raw.rpush(logKey(id), ...records);
  await raw.pexpire(metaKey(id), 3_600_000);
  await raw.pexpire(logKey(id), 3_600_000);
  return records;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** The time of a ULID. */
function timeOf(ulid: string): number {
  let time = 0;
  for (const char of ulid.slice(0, 10)) time = time * 32 + CROCKFORD.indexOf(char);
  return time;
}

/** A fresh session id not yet in Redis (a created one, removed again). */
async function freshId(): Promise<SessionId> {
  const id = await engine.create();
  await engine.remove(id);
  return id;
}

describe.skipIf(!hasRedis)('sessions written by an earlier release (records without ids)', () => {
  it('reads them with ids that stay the same on every later read, append and edit', async () => {
    const id = await freshId();
    const legacy = await writeLegacySession(id, ['one', 'two', 'three', 'four', 'five']);
    const first = (await engine.get(id))!;
    expect(first).toMatchObject({ id, title: 'old', metadata: null, length: 5 });
    expect(first.context.map((m) => [m.role, m.content, m.timestamp])).toEqual([
      ['user', 'one', 1_700_000_000_000],
      ['assistant', 'two', 1_700_000_000_001],
      ['user', 'three', 1_700_000_000_002],
      ['assistant', 'four', 1_700_000_000_003],
      ['user', 'five', 1_700_000_000_004],
    ]);
    const ids = idsOf(first.context);
    expect(new Set(ids).size).toBe(5);
    for (const [i, one] of ids.entries()) {
      expect(one).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      // A ULID of the message's own time.
      expect(timeOf(one)).toBe(1_700_000_000_000 + i);
    }
    // Stored as `upgradeLegacyRecord` writes them.
    const stored = await raw.lrangeBuffer(logKey(id), 0, -1);
    for (let i = 0; i < 5; i++) expect(Buffer.compare(stored[i]!, Buffer.from(upgradeLegacyRecord(legacy[i]!, ids[i]!)))).toBe(0);
    // A second read, through another host, and reads after an append and an edit: the same ids.
    expect(idsOf((await other.get(id))!.context)).toEqual(ids);
    expect(await engine.appendMessage(id, text('new'))).toBe(6);
    expect(await history(id)).toEqual([...ids, 'new']);
    await expectConflict(engine.appendMessage(id, text(ids[2]!)));
    expect(idsOf(await engine.spliceMessages(id, 1, 1))).toEqual([ids[1]]);
    expect(await history(id, other)).toEqual([ids[0], ids[2], ids[3], ids[4], 'new']);
    await expectBookkeeping(id);
    await engine.remove(id);
  });

  it('upgrades only what a window reads, and keeps those ids when the rest is read later', async () => {
    const id = await freshId();
    await writeLegacySession(id, ['a', 'b', 'c', 'd', 'e', 'f']);
    const newest = idsOf((await engine.get(id, { lastMessages: 2 }))!.context);
    const middle = idsOf((await engine.get(id, { fromMessage: 2, maxMessages: 1 }))!.context);
    const stored = await raw.lrangeBuffer(logKey(id), 0, -1);
    expect(stored.map((r) => r[0])).toEqual([0x41, 0x41, 0x43, 0x41, 0x43, 0x43]);
    const all = idsOf((await engine.get(id))!.context);
    expect(all.slice(4)).toEqual(newest);
    expect(all[2]).toBe(middle[0]);
    expect(idsOf((await engine.get(id))!.context)).toEqual(all);
    await expectBookkeeping(id);
    await engine.remove(id);
  });

  it('appends to one (an append, a retried append with ifLength), and counts its bytes', async () => {
    const id = await freshId();
    await writeLegacySession(id, ['a', 'b']);
    // Appends before anything read it: the legacy records have no ids yet, and need none.
    expect(await engine.appendMessages(id, [text('x'), text('y')], { ifLength: 2 })).toBe(4);
    expect(await engine.appendMessages(id, [text('x'), text('y')], { ifLength: 2 })).toBe(4);
    expect(await engine.appendMessage(id, { role: 'user', content: 'plain' })).toBe(5);
    const ids = await history(id);
    expect(ids.slice(2, 4)).toEqual(['x', 'y']);
    expect(await history(id)).toEqual(ids);
    await expectBookkeeping(id);
    await engine.remove(id);
  });

  it('pops, splices, forks and removes one, handing out records with ids', async () => {
    const popped = await freshId();
    await writeLegacySession(popped, ['a', 'b', 'c']);
    const last = await engine.popMessage(popped);
    expect(last).toMatchObject({ role: 'user', content: 'c', timestamp: 1_700_000_000_002 });
    expect(last!.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(idsOf(await engine.spliceMessages(popped, 0, 1)).every((one) => /^[0-9A-HJKMNP-TV-Z]{26}$/.test(one))).toBe(true);
    await expectBookkeeping(popped);

    const source = await freshId();
    await writeLegacySession(source, ['a', 'b', 'c']);
    const copy = await engine.fork(source, { messages: 2 });
    const copied = (await engine.get(copy))!.context;
    // The copy carries the ids the source serves from then on.
    expect(idsOf(copied)).toEqual(idsOf((await engine.get(source))!.context).slice(0, 2));
    expect(copied.map((m) => m.content)).toEqual(['a', 'b']);
    await expectBookkeeping(source);
    await expectBookkeeping(copy);

    const removed = await freshId();
    await writeLegacySession(removed, ['a', 'b']);
    const gone = (await engine.remove(removed))!;
    expect(gone.context.map((m) => m.content)).toEqual(['a', 'b']);
    expect(gone.context.every((m) => /^[0-9A-HJKMNP-TV-Z]{26}$/.test(m.id))).toBe(true);
    expect(await raw.exists(metaKey(removed), logKey(removed), idsKey(removed))).toBe(0);
    for (const one of [popped, source, copy]) await engine.remove(one);
  });
});

describe.skipIf(!hasRedis)('history edits on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let clustered: SessionEngine;
  beforeAll(async () => {
    cluster = await RedisCluster.start();
    clustered = await SessionEngine.start({ shards: 2, store: { redis: { cluster: cluster.seeds } }, storeTimeoutMs: 5_000 });
  }, 60_000);
  afterAll(async () => {
    await clustered?.close();
    await cluster?.stop();
  });

  it('appends, pops, splices and forks (the copy in another slot)', async () => {
    const id = await clustered.create({ title: 'c', metadata: { m: 1 } });
    expect(await clustered.appendMessages(id, [text('a'), text('b'), text('c')], { ifLength: 0 })).toBe(3);
    await expectConflict(clustered.appendMessages(id, [text('a')]));
    expect(await clustered.popMessage(id)).toMatchObject({ id: 'c' });
    expect(idsOf(await clustered.spliceMessages(id, 0, 1, [text('s')]))).toEqual(['a']);
    const forks = await Promise.all(Array.from({ length: 6 }, () => clustered.fork(id)));
    for (const copy of forks) {
      expect(await clustered.get(copy)).toMatchObject({ title: 'c', metadata: { m: 1 }, length: 2 });
      expect(idsOf((await clustered.get(copy))!.context)).toEqual(['s', 'b']);
    }
    await clustered.appendMessage(forks[0]!, text('only-in-fork'));
    expect(idsOf((await clustered.get(id))!.context)).toEqual(['s', 'b']);
    for (const one of [id, ...forks]) await clustered.remove(one);
  });
});
