/**
 * The hot state of a shard's sessions, a row of 64 bytes each in one typed array: what finding a session
 * by id and appending to it read and write. The session objects keep the rest (`stored-session.ts`).
 *
 * Why rows: with 100 000 sessions nothing of a session is in cache when a batch reaches it, and each
 * object an operation touches is a cache miss and, with 4 KiB pages, a TLB miss too (a pointer chase
 * over 400 MB measured 345 ns a step here, 185 ns with huge pages, which Node does not ask for). An append
 * used to touch the index's `Map` entry, the session object, the boxes of its times, its piece table and
 * its log. Measured on its own (2 million appends to 100 000 sessions, one thread): the `Map` and
 * objects 0.90-1.11 µs an append, a slot table and rows 0.38-0.46 µs; a slot table in front of the
 * objects 0.88-0.93 µs, so it is the objects, not the `Map`, that cost.
 *
 * Rows never move: a freed row is reused, and growing copies the rows to the same numbers.
 */
import type { StoredSession } from './stored-session.js';

/** Int32 slots of a row (index `row * ROW_INTS + slot`). */
export const ID_PART0 = 0;
export const ID_PART1 = 1;
export const ID_PART2 = 2;
/** The index key: characters 18-23 of the id, all random bits (`session-index.ts`). */
export const ID_PART3 = 3;
export const ID_PART4 = 4;
export const MESSAGE_COUNT = 5;
/** The handle of the log's last piece (the one an append writes into); -1 when the log has none. */
export const LAST_PIECE = 6;
/** Three slots: the handles of the log's newest unit pieces, oldest first, -1 in those unused. */
export const TAIL_PIECES = 7;
/** The bytes of the log's records (read through `u32`: up to 2^32 - 1). */
export const LOG_BYTES = 10;
/** The bytes left in the log's last piece. */
export const LOG_ROOM = 11;
export const ROW_INTS = 16;

/** Float64 slots of a row (index `row * ROW_DOUBLES + slot`), after the int32 ones. */
export const LAST_ACCESSED = 6;
export const UPDATED_AT = 7;
export const ROW_DOUBLES = 8;

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
