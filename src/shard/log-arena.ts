/**
 * Where a shard keeps the bytes of its sessions' message logs: pieces of a few fixed sizes carved out of
 * large pages, handed out and taken back by handle. A session's log is a list of pieces
 * (`stored-session.ts`), so no log has an ArrayBuffer of its own, and every size has its own free list:
 * a released piece is reused whole by the next request of its size, without a general allocator's
 * splitting and coalescing.
 *
 * Measured before this (one Buffer per log, grown by a quarter with a copy): a shard spent over a third
 * of each append allocating, copying and collecting those buffers (malloc and free, V8's ArrayBuffer
 * sweeping and marking, and the full collections their external memory set off).
 *
 * Released pieces are kept for later requests, not given back to the system: a shard holds the log
 * memory of its busiest moment.
 */

/** The bytes of the smallest piece, a unit. About two messages of 200 bytes: a log's spare room is under one unit. */
export const LOG_UNIT_BYTES = 512;
/** Piece sizes: LOG_UNIT_BYTES x 4^level, level 0 to MAX_LEVEL (512 B to 512 KiB). */
export const MAX_LEVEL = 5;
/** Units per page: pages of 1 MiB. */
const PAGE_UNITS = 2_048;
const PAGE_SHIFT = 11;
const UNIT_SHIFT = 9;
/**
 * A handle is `unit << LEVEL_BITS | level`: an int32 (a small integer to V8, and what a session's Uint32Array
 * of pieces holds), so taking it apart is two integer operations.
 */
const LEVEL_BITS = 3;
const LEVEL_MASK = (1 << LEVEL_BITS) - 1;
/** The most units an arena carves: 2^28 units of 512 bytes, 128 GiB. */
const MAX_UNITS = 2 ** (31 - LEVEL_BITS);

/** The bytes of a piece of `level`. */
export function pieceBytes(level: number): number {
  return LOG_UNIT_BYTES << (2 * level);
}

/** The level of the piece `handle` names. */
export function levelOf(handle: number): number {
  return handle & LEVEL_MASK;
}

/** One shard's log memory (one per `SessionStore`); synchronous, used by one thread. */
export class LogArena {
  private readonly pages: Buffer[] = [];
  /** Units carved so far: the next carved piece starts here. */
  private carved = 0;
  /** Released pieces by level, the most recently released last. */
  private readonly free: number[][] = Array.from({ length: MAX_LEVEL + 1 }, () => []);
  private unitsInUse = 0;
  private unitsFree = 0;
  /** While above 0 (`hold()`), releases wait in `held`. */
  private holds = 0;
  private held: number[] = [];

  /** Bytes in pieces handed out and not released. */
  get bytesInUse(): number {
    return this.unitsInUse * LOG_UNIT_BYTES;
  }

  /** Bytes in released pieces waiting to be handed out again. */
  get bytesFree(): number {
    return this.unitsFree * LOG_UNIT_BYTES;
  }

  /** A piece of `pieceBytes(level)` bytes; they hold whatever they held before. */
  allocate(level: number): number {
    const units = 1 << (2 * level);
    const free = this.free[level]!;
    if (free.length > 0) {
      this.unitsFree -= units;
      this.unitsInUse += units;
      return free.pop()!;
    }
    const left = PAGE_UNITS - (this.carved & (PAGE_UNITS - 1));
    if (left < units && left < PAGE_UNITS) {
      // The end of this page is too short for the piece: it becomes unit pieces, and a new page begins.
      for (let unit = this.carved; unit < this.carved + left; unit++) this.free[0]!.push(unit << LEVEL_BITS);
      this.unitsFree += left;
      this.carved += left;
    }
    if (this.carved + units > MAX_UNITS) throw new RangeError('the log arena is full');
    // Unpooled and never freed: a page lives as long as the arena.
    if (this.carved >>> PAGE_SHIFT === this.pages.length) this.pages.push(Buffer.allocUnsafeSlow(PAGE_UNITS * LOG_UNIT_BYTES));
    const unit = this.carved;
    this.carved += units;
    this.unitsInUse += units;
    return (unit << LEVEL_BITS) | level;
  }

  /** Takes a piece back. Its bytes may be handed out by the next `allocate()`, unless releases are held. */
  release(handle: number): void {
    if (this.holds > 0) {
      this.held.push(handle);
      return;
    }
    const level = levelOf(handle);
    const units = 1 << (2 * level);
    this.unitsInUse -= units;
    this.unitsFree += units;
    this.free[level]!.push(handle);
  }

  /**
   * Keeps released pieces from being handed out until the matching `unhold()`: for a reader (a capture
   * written out over many turns of the event loop) of sessions that may change or go meanwhile.
   */
  hold(): void {
    this.holds++;
  }

  unhold(): void {
    if (this.holds === 0 || --this.holds > 0) return;
    const held = this.held;
    this.held = [];
    for (const handle of held) this.release(handle);
  }

  /** The page that holds the piece; its bytes start at `offsetOf(handle)`. */
  pageOf(handle: number): Buffer {
    return this.pages[handle >>> (LEVEL_BITS + PAGE_SHIFT)]!;
  }

  /** Where the piece's bytes start in `pageOf(handle)`. */
  offsetOf(handle: number): number {
    return ((handle >>> LEVEL_BITS) & (PAGE_UNITS - 1)) << UNIT_SHIFT;
  }
}
