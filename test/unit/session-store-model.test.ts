/**
 * SessionStore against a plain model: with rows given back and taken again, pieces merged and released,
 * and sessions expiring, every read returns exactly what the model holds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode } from '../../src/protocol/codec.js';
import { encodeMessageRecord } from '../../src/protocol/message-record.js';
import type { Session } from '../../src/protocol/model.js';
import { MsgpackWriter } from '../../src/protocol/msgpack-writer.js';
import { SessionStore } from '../../src/shard/memory/session-store.js';
import { encodeCapabilities, encodeServers } from '../../src/protocol/encoded-fields.js';
import { writeSession } from '../../src/shard/memory/stored-session.js';

const TTL = 100;
const idOf = (n: number) => `01JM${String(n).padStart(22, '0')}`;

interface Held {
  contents: string[];
  lastAccessed: number;
}

function read(store: SessionStore, id: string, lastMessages: number): Session | undefined {
  const session = store.get(id);
  if (session === undefined) return undefined;
  const writer = new MsgpackWriter(16);
  // The newest `lastMessages` (all when negative), as a read of that window asks.
  const count = lastMessages < 0 ? session.messageCount : Math.min(lastMessages, session.messageCount);
  writeSession(writer, session, session.messageCount - count, count);
  return decode(writer.finish()) as Session;
}

describe('SessionStore against a model', () => {
  it('reads back what the model holds through creates, appends, removes, expiry and sweeps', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('create' as const), n: fc.nat(11) }),
      fc.record({ kind: fc.constant('append' as const), n: fc.nat(11), size: fc.nat(700) }),
      fc.record({ kind: fc.constant('remove' as const), n: fc.nat(11) }),
      fc.record({ kind: fc.constant('read' as const), n: fc.nat(11), last: fc.integer({ min: -1, max: 40 }) }),
      fc.record({ kind: fc.constant('wait' as const), ms: fc.nat(60) }),
      fc.record({ kind: fc.constant('sweep' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 100, maxLength: 400 }), (ops) => {
        let now = 1_000;
        const store = new SessionStore({ maxSessionAgeMs: TTL, maxMessagesPerSession: 10_000, maxBytes: Number.MAX_SAFE_INTEGER }, () => now);
        const model = new Map<string, Held>();
        const live = (id: string): Held | undefined => {
          const held = model.get(id);
          if (held !== undefined && now - held.lastAccessed > TTL) {
            model.delete(id);
            return undefined;
          }
          return held;
        };
        let serial = 0;
        for (const step of ops) {
          if (step.kind === 'wait') {
            now += step.ms;
            continue;
          }
          if (step.kind === 'sweep') {
            store.sweep();
            for (const id of [...model.keys()]) live(id);
            expect(store.size).toBe(model.size);
            continue;
          }
          const id = idOf(step.n);
          const held = live(id);
          if (step.kind === 'create') {
            if (held !== undefined) continue;
            store.create(id, encodeCapabilities(null), encodeServers([]));
            model.set(id, { contents: [], lastAccessed: now });
          } else if (step.kind === 'append') {
            if (held === undefined) continue;
            const content = `${serial++} ${'x'.repeat(step.size)}`;
            expect(store.append(id, encodeMessageRecord({ id: `m${serial}`, role: 'user', content, timestamp: serial, metadata: null }))).toBe(
              held.contents.length + 1,
            );
            held.contents.push(content);
            held.lastAccessed = now;
          } else if (step.kind === 'remove') {
            expect(store.remove(id) !== undefined).toBe(held !== undefined);
            model.delete(id);
          } else {
            const session = read(store, id, step.last);
            if (held === undefined) {
              expect(session).toBeUndefined();
              continue;
            }
            held.lastAccessed = now;
            const wanted = step.last < 0 ? held.contents : held.contents.slice(Math.max(0, held.contents.length - step.last));
            expect(session?.context.map((m) => m.content)).toEqual(wanted);
            expect(session?.length).toBe(held.contents.length);
            expect(session?.lastAccessed).toBe(now);
          }
        }
        for (const [id, held] of model) {
          if (live(id) === undefined) continue;
          expect(read(store, id, -1)?.context.map((m) => m.content)).toEqual(held.contents);
        }
      }),
      { numRuns: 200 },
    );
  });
});
