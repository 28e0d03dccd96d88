/**
 * A shard's sessions by id: a slot table keyed by 30 bits of the id's random part, not by the id string,
 * pointing at the sessions' rows (`session-rows.ts`).
 *
 * Why: the ids a shard looks up are fresh strings decoded from a batch, and hashing and comparing them
 * against cold stored strings is what a `Map` lookup costs (docs/design/code-notes.md). Keyed by a number,
 * with the rest of the id compared as four more numbers in the row, a lookup touches no string but the one
 * it reads the numbers from, and one row.
 *
 * Two ids can share a key (about n²/2³¹ pairs among n sessions: ~230 at a million): the probe goes on to
 * the next slot with that key. Ids that are not canonical (only tests make those) are kept by id string.
 */
import type { SessionId } from '../../protocol/model.js';
import type { SessionRows } from './session-rows.js';
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

const EMPTY = -1;
const INITIAL_SLOTS = 2_048;

export class SessionIndex {
  /**
   * Open addressing with linear probing: slot s is `[key, row]` at `2s` and `2s + 1`, `key` -1 when empty.
   * The key beside the row lets a probe skip other sessions without reading their rows.
   */
  private slots = new Int32Array(INITIAL_SLOTS * 2).fill(EMPTY);
  private mask = INITIAL_SLOTS - 1;
  private keyed = 0;
  /** Sessions with ids that are not canonical (only tests make those). */
  private readonly byId = new Map<SessionId, StoredSession>();

  /** `rows`: where the sessions added live (`StoredSession.rows`). */
  constructor(readonly rows: SessionRows) {}

  get size(): number {
    return this.keyed + this.byId.size;
  }

  /** The row of the session with this id, or -1. */
  rowOf(id: SessionId): number {
    if (!readIdParts(id, wanted)) return this.byId.size === 0 ? -1 : (this.byId.get(id)?.row ?? -1);
    const { slots, mask } = this;
    const { rows } = this;
    const key = wanted.idPart3;
    for (let slot = key & mask; ; slot = (slot + 1) & mask) {
      const found = slots[slot * 2]!;
      if (found === EMPTY) return -1;
      if (found !== key) continue;
      const row = slots[slot * 2 + 1]!;
      if (rows.holdsId(row, wanted)) {
        return row;
      }
    }
  }

  get(id: SessionId): StoredSession | undefined {
    const row = this.rowOf(id);
    return row < 0 ? undefined : this.rows.sessions[row];
  }

  /** Adds a session of these rows whose id is not in the index. */
  add(session: StoredSession): void {
    if (session.idPart3 < 0) {
      this.byId.set(session.id, session);
      return;
    }
    // At most half full: probes stay short.
    if ((this.keyed + 1) * 2 > this.mask + 1) this.resize((this.mask + 1) * 2);
    this.insert(session.idPart3, session.row);
    this.keyed++;
  }

  delete(session: StoredSession): void {
    if (session.idPart3 < 0) {
      this.byId.delete(session.id);
      return;
    }
    const { slots, mask } = this;
    const { row, idPart3: key } = session;
    let hole = key & mask;
    while (slots[hole * 2 + 1] !== row || slots[hole * 2] !== key) {
      if (slots[hole * 2] === EMPTY) return;
      hole = (hole + 1) & mask;
    }
    // Backward shift: an entry after the hole moves into it when the hole lies between its home slot and
    // it, so that no probe meets an empty slot before the entry it looks for.
    for (let next = (hole + 1) & mask; slots[next * 2] !== EMPTY; next = (next + 1) & mask) {
      const home = slots[next * 2]! & mask;
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        slots[hole * 2] = slots[next * 2]!;
        slots[hole * 2 + 1] = slots[next * 2 + 1]!;
        hole = next;
      }
    }
    slots[hole * 2] = EMPTY;
    this.keyed--;
  }

  private insert(key: number, row: number): void {
    const { slots, mask } = this;
    let slot = key & mask;
    while (slots[slot * 2] !== EMPTY) slot = (slot + 1) & mask;
    slots[slot * 2] = key;
    slots[slot * 2 + 1] = row;
  }

  private resize(slotCount: number): void {
    const old = this.slots;
    this.slots = new Int32Array(slotCount * 2).fill(EMPTY);
    this.mask = slotCount - 1;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== EMPTY) this.insert(old[i]!, old[i + 1]!);
  }
}
