import { describe, expect, it } from 'vitest';
import { LogArena } from '../../src/shard/memory/log-arena.js';
import { idPartsOf, readIdParts, SessionIndex } from '../../src/shard/memory/session-index.js';
import { SessionRows } from '../../src/shard/memory/session-rows.js';
import { encodeCapabilities, encodeServers } from '../../src/protocol/encoded-fields.js';
import { newStoredSession, releaseStoredSession, type StoredSession } from '../../src/shard/memory/stored-session.js';

const rows = new SessionRows();
const arena = new LogArena();

function session(id: string): StoredSession {
  return newStoredSession(rows, arena, id, 1_000, encodeCapabilities(null), encodeServers([]));
}

function crockford(n: number): string {
  let digits = '';
  do {
    digits = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'[n % 32]! + digits;
    n = Math.floor(n / 32);
  } while (n > 0);
  return digits;
}

/** A copy that is not the same string object, as a decoded batch delivers it. */
function fresh(id: string): string {
  return Buffer.from(id, 'latin1').toString('latin1');
}

// Same characters 18-23 (the index key), different elsewhere.
const SHARED_KEY = ['01JAAAAAAAAAAAAAAAKEYKEYAA', '01JBBBBBBBBBBBBBBBKEYKEYBB', '7ZZZZZZZZZZZZZZZZZKEYKEYZZ'];

describe('the index of a shard’s sessions', () => {
  it('finds every session by its id, given as a fresh string, and nothing else, as the table grows', () => {
    const index = new SessionIndex(rows);
    const ids = Array.from({ length: 5_000 }, (_, n) => `01J${crockford(n * 7_919).padStart(23, '0')}`);
    for (const id of ids) index.add(session(id));
    expect(index.size).toBe(ids.length);
    for (const id of ids) expect(index.get(fresh(id))?.id).toBe(id);
    expect(index.get('01JZZZZZZZZZZZZZZZZZZZZZZZ')).toBeUndefined();
  });

  it('keeps ids that share a key apart, and finds each after another goes', () => {
    const index = new SessionIndex(rows);
    const sessions = SHARED_KEY.map(session);
    expect(new Set(sessions.map((s) => s.idPart3)).size).toBe(1);
    for (const s of sessions) index.add(s);
    for (const id of SHARED_KEY) expect(index.get(fresh(id))?.id).toBe(id);
    index.delete(sessions[0]!);
    expect(index.get(SHARED_KEY[0]!)).toBeUndefined();
    expect(index.get(SHARED_KEY[1]!)?.id).toBe(SHARED_KEY[1]);
    expect(index.get(SHARED_KEY[2]!)?.id).toBe(SHARED_KEY[2]);
    index.add(sessions[0]!);
    index.delete(sessions[2]!);
    expect(index.get(SHARED_KEY[0]!)?.id).toBe(SHARED_KEY[0]);
    expect(index.get(SHARED_KEY[1]!)?.id).toBe(SHARED_KEY[1]);
    expect(index.get(SHARED_KEY[2]!)).toBeUndefined();
    expect(index.size).toBe(2);
  });

  it('keeps an id that is not canonical under that exact string, and never matches another spelling', () => {
    const index = new SessionIndex(rows);
    index.add(session('not-a-ulid'));
    index.add(session('01JAAAAAAAAAAAAAAAAAAAAAAA'));
    expect(index.get(fresh('not-a-ulid'))?.id).toBe('not-a-ulid');
    expect(index.get('01jaaaaaaaaaaaaaaaaaaaaaaa')).toBeUndefined();
    expect(index.get('not-a-ulid ')).toBeUndefined();
  });

  it('finds what a model Map finds through random adds and deletes, with ids crowding few slots', () => {
    // Keys from a small set near the end of the table, so that probes run long, wrap around, and deletions shift entries back.
    const index = new SessionIndex(rows);
    const model = new Map<string, StoredSession>();
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
      return seed % n;
    };
    const idOf = (n: number): string =>
      `01J${crockford(n % 50).padStart(9, '0')}000000${crockford(1_990 + ((n * 31) % 97)).padStart(6, '0')}${crockford(n).padStart(2, '0').slice(-2)}`
        .slice(0, 26)
        .padEnd(26, '0');
    for (let step = 0; step < 20_000; step++) {
      const id = idOf(random(600));
      const held = model.get(id);
      if (held === undefined) {
        const added = session(id);
        index.add(added);
        model.set(id, added);
      } else if (random(3) === 0) {
        index.delete(held);
        releaseStoredSession(held);
        model.delete(id);
      }
      const probe = idOf(random(600));
      expect(index.get(fresh(probe))).toBe(model.get(probe));
    }
    expect(index.size).toBe(model.size);
    for (const [id, held] of model) expect(index.get(fresh(id))).toBe(held);
  });

  it('reads only canonical ids: 26 upper-case Crockford characters, the first 0-7', () => {
    const parts = idPartsOf('01JAAAAAAAAAAAAAAAAAAAAAAA');
    for (const id of ['01JAAAAAAAAAAAAAAAAAAAAAAA', '7ZZZZZZZZZZZZZZZZZZZZZZZZZ', '00000000000000000000000000']) expect(readIdParts(id, parts), id).toBe(true);
    for (const id of [
      '01jaaaaaaaaaaaaaaaaaaaaaaa',
      '01JAAAAAAAAAAAAAAAAAAAAAAI',
      '01JAAAAAAAAAAAAAAAAAAAAAAU',
      '8ZZZZZZZZZZZZZZZZZZZZZZZZZ',
      '01JAAAAAAAAAAAAAAAAAAAAAA',
      '01JAAAAAAAAAAAAAAAAAAAAAAAA',
      '01JAAAAAAAAAAAAAAAAAAAAAAé',
    ]) {
      expect(readIdParts(id, parts), id).toBe(false);
    }
    expect(idPartsOf('nope')).toEqual({ idPart0: -1, idPart1: -1, idPart2: -1, idPart3: -1, idPart4: -1 });
  });
});
