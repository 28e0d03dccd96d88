/**
 * The hot state of a shard's sessions, a row of 64 bytes each in one typed array: what finding a session
 * by id and appending to it read and write. The session objects keep the rest (`stored-session.ts`).
 *
 * Why rows: with many sessions nothing of a session is in cache when a batch reaches it, and each object
 * an operation touches is a cache and TLB miss; a row keeps what an append reads in one place (the
 * measurements: docs/design/how-it-works.md). This module owns the layout: everyone else reads and writes
 * a row through the accessors below.
 *
 * Rows never move: a freed row is reused, and growing copies the rows to the same numbers.
 */
import type { IdParts } from './session-index.js';
import type { StoredSession } from './stored-session.js';

/** Int32 slots of a row (index `row * ROW_INTS + slot`). */
const ID_PART0 = 0;
const ID_PART1 = 1;
const ID_PART2 = 2;
/** The index key: characters 18-23 of the id, all random bits (`session-index.ts`). */
const ID_PART3 = 3;
const ID_PART4 = 4;
const MESSAGE_COUNT = 5;
/** The handle of the log's last piece (the one an append writes into); -1 when the log has none. */
const LAST_PIECE = 6;
/** Three slots: the handles of the log's newest unit pieces, oldest first, -1 in those unused. */
const TAIL_PIECES = 7;
/** How many tail slots a row has. */
export const TAIL_SLOTS = 3;
/** The bytes of the log's records (read through `u32`: up to 2^32 - 1). */
const LOG_BYTES = 10;
/** The bytes left in the log's last piece. */
const LOG_ROOM = 11;
const ROW_INTS = 16;

/** Float64 slots of a row (index `row * ROW_DOUBLES + slot`), after the int32 ones. */
const LAST_ACCESSED = 6;
const UPDATED_AT = 7;
const ROW_DOUBLES = 8;

const ROW_BYTES = ROW_INTS * 4;
const INITIAL_ROWS = 1_024;

/**
 * Rows for the sessions of one store (or of one capture's copies), handed out and taken back by number.
 * The three views share one buffer and are replaced when it grows: read them from here, never keep them.
 */
export class SessionRows {
  i32: Int32Array;
  /** The same rows, for `LOG_BYTES`. */
  u32: Uint32Array;
  f64: Float64Array;
  /** The session each row belongs to; `undefined` for a free row. */
  readonly sessions: (StoredSession | undefined)[] = [];
  private readonly free: number[] = [];
  /** Rows ever handed out: every row from here on is free. */
  private used = 0;

  constructor(capacity = INITIAL_ROWS) {
    const buffer = new ArrayBuffer(Math.max(1, capacity) * ROW_BYTES);
    this.i32 = new Int32Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.f64 = new Float64Array(buffer);
  }

  /** Rows in use. */
  get size(): number {
    return this.used - this.free.length;
  }

  /** Rows up to this one may be in use (for walking them). */
  get end(): number {
    return this.used;
  }

  /** A free row for `session`; its slots hold whatever the last owner left. */
  allocate(session: StoredSession): number {
    let row = this.free.pop();
    if (row === undefined) {
      row = this.used++;
      if (row * ROW_INTS >= this.i32.length) this.grow();
    }
    this.sessions[row] = session;
    return row;
  }

  /** Gives `row` back; the session that held it must not use it again. */
  release(row: number): void {
    this.sessions[row] = undefined;
    this.free.push(row);
  }

  /**
   * Every session holding a row, by row. The iterator survives rows given back and taken meanwhile: a
   * session is not visited after its row is given back, none is visited twice, and a session that takes
   * a row meanwhile may or may not be.
   */
  values(): IterableIterator<StoredSession> {
    return new Sessions(this);
  }

  /** Fills in a new session's row: its id, an empty log, both times `now`. */
  initialise(row: number, id: IdParts, now: number): void {
    const at = row * ROW_INTS;
    const { i32 } = this;
    i32[at + ID_PART0] = id.idPart0;
    i32[at + ID_PART1] = id.idPart1;
    i32[at + ID_PART2] = id.idPart2;
    i32[at + ID_PART3] = id.idPart3;
    i32[at + ID_PART4] = id.idPart4;
    i32[at + MESSAGE_COUNT] = 0;
    i32[at + LAST_PIECE] = -1;
    i32.fill(-1, at + TAIL_PIECES, at + TAIL_PIECES + TAIL_SLOTS);
    this.u32[at + LOG_BYTES] = 0;
    i32[at + LOG_ROOM] = 0;
    this.f64[row * ROW_DOUBLES + LAST_ACCESSED] = now;
    this.f64[row * ROW_DOUBLES + UPDATED_AT] = now;
  }

  /** Part `k` (0-4) of the id of the session in `row` (see `session-index.ts`). */
  idPart(row: number, k: 0 | 1 | 2 | 3 | 4): number {
    return this.i32[row * ROW_INTS + ID_PART0 + k]!;
  }

  /** Whether `row` holds the id `id` (all five parts). */
  holdsId(row: number, id: IdParts): boolean {
    const at = row * ROW_INTS;
    const { i32 } = this;
    return (
      i32[at + ID_PART3] === id.idPart3 &&
      i32[at + ID_PART0] === id.idPart0 &&
      i32[at + ID_PART1] === id.idPart1 &&
      i32[at + ID_PART2] === id.idPart2 &&
      i32[at + ID_PART4] === id.idPart4
    );
  }

  messageCount(row: number): number {
    return this.i32[row * ROW_INTS + MESSAGE_COUNT]!;
  }

  setMessageCount(row: number, count: number): void {
    this.i32[row * ROW_INTS + MESSAGE_COUNT] = count;
  }

  /** The bytes of the log's records. */
  logBytes(row: number): number {
    return this.u32[row * ROW_INTS + LOG_BYTES]!;
  }

  setLogBytes(row: number, bytes: number): void {
    this.u32[row * ROW_INTS + LOG_BYTES] = bytes;
  }

  /** The bytes left in the log's last piece. */
  logRoom(row: number): number {
    return this.i32[row * ROW_INTS + LOG_ROOM]!;
  }

  setLogRoom(row: number, bytes: number): void {
    this.i32[row * ROW_INTS + LOG_ROOM] = bytes;
  }

  /** The handle of the log's last piece; -1 when the log has none. */
  lastPiece(row: number): number {
    return this.i32[row * ROW_INTS + LAST_PIECE]!;
  }

  setLastPiece(row: number, handle: number): void {
    this.i32[row * ROW_INTS + LAST_PIECE] = handle;
  }

  /** The handle in tail slot `slot` (0 oldest); -1 when unused. */
  tailPiece(row: number, slot: number): number {
    return this.i32[row * ROW_INTS + TAIL_PIECES + slot]!;
  }

  setTailPiece(row: number, slot: number, handle: number): void {
    this.i32[row * ROW_INTS + TAIL_PIECES + slot] = handle;
  }

  /** How many tail slots hold a piece. */
  tailCount(row: number): number {
    const at = row * ROW_INTS + TAIL_PIECES;
    const { i32 } = this;
    return i32[at + 2] !== -1 ? 3 : i32[at + 1] !== -1 ? 2 : i32[at] !== -1 ? 1 : 0;
  }

  clearTailPieces(row: number): void {
    const at = row * ROW_INTS + TAIL_PIECES;
    this.i32.fill(-1, at, at + TAIL_SLOTS);
  }

  lastAccessed(row: number): number {
    return this.f64[row * ROW_DOUBLES + LAST_ACCESSED]!;
  }

  setLastAccessed(row: number, time: number): void {
    this.f64[row * ROW_DOUBLES + LAST_ACCESSED] = time;
  }

  updatedAt(row: number): number {
    return this.f64[row * ROW_DOUBLES + UPDATED_AT]!;
  }

  setUpdatedAt(row: number, time: number): void {
    this.f64[row * ROW_DOUBLES + UPDATED_AT] = time;
  }

  /** Copies a row of `from` over `row` of these rows. */
  copyRow(from: SessionRows, fromRow: number, row: number): void {
    this.i32.set(from.i32.subarray(fromRow * ROW_INTS, (fromRow + 1) * ROW_INTS), row * ROW_INTS);
  }

  private grow(): void {
    const buffer = new ArrayBuffer(this.i32.byteLength * 2);
    const i32 = new Int32Array(buffer);
    i32.set(this.i32);
    this.i32 = i32;
    this.u32 = new Uint32Array(buffer);
    this.f64 = new Float64Array(buffer);
  }
}

/**
 * The sessions of some rows, row by row. Not a generator: a capture steps through a million sessions, and
 * a generator's own result objects would double the garbage each step leaves.
 */
class Sessions implements IterableIterator<StoredSession> {
  private row = 0;

  constructor(private readonly rows: SessionRows) {}

  next(): IteratorResult<StoredSession> {
    const { sessions } = this.rows;
    while (this.row < this.rows.end) {
      const session = sessions[this.row++];
      if (session !== undefined) return { done: false, value: session };
    }
    return { done: true, value: undefined };
  }

  [Symbol.iterator](): IterableIterator<StoredSession> {
    return this;
  }
}
