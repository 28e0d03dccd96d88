/**
 * A shard's sessions by id: a `Map` keyed by 30 bits of the id's random part, not by the id string.
 *
 * Measured (100 000 sessions, ids decoded by the codec from batches, as a shard gets them): a `Map` keyed
 * by the id string took 530-650 ns a lookup, this index 310-330 ns. The same `Map` took 220 ns when the
 * key was the very string stored, so the cost is hashing and comparing a fresh string against cold ones.
 * Keyed by a number, with the rest of the id compared as four more numbers kept in the session object
 * (already in cache once it is found), a lookup touches no string but the one it reads the numbers from.
 *
 * Two ids can share a key (about n²/2³¹ pairs among n sessions: ~230 at a million); the second goes to
 * a small `Map` by id string, as does any id that is not canonical (only tests make those).
 */
import type { SessionId } from '../protocol/model.js';
import type { StoredSession } from './stored-session.js';

/** The numbers an id is read into (`readIdParts`); -1 in each when the id is not canonical. */
export interface IdParts {
  idPart0: number;
  idPart1: number;
  idPart2: number;
  /** The index key: characters 18-23, all random bits. */
  idPart3: number;
  idPart4: number;
}

/** The fields of `IdParts`. */
export const ID_PART_KEYS = Object.freeze(['idPart0', 'idPart1', 'idPart2', 'idPart3', 'idPart4'] as const);

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < CROCKFORD.length; i++) DIGIT[CROCKFORD.charCodeAt(i)] = i;

/** Characters 0-5, 6-11, 12-17, 18-23 and 24-25 as base-32 numbers (at most 30 bits: Smis). */
function digits(id: string, from: number, to: number): number {
  let value = 0;
  for (let i = from; i < to; i++) {
    const code = id.charCodeAt(i);
    const digit = code < 128 ? DIGIT[code]! : -1;
    if (digit < 0) return -1;
    value = (value << 5) | digit;
  }
  return value;
}

const NOT_CANONICAL: IdParts = Object.freeze({ idPart0: -1, idPart1: -1, idPart2: -1, idPart3: -1, idPart4: -1 });

/** Reads a canonical id (26 Crockford base-32 characters, upper case, the first 0-7) into `into`; false if it is not one. */
export function readIdParts(id: string, into: IdParts): boolean {
  if (id.length !== 26 || id.charCodeAt(0) > 0x37) return false;
  into.idPart0 = digits(id, 0, 6);
  into.idPart1 = digits(id, 6, 12);
  into.idPart2 = digits(id, 12, 18);
  into.idPart3 = digits(id, 18, 24);
  into.idPart4 = digits(id, 24, 26);
  return (into.idPart0 | into.idPart1 | into.idPart2 | into.idPart3 | into.idPart4) >= 0;
}

/** The parts of `id` for a new session (all -1 when it is not canonical). */
export function idPartsOf(id: string): IdParts {
  const parts = { ...NOT_CANONICAL };
  return readIdParts(id, parts) ? parts : { ...NOT_CANONICAL };
}

/** Scratch parts of the id being looked up: lookups are synchronous, one at a time. */
const wanted: IdParts = { ...NOT_CANONICAL };

export class SessionIndex {
  /** The first session to claim each key. */
  private readonly byKey = new Map<number, StoredSession>();
  /** Sessions whose key another held first, and sessions with ids that are not canonical. */
  private readonly byId = new Map<SessionId, StoredSession>();

  get size(): number {
    return this.byKey.size + this.byId.size;
  }

  get(id: SessionId): StoredSession | undefined {
    if (readIdParts(id, wanted)) {
      const session = this.byKey.get(wanted.idPart3);
      if (
        session !== undefined &&
        session.idPart0 === wanted.idPart0 &&
        session.idPart1 === wanted.idPart1 &&
        session.idPart2 === wanted.idPart2 &&
        session.idPart4 === wanted.idPart4
      ) {
        return session;
      }
    }
    return this.byId.size === 0 ? undefined : this.byId.get(id);
  }

  /** Adds a session whose id is not in the index. */
  add(session: StoredSession): void {
    if (session.idPart3 >= 0 && !this.byKey.has(session.idPart3)) this.byKey.set(session.idPart3, session);
    else this.byId.set(session.id, session);
  }

  delete(session: StoredSession): void {
    if (this.byKey.get(session.idPart3) === session) this.byKey.delete(session.idPart3);
    else this.byId.delete(session.id);
  }

  /** Every session; like a `Map`'s, the iterator survives sessions added and deleted meanwhile. */
  values(): IterableIterator<StoredSession> {
    return new Sessions(this.byKey.values(), this.byId.values());
  }
}

/**
 * The two maps' iterators one after the other. Not a generator: a sweep steps through a million
 * sessions, and a generator's own result objects would double the garbage each step leaves.
 */
class Sessions implements IterableIterator<StoredSession> {
  constructor(
    private current: IterableIterator<StoredSession>,
    private rest: IterableIterator<StoredSession> | null,
  ) {}

  next(): IteratorResult<StoredSession> {
    let result = this.current.next();
    if (result.done === true && this.rest !== null) {
      this.current = this.rest;
      this.rest = null;
      result = this.current.next();
    }
    return result;
  }

  [Symbol.iterator](): IterableIterator<StoredSession> {
    return this;
  }
}
