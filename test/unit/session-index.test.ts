import { describe, expect, it } from 'vitest';
import { LogArena } from '../../src/shard/log-arena.js';
import { idPartsOf, readIdParts, SessionIndex } from '../../src/shard/session-index.js';
import { encodeCapabilities, encodeServers, newStoredSession, type StoredSession } from '../../src/shard/stored-session.js';

function session(id: string): StoredSession {
  return newStoredSession(new LogArena(), id, 1_000, encodeCapabilities(null), encodeServers([]));
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
  it('finds every session by its id, given as a fresh string, and nothing else', () => {
    const index = new SessionIndex();
    const ids = Array.from({ length: 1_000 }, (_, n) => `01J${crockford(n * 7_919).padStart(23, '0')}`);
    for (const id of ids) index.add(session(id));
    expect(index.size).toBe(ids.length);
    for (const id of ids) expect(index.get(fresh(id))?.id).toBe(id);
    expect(index.get('01JZZZZZZZZZZZZZZZZZZZZZZZ')).toBeUndefined();
  });

  it('keeps ids that share a key apart, and finds each after another goes', () => {
    const index = new SessionIndex();
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
    expect([...index.values()].map((s) => s.id).sort()).toEqual([SHARED_KEY[0], SHARED_KEY[1]]);
    expect(index.size).toBe(2);
  });

  it('keeps an id that is not canonical under that exact string, and never matches another spelling', () => {
    const index = new SessionIndex();
    index.add(session('not-a-ulid'));
    index.add(session('01JAAAAAAAAAAAAAAAAAAAAAAA'));
    expect(index.get(fresh('not-a-ulid'))?.id).toBe('not-a-ulid');
    expect(index.get('01jaaaaaaaaaaaaaaaaaaaaaaa')).toBeUndefined();
    expect(index.get('not-a-ulid ')).toBeUndefined();
  });

  it('visits every session once while sessions are deleted and added during the visit', () => {
    const index = new SessionIndex();
    const ids = ['01JAAAAAAAAAAAAAAAAAAAAAA1', '01JAAAAAAAAAAAAAAAAAAAAAA2', ...SHARED_KEY, 'not-canonical'];
    const sessions = new Map(ids.map((id) => [id, session(id)]));
    for (const s of sessions.values()) index.add(s);
    const seen: string[] = [];
    for (const s of index.values()) {
      seen.push(s.id);
      if (s.id === ids[0]) index.delete(sessions.get(ids[1]!)!);
      if (s.id === ids[2]) index.add(session('01JAAAAAAAAAAAAAAAAAAAAAA3'));
    }
    expect(seen.sort()).toEqual([...ids.filter((id) => id !== ids[1]), '01JAAAAAAAAAAAAAAAAAAAAAA3'].sort());
  });

  it('reads only canonical ids: 26 upper-case Crockford characters, the first 0-7', () => {
    const parts = idPartsOf('01JAAAAAAAAAAAAAAAAAAAAAAA');
    for (const id of ['01JAAAAAAAAAAAAAAAAAAAAAAA', '7ZZZZZZZZZZZZZZZZZZZZZZZZZ', '00000000000000000000000000']) expect(readIdParts(id, parts), id).toBe(true);
    for (const id of ['01jaaaaaaaaaaaaaaaaaaaaaaa', '01JAAAAAAAAAAAAAAAAAAAAAAI', '01JAAAAAAAAAAAAAAAAAAAAAAU', '8ZZZZZZZZZZZZZZZZZZZZZZZZZ', '01JAAAAAAAAAAAAAAAAAAAAAA', '01JAAAAAAAAAAAAAAAAAAAAAAAA', '01JAAAAAAAAAAAAAAAAAAAAAAé']) {
      expect(readIdParts(id, parts), id).toBe(false);
    }
    expect(idPartsOf('nope')).toEqual({ idPart0: -1, idPart1: -1, idPart2: -1, idPart3: -1, idPart4: -1 });
  });
});
