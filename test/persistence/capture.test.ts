/**
 * SessionStore.capture(): what a snapshot written while the shard keeps serving sees is the state at
 * the moment the capture began, whatever changes in between.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeMessageRecord } from '../../src/protocol/message-record.js';
import { SessionStore } from '../../src/shard/memory/session-store.js';
import { serialiseStoredSession, type StoredSession } from '../../src/shard/memory/stored-session.js';

const NULL = Uint8Array.of(0xc0);
const EMPTY = Uint8Array.of(0x90);
const idOf = (n: number) => `01JD${String(n).padStart(22, '0')}`;

/** A session as a snapshot writes it, log as hex. Read at once, as a snapshot writer reads them: a
 * capture's copies share log pieces that the arena may hand out again once the capture has ended, and
 * each copy's row goes to the next copy at the next step. */
function viewOf(session: StoredSession): Record<string, unknown> {
  const record = serialiseStoredSession(session);
  return { ...record, log: Buffer.from(record.log as Uint8Array).toString('hex') };
}

function sorted(views: Record<string, unknown>[]): Record<string, unknown>[] {
  return views.sort((a, b) => String(a.id).localeCompare(String(b.id)));
}

function view(sessions: Iterable<StoredSession>): Record<string, unknown>[] {
  return sorted(Array.from(sessions, viewOf));
}

describe('SessionStore.capture()', () => {
  it('yields the state at its start while sessions are changed, removed, expired and created during it', () => {
    const op = fc.tuple(fc.constantFrom('append', 'update', 'touch', 'get', 'remove', 'create', 'sweep', 'step'), fc.nat(40));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 30 }), fc.array(op, { maxLength: 80 }), (initial, ops) => {
        let now = 1_000;
        const store = new SessionStore({ maxSessionAgeMs: 50, maxMessagesPerSession: 1_000, maxBytes: Number.MAX_SAFE_INTEGER }, () => now);
        for (let i = 0; i < initial; i++) {
          store.create(idOf(i), NULL, EMPTY);
          store.append(idOf(i), encodeMessageRecord({ id: `first-${i}`, role: 'user', content: `first ${i}`, timestamp: 1, metadata: null }));
          now += 1;
        }
        // What a capture read through at once sees.
        const expected = view(store.capture());
        const capture = store.capture()[Symbol.iterator]();
        const seen: Record<string, unknown>[] = [];
        let next = initial;
        for (const [kind, n] of ops) {
          now += 3;
          const id = idOf(n % Math.max(1, next));
          try {
            if (kind === 'append') {
              const content = `later ${n} ${'x'.repeat(n * 20)}`;
              store.append(id, encodeMessageRecord({ id: `later-${now}`, role: 'assistant', content, timestamp: 2, metadata: null }));
            } else if (kind === 'update') store.update(id, Uint8Array.of(0x80), null);
            else if (kind === 'touch') store.touch(id);
            else if (kind === 'get') store.get(id);
            else if (kind === 'remove') store.remove(id);
            else if (kind === 'create') store.create(idOf(next++), NULL, EMPTY);
            else if (kind === 'sweep') store.sweep();
            else {
              const step = capture.next();
              if (!step.done) seen.push(viewOf(step.value));
            }
          } catch {
            // unknown or expired ids: nothing changed
          }
        }
        for (let step = capture.next(); !step.done; step = capture.next()) seen.push(viewOf(step.value));
        expect(sorted(seen)).toEqual(expected);
        // The capture ended: another may begin.
        expect(() => store.capture()).not.toThrow();
      }),
      // seed -1125506319 (path 49:7:11:11:13:14:18:19:24) once failed when the copies were read after the
      // capture had ended: an append then reused a removed session's released piece.
      { numRuns: 300 },
    );
  });

  it("keeps a removed session's messages for the capture, and its memory from other sessions until the capture ends", () => {
    const store = new SessionStore({ maxSessionAgeMs: 50, maxMessagesPerSession: 100, maxBytes: Number.MAX_SAFE_INTEGER }, () => 0);
    store.create(idOf(1), NULL, EMPTY);
    for (let i = 0; i < 10; i++)
      store.append(idOf(1), encodeMessageRecord({ id: `old-${i}`, role: 'user', content: `old ${i} ${'o'.repeat(300)}`, timestamp: i, metadata: null }));
    const expected = view(store.capture());
    const inUse = store.arena.bytesInUse;
    const capture = store.capture()[Symbol.iterator]();
    store.remove(idOf(1));
    // Without the hold-back, this session would write over the removed one's blocks.
    store.create(idOf(2), NULL, EMPTY);
    for (let i = 0; i < 10; i++)
      store.append(idOf(2), encodeMessageRecord({ id: `new-${i}`, role: 'assistant', content: `new ${i} ${'n'.repeat(300)}`, timestamp: i, metadata: null }));
    // The removed session's pieces still count as taken: the new session's log is in other pieces.
    expect(store.arena.bytesInUse).toBeGreaterThanOrEqual(2 * inUse);
    const seen: Record<string, unknown>[] = [];
    for (let step = capture.next(); !step.done; step = capture.next()) seen.push(viewOf(step.value));
    expect(sorted(seen)).toEqual(expected);
    expect(store.arena.bytesFree).toBeGreaterThanOrEqual(inUse);
    store.remove(idOf(2));
    expect(store.arena.bytesInUse).toBe(0);
  });

  it('refuses a second capture while one is in progress', () => {
    const store = new SessionStore({ maxSessionAgeMs: 50, maxMessagesPerSession: 10, maxBytes: Number.MAX_SAFE_INTEGER }, () => 0);
    store.create(idOf(1), NULL, EMPTY);
    const iterator = store.capture()[Symbol.iterator]();
    iterator.next();
    expect(() => store.capture()).toThrow(/in progress/);
    iterator.return?.();
    expect(() => store.capture()).not.toThrow();
  });
});
