import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../src/protocol/codec.js';
import type { Message, Session } from '../../src/protocol/model.js';
import { encodeMessageRecord, MAX_RECORD_HEAD_BYTES, readMessageJson } from '../../src/protocol/message-record.js';
import { MsgpackWriter } from '../../src/protocol/msgpack-writer.js';
import { encodeCapabilities, encodeServers } from '../../src/protocol/encoded-fields.js';
import { LOG_UNIT_BYTES, LogArena } from '../../src/shard/memory/log-arena.js';
import { SessionRows } from '../../src/shard/memory/session-rows.js';
import {
  appendMessageRecord,
  captureStoredSession,
  logCapacityOf,
  logGrowth,
  newStoredSession,
  offsetOfMessage,
  restoreStoredSession,
  serialiseStoredSession,
  writeSession,
} from '../../src/shard/memory/stored-session.js';

const ID = '01JAAAAAAAAAAAAAAAAAAAAAAA';
const arena = new LogArena();
const rows = new SessionRows();

/** Contents that cross every msgpack string-header boundary, in ASCII and in multibyte UTF-8. */
const CONTENTS = ['', 'hi', 'a'.repeat(31), 'b'.repeat(32), 'c'.repeat(255), 'd'.repeat(256), 'é'.repeat(200), 'e'.repeat(65_536), '😀 emoji'];

function read(session: ReturnType<typeof newStoredSession>, lastMessages: number): Session {
  const writer = new MsgpackWriter(16);
  // The newest `lastMessages` (all when negative), as a read of that window asks.
  const count = lastMessages < 0 ? session.messageCount : Math.min(lastMessages, session.messageCount);
  writeSession(writer, session, session.messageCount - count, count);
  return decode(writer.finish()) as Session;
}

/** A message's record as the host encodes it (these messages hold plain strings, or parts and metadata). */
function recordOf(m: Message): Uint8Array {
  const content = typeof m.content === 'string' ? m.content : Buffer.from(JSON.stringify(m.content));
  const metadata = m.metadata === undefined ? null : Buffer.from(JSON.stringify(m.metadata));
  return encodeMessageRecord({ id: m.id, role: m.role, content, timestamp: m.timestamp, metadata });
}

function sessionWith(messages: Message[]) {
  const session = newStoredSession(rows, arena, ID, 1_000, encodeCapabilities({ fs: { readTextFile: true }, custom: [1, 'x'] }), encodeServers(['git', 'fs']));
  for (const m of messages) appendMessageRecord(session, recordOf(m));
  return session;
}

const messages: Message[] = CONTENTS.map((content, i) => ({
  id: `m${i}`,
  role: (['user', 'assistant', 'system'] as const)[i % 3]!,
  content,
  timestamp: 1_700_000_000_000 + i,
}));

describe('a stored session (messages kept as encoded records)', () => {
  it('reads back every message exactly, whatever its length or script', () => {
    const session = sessionWith(messages);
    expect(read(session, -1)).toEqual({
      id: ID,
      createdAt: 1_000,
      lastAccessed: 1_000,
      context: messages,
      clientCapabilities: { fs: { readTextFile: true }, custom: [1, 'x'] },
      mcpServers: ['git', 'fs'],
      cwd: null,
      title: null,
      updatedAt: 1_000,
      owner: null,
      metadata: null,
      length: messages.length,
    });
  });

  it('reads back content parts and metadata as the JSON text they were stored as', () => {
    const rich: Message[] = [
      {
        id: 'p1',
        role: 'assistant',
        content: [
          { type: 'text', text: 'é' },
          { type: 'tool_call', toolCallId: 't', name: 'n', input: [1, { a: null }] },
        ],
        timestamp: 1,
      },
      { id: 'p2', role: 'tool', content: [{ type: 'tool_result', toolCallId: 't', output: 'ok', isError: false }], timestamp: 2, metadata: { tokens: 3 } },
      { id: 'p3', role: 'user', content: 'plain, with metadata', timestamp: 3, metadata: { k: ['v'] } },
    ];
    const session = sessionWith(rich);
    for (let n = 0; n <= rich.length; n++) {
      const context = read(session, n).context.map(readMessageJson);
      expect(context).toEqual(rich.slice(rich.length - n));
    }
  });

  it('reads the newest n messages for every n, and all of them when n is larger', () => {
    const session = sessionWith(messages);
    for (let n = 0; n <= messages.length + 2; n++) {
      expect(read(session, n).context).toEqual(messages.slice(Math.max(0, messages.length - n)));
    }
  });

  it('finds the offset of every message, the end included', () => {
    const session = sessionWith(messages);
    expect(offsetOfMessage(session, 0)).toBe(0);
    expect(offsetOfMessage(session, messages.length)).toBe(session.logBytes);
    for (let i = 1; i < messages.length; i++) expect(offsetOfMessage(session, i)).toBeGreaterThan(offsetOfMessage(session, i - 1));
  });

  it('reads the newest n of a long session for every n, before and after a snapshot round trip', () => {
    // 100 messages of every str header size, so that the checkpoints (every 16 messages) land on all of them.
    const long: Message[] = Array.from({ length: 100 }, (_, i) => ({ id: `l${i}`, role: 'user', content: CONTENTS[i % CONTENTS.length]!, timestamp: i }));
    const session = sessionWith(long);
    const restored = restoreStoredSession(decode(encode(serialiseStoredSession(session))), rows, arena);
    for (const s of [session, restored]) {
      for (let n = 0; n <= long.length + 1; n++) expect(read(s, n).context).toEqual(long.slice(Math.max(0, long.length - n)));
      for (let i = 0; i <= long.length; i++) expect(offsetOfMessage(s, i)).toBe(offsetOfMessage(sessionWith(long.slice(0, i)), i));
    }
  });

  it('keeps what a capture read when the session goes on growing', () => {
    const long: Message[] = Array.from({ length: 40 }, (_, i) => ({ id: `c${i}`, role: 'assistant', content: `m${i}`, timestamp: i }));
    const session = sessionWith(long.slice(0, 20));
    // As a capture does: the captured pieces and table stay as they are while it reads.
    arena.hold();
    const captured = captureStoredSession(session, new SessionRows());
    for (const m of long.slice(20)) appendMessageRecord(session, recordOf(m));
    expect(read(captured, 3).context).toEqual(long.slice(17, 20));
    expect(read(captured, -1).context).toEqual(long.slice(0, 20));
    arena.unhold();
    expect(read(session, 3).context).toEqual(long.slice(37, 40));
  });

  it('takes pieces as the log grows: never more than one unit spare, a few pieces for a long log', () => {
    const own = new LogArena();
    const session = newStoredSession(rows, own, ID, 1_000, encodeCapabilities(null), encodeServers([]));
    const all: Message[] = [];
    for (let i = 0; i < 2_000; i++) {
      const m: Message = { id: `g${i}`, role: 'user', content: `${i} ${'x'.repeat(i % 300)}`, timestamp: i };
      all.push(m);
      appendMessageRecord(session, recordOf(m));
      expect(logCapacityOf(session) - session.logBytes).toBeLessThan(LOG_UNIT_BYTES);
      expect(own.bytesInUse).toBe(logCapacityOf(session));
    }
    // ~320 KB in pieces of 512 B to 128 KiB: at most 3 of each size.
    expect(session.pieceCount).toBeLessThanOrEqual(3 * 5);
    expect(read(session, -1).context).toEqual(all);
    expect(read(session, 7).context).toEqual(all.slice(-7));
  });

  it('reads records whose header runs from one piece into the next, at every split', () => {
    // A first message sized so that the second record starts 0 to (a head of the longest id and a timestamp)
    // bytes before the first piece ends; the records after it have ids of every length, up to 128.
    for (let gap = 0; gap <= MAX_RECORD_HEAD_BYTES + 9; gap++) {
      let length = 0;
      const firstOf = (content: string): Message => ({ id: 'first', role: 'user', content, timestamp: 1 });
      while (recordOf(firstOf('p'.repeat(length))).length < LOG_UNIT_BYTES - gap) length++;
      const first = firstOf('p'.repeat(length));
      expect(recordOf(first).length).toBe(LOG_UNIT_BYTES - gap);
      const rest: Message[] = Array.from({ length: 40 }, (_, i) => ({
        id: `${i}-`.padEnd(i % 2 === 0 ? 128 : 1 + ((i * 7) % 40), 'r'),
        role: 'assistant',
        content: CONTENTS[i % 7]!,
        timestamp: i,
      }));
      const all = [first, ...rest];
      const session = sessionWith(all);
      for (let n = 0; n <= all.length; n++) expect(read(session, n).context).toEqual(all.slice(all.length - n));
    }
  });

  it('says beforehand how much room an append adds, merges included', () => {
    const own = new LogArena();
    const session = newStoredSession(rows, own, ID, 1_000, encodeCapabilities(null), encodeServers([]));
    for (let i = 0; i < 3_000; i++) {
      const record = encodeMessageRecord({ id: `a${i}`, role: 'assistant', content: 'g'.repeat((i * 37) % 1_500), timestamp: i, metadata: null });
      const expected = logGrowth(session.logBytes, session.logCapacity, record.length);
      const before = logCapacityOf(session);
      appendMessageRecord(session, record);
      expect(logCapacityOf(session) - before).toBe(expected);
    }
  });

  it('shares one encoding for null capabilities and for no servers', () => {
    expect(encodeCapabilities(null)).toBe(encodeCapabilities(null));
    expect(encodeServers([])).toBe(encodeServers([]));
    expect(read(newStoredSession(rows, arena, ID, 5, encodeCapabilities(null), encodeServers([])), -1)).toMatchObject({
      clientCapabilities: null,
      mcpServers: [],
      context: [],
    });
  });
});
