import { describe, expect, it } from 'vitest';
import { decode } from '../../src/protocol/codec.js';
import { encodeMessageRecord } from '../../src/protocol/message-record.js';
import type { ClientCapabilities, Role, Session } from '../../src/protocol/model.js';
import { MsgpackWriter } from '../../src/protocol/msgpack-writer.js';
import { OperationFailure } from '../../src/protocol/operation-failure.js';
import { SessionStore, type StoreLimits } from '../../src/shard/memory/session-store.js';
import { encodeCapabilities, encodeServers } from '../../src/protocol/encoded-fields.js';
import { writeSession, type StoredSession } from '../../src/shard/memory/stored-session.js';

const TTL = 1_000;
const A = '01JAAAAAAAAAAAAAAAAAAAAAAA';
const B = '01JBBBBBBBBBBBBBBBBBBBBBBB';
const C = '01JCCCCCCCCCCCCCCCCCCCCCCC';

/** A message record as the host encodes it; its id is `m<timestamp>` unless given. */
function record(role: Role, content: string, timestamp: number, id = `m${timestamp}`): Uint8Array {
  return encodeMessageRecord({ id, role, content, timestamp, metadata: null });
}

/** A clock the test moves by hand: no real waiting. */
function manualClock(start = 1_700_000_000_000) {
  let now = start;
  const clock = () => now;
  clock.advance = (ms: number) => {
    now += ms;
  };
  return clock;
}

/**
 * The store as the worker drives it: fields encoded on the way in, sessions written with the reply
 * encoder and decoded with the one codec on the way out, so these tests read what a caller would get.
 */
class DecodingStore extends SessionStore {
  override create(id: string, capabilities: ClientCapabilities | null | Uint8Array, servers: string[] | Uint8Array): void {
    super.create(id, toBytes(capabilities, encodeCapabilities), toBytes(servers, encodeServers));
  }

  /** Reads the session back as a caller gets it (`lastMessages < 0`: the whole context). */
  read(id: string, lastMessages: number): Session | undefined {
    const session = super.get(id);
    return session === undefined ? undefined : decodeSession(session, lastMessages);
  }

  updateFields(id: string, setCapabilities: boolean, capabilities: ClientCapabilities | null, setServers: boolean, servers: string[]): void {
    super.update(id, setCapabilities ? encodeCapabilities(capabilities) : null, setServers ? encodeServers(servers) : null);
  }

  removeDecoded(id: string): Session | undefined {
    const session = super.remove(id);
    return session === undefined ? undefined : decodeSession(session, -1);
  }
}

function toBytes<T>(value: T | Uint8Array, encodeValue: (value: T) => Uint8Array): Uint8Array {
  return value instanceof Uint8Array ? value : encodeValue(value);
}

function decodeSession(session: StoredSession, lastMessages: number): Session {
  const writer = new MsgpackWriter(16);
  // The newest `lastMessages` (all when negative), as a read of that window asks.
  const count = lastMessages < 0 ? session.messageCount : Math.min(lastMessages, session.messageCount);
  writeSession(writer, session, session.messageCount - count, count);
  return decode(writer.finish()) as Session;
}

function makeStore(limits: Partial<StoreLimits> = {}) {
  const clock = manualClock();
  const store = new DecodingStore({ maxSessionAgeMs: TTL, maxMessagesPerSession: 100, maxBytes: Number.MAX_SAFE_INTEGER, ...limits }, clock);
  return { store, clock };
}

function failureCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(OperationFailure);
    return (error as OperationFailure).code;
  }
  return undefined;
}

describe('SessionStore (with an injected clock)', () => {
  describe('create and get', () => {
    it('creates a session stamped with the clock, empty context, and the given fields', () => {
      const { store, clock } = makeStore();
      store.create(A, { terminal: true }, ['git']);
      expect(store.read(A, -1)).toEqual({
        id: A,
        createdAt: clock(),
        lastAccessed: clock(),
        context: [],
        clientCapabilities: { terminal: true },
        mcpServers: ['git'],
        cwd: null,
        title: null,
        updatedAt: clock(),
        owner: null,
        metadata: null,
        length: 0,
      });
      expect(store.size).toBe(1);
    });

    it('refuses to create an id that already exists with ERR_INVALID_ARGUMENT', () => {
      const { store } = makeStore();
      store.create(A, null, []);
      expect(failureCode(() => store.create(A, null, []))).toBe('ERR_INVALID_ARGUMENT');
      expect(store.size).toBe(1);
    });

    it('returns undefined for an unknown id', () => {
      const { store } = makeStore();
      expect(store.read(A, -1)).toBeUndefined();
    });

    it('get refreshes lastAccessed to the current clock', () => {
      const { store, clock } = makeStore();
      store.create(A, null, []);
      clock.advance(500);
      expect(store.read(A, -1)?.lastAccessed).toBe(clock());
    });

    it('get returns a snapshot that later appends do not change', () => {
      const { store } = makeStore();
      store.create(A, null, []);
      const snapshot = store.read(A, -1)!;
      store.append(A, record('user', 'hi', 1));
      expect(snapshot.context).toEqual([]);
    });

    it('get with lastMessages returns only the newest that many, in order', () => {
      const { store } = makeStore();
      store.create(A, null, []);
      for (let i = 1; i <= 5; i++) store.append(A, record('user', `m${i}`, i));
      expect(store.read(A, 2)!.context.map((m) => m.content)).toEqual(['m4', 'm5']);
      expect(store.read(A, 0)!.context).toEqual([]);
      expect(store.read(A, 99)!.context).toHaveLength(5);
      expect(store.read(A, -1)!.context).toHaveLength(5);
    });
  });

  describe('append', () => {
    it('returns the new context length and keeps messages in order', () => {
      const { store } = makeStore();
      store.create(A, null, []);
      expect(store.append(A, record('user', 'one', 10))).toBe(1);
      expect(store.append(A, record('assistant', 'two', 11))).toBe(2);
      expect(store.append(A, record('system', 'three', 12))).toBe(3);
      expect(store.read(A, -1)!.context).toEqual([
        { id: 'm10', role: 'user', content: 'one', timestamp: 10 },
        { id: 'm11', role: 'assistant', content: 'two', timestamp: 11 },
        { id: 'm12', role: 'system', content: 'three', timestamp: 12 },
      ]);
      expect(store.messageCount).toBe(3);
    });

    it('rejects an append to an unknown id with ERR_SESSION_NOT_FOUND', () => {
      const { store } = makeStore();
      expect(failureCode(() => store.append(A, record('user', 'x', 1)))).toBe('ERR_SESSION_NOT_FOUND');
    });

    it('rejects the append beyond maxMessagesPerSession with ERR_LIMIT_EXCEEDED and trims nothing', () => {
      const { store } = makeStore({ maxMessagesPerSession: 3 });
      store.create(A, null, []);
      for (let i = 0; i < 3; i++) store.append(A, record('user', `m${i}`, i));
      expect(failureCode(() => store.append(A, record('user', 'over', 9)))).toBe('ERR_LIMIT_EXCEEDED');
      expect(store.read(A, -1)!.context.map((m) => m.content)).toEqual(['m0', 'm1', 'm2']);
      expect(store.messageCount).toBe(3);
    });

    it('refreshes lastAccessed', () => {
      const { store, clock } = makeStore();
      store.create(A, null, []);
      clock.advance(TTL);
      store.append(A, record('user', 'x', 1));
      clock.advance(TTL);
      expect(store.touch(A)).toBe(true);
    });
  });

  describe('the byte budget (maxBytes)', () => {
    it('refuses the append that would pass maxBytes with ERR_CAPACITY, and the session stays as it was', () => {
      const { store } = makeStore({ maxBytes: 2_000 });
      store.create(A, null, []);
      store.append(A, record('user', 'x'.repeat(1_000), 1));
      const held = store.heldBytes;
      expect(failureCode(() => store.append(A, record('user', 'y'.repeat(1_000), 2)))).toBe('ERR_CAPACITY');
      expect(store.heldBytes).toBe(held);
      expect(store.messageCount).toBe(1);
      expect(store.read(A, -1)!.context).toEqual([{ id: 'm1', role: 'user', content: 'x'.repeat(1_000), timestamp: 1 }]);
      store.append(A, record('user', 'small', 3));
      expect(store.read(A, -1)!.context.map((m) => m.content)).toEqual(['x'.repeat(1_000), 'small']);
    });

    it('refuses an append whose room would come with a merge, and counts nothing for it', () => {
      // Records of exactly one 512-byte unit: three fill three pieces, and the room for a fourth would come as
      // one 2 KiB piece taking the three in.
      let length = 0;
      while (record('user', 'u'.repeat(length), 1).length < 512) length++;
      const unit = (t: number) => record('user', 'u'.repeat(length), t);
      expect(unit(0).length).toBe(512);
      // An empty session is counted 258 bytes here: with three units, 1 794.
      const { store } = makeStore({ maxBytes: 1_800 });
      store.create(A, null, []);
      for (let t = 0; t < 3; t++) store.append(A, unit(t));
      const held = store.heldBytes;
      expect(failureCode(() => store.append(A, unit(3)))).toBe('ERR_CAPACITY');
      expect(store.heldBytes).toBe(held);
      expect(store.read(A, -1)!.context.map((m) => m.timestamp)).toEqual([0, 1, 2]);
      store.removeDecoded(A);
      expect(store.heldBytes).toBe(0);
    });

    it('refuses a create, and an update that grows a session, once the budget is spent', () => {
      // An empty session is counted about 260 bytes: two fit in 600, a third does not.
      const { store } = makeStore({ maxBytes: 600 });
      store.create(A, null, []);
      store.create(B, null, []);
      expect(failureCode(() => store.create(C, null, []))).toBe('ERR_CAPACITY');
      expect(store.size).toBe(2);
      expect(failureCode(() => store.updateFields(A, true, { note: 'z'.repeat(600) } as ClientCapabilities, false, []))).toBe('ERR_CAPACITY');
      expect(store.read(A, -1)!.clientCapabilities).toBeNull();
    });

    it('gives the bytes back when sessions are removed or expire, so the shard takes work again', () => {
      const { store, clock } = makeStore({ maxBytes: 1_000 });
      store.create(A, null, []);
      store.create(B, null, []);
      store.removeDecoded(A);
      store.create(C, null, []);
      clock.advance(TTL + 1);
      store.sweep();
      expect(store.size).toBe(0);
      expect(store.heldBytes).toBe(0);
      store.create(A, null, []);
      store.append(A, record('assistant', 'w'.repeat(300), 1));
      expect(store.read(A, -1)!.context).toHaveLength(1);
    });
  });

  describe('update, touch, remove, list', () => {
    it('update replaces only the fields it is told to set', () => {
      const { store } = makeStore();
      store.create(A, { terminal: true }, ['a']);
      store.updateFields(A, false, null, true, ['b', 'c']);
      expect(store.read(A, -1)).toMatchObject({ clientCapabilities: { terminal: true }, mcpServers: ['b', 'c'] });
      store.updateFields(A, true, null, false, []);
      expect(store.read(A, -1)).toMatchObject({ clientCapabilities: null, mcpServers: ['b', 'c'] });
    });

    it('update of an unknown id fails with ERR_SESSION_NOT_FOUND', () => {
      const { store } = makeStore();
      expect(failureCode(() => store.updateFields(A, true, null, false, []))).toBe('ERR_SESSION_NOT_FOUND');
    });

    it('touch answers whether the session exists', () => {
      const { store } = makeStore();
      store.create(A, null, []);
      expect(store.touch(A)).toBe(true);
      expect(store.touch(B)).toBe(false);
    });

    it('remove returns the session as it was and forgets it and its messages', () => {
      const { store } = makeStore();
      store.create(A, null, []);
      store.append(A, record('user', 'x', 1));
      const removed = store.removeDecoded(A);
      expect(removed?.context).toEqual([{ id: 'm1', role: 'user', content: 'x', timestamp: 1 }]);
      expect(store.removeDecoded(A)).toBeUndefined();
      expect(store.size).toBe(0);
      expect(store.messageCount).toBe(0);
    });

    it('list returns ascending ids, after an id (exclusive), at most limit', () => {
      const { store } = makeStore();
      for (const id of [C, A, B]) store.create(id, null, []);
      expect(store.list(null, -1)).toEqual([A, B, C]);
      expect(store.list(A, -1)).toEqual([B, C]);
      expect(store.list(null, 2)).toEqual([A, B]);
      expect(store.list(null, 0)).toEqual([]);
    });
  });

  describe('idle expiry', () => {
    it('keeps a session idle for exactly maxSessionAgeMs', () => {
      const { store, clock } = makeStore();
      store.create(A, null, []);
      clock.advance(TTL);
      expect(store.read(A, -1)).toBeDefined();
    });

    it('never returns a session idle longer than maxSessionAgeMs, even before a sweep', () => {
      const { store, clock } = makeStore();
      store.create(A, null, []);
      clock.advance(TTL + 1);
      expect(store.read(A, -1)).toBeUndefined();
    });

    it('refuses to change an expired session before a sweep (append and update fail ERR_SESSION_NOT_FOUND)', () => {
      const { store, clock } = makeStore();
      store.create(A, null, []);
      store.create(B, null, []);
      clock.advance(TTL + 1);
      expect(failureCode(() => store.append(A, record('user', 'late', 1)))).toBe('ERR_SESSION_NOT_FOUND');
      expect(failureCode(() => store.updateFields(B, true, null, false, []))).toBe('ERR_SESSION_NOT_FOUND');
    });

    it('touch and remove of an expired session answer false / undefined', () => {
      const { store, clock } = makeStore();
      store.create(A, null, []);
      store.create(B, null, []);
      clock.advance(TTL + 1);
      expect(store.touch(A)).toBe(false);
      expect(store.removeDecoded(B)).toBeUndefined();
    });

    it('list leaves out expired sessions', () => {
      const { store, clock } = makeStore();
      store.create(A, null, []);
      clock.advance(TTL);
      store.create(B, null, []);
      clock.advance(1);
      expect(store.list(null, -1)).toEqual([B]);
    });

    it('an access resets the idle clock', () => {
      const { store, clock } = makeStore();
      store.create(A, null, []);
      for (let i = 0; i < 5; i++) {
        clock.advance(TTL - 1);
        expect(store.touch(A)).toBe(true);
      }
      expect(store.read(A, -1)).toBeDefined();
    });

    it('sweep removes exactly the sessions idle too long and returns how many', () => {
      const { store, clock } = makeStore();
      store.create(A, null, []);
      store.create(B, null, []);
      store.append(B, record('user', 'x', 1));
      clock.advance(TTL / 2);
      store.create(C, null, []);
      clock.advance(TTL / 2 + 1);
      expect(store.sweep()).toBe(2);
      expect(store.size).toBe(1);
      expect(store.messageCount).toBe(0);
      expect(store.read(C, -1)).toBeDefined();
      expect(store.sweep()).toBe(0);
    });

    it('reports every expired id exactly once, whether found by an access or by a sweep', () => {
      const { store, clock } = makeStore();
      for (const id of [A, B, C]) store.create(id, null, []);
      clock.advance(TTL + 1);
      expect(store.read(A, -1)).toBeUndefined();
      expect(store.read(A, -1)).toBeUndefined();
      expect(store.drainExpired()).toEqual([A]);
      expect(store.sweep()).toBe(2);
      expect(store.drainExpired()?.sort()).toEqual([B, C]);
      expect(store.sweep()).toBe(0);
      expect(store.drainExpired()).toBeNull();
    });

    it('a sliced sweep (sweepStep with a zero budget) finishes and removes every expired session', () => {
      const { store, clock } = makeStore();
      const ids: string[] = [];
      for (let i = 0; i < 5_000; i++) {
        const id = `01J${i.toString(32).toUpperCase().padStart(23, '0')}`;
        ids.push(id);
        store.create(id, null, []);
      }
      clock.advance(TTL + 1);
      store.restartSweep();
      // A timer that advances on every look: each step stops after its first check.
      let fakeNow = 0;
      const timer = () => (fakeNow += 10);
      let steps = 1;
      while (!store.sweepStep(0, timer)) steps++;
      expect(steps).toBeGreaterThan(1);
      expect(store.takeSweepRemoved()).toBe(5_000);
      expect(store.size).toBe(0);
      expect(new Set(store.drainExpired()).size).toBe(5_000);
    });

    it('a sliced sweep tolerates creates and removes between its steps', () => {
      const { store, clock } = makeStore();
      for (let i = 0; i < 3_000; i++) store.create(`01J${i.toString(32).toUpperCase().padStart(23, '0')}`, null, []);
      clock.advance(TTL + 1);
      store.restartSweep();
      let fakeNow = 0;
      const timer = () => (fakeNow += 10);
      expect(store.sweepStep(0, timer)).toBe(false);
      store.create(A, null, []); // fresh: must survive
      expect(store.removeDecoded(`01J${(2_999).toString(32).toUpperCase().padStart(23, '0')}`)).toBeUndefined(); // expired on access
      while (!store.sweepStep(0, timer)) {
        // continue
      }
      expect(store.size).toBe(1);
      expect(store.read(A, -1)).toBeDefined();
      const expired = store.drainExpired()!;
      expect(expired).toHaveLength(3_000);
      expect(new Set(expired).size).toBe(3_000);
    });
  });
});
