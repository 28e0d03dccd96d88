/**
 * Where a shard keeps the bytes of its sessions' message logs: pieces of a few fixed sizes carved out of
 * large pages, handed out and taken back by handle. A session's log is a list of pieces
 * (`stored-session.ts`), so no log has an ArrayBuffer of its own.
 *
 * A buddy allocator with four buddies: a piece of level L is 4^L units, aligned to its size, and is one
 * quarter of a piece of level L + 1. A request takes a free piece of its size, or splits a larger one; a
 * released piece whose three buddies are free too becomes their parent again, and so on up. Why buddies:
 * logs grow in step (every log of a long conversation merges into a larger piece about when the others do),
 * and with a free list per size only, each wave of merges left the smaller pieces idle and carved fresh
 * pages for the larger ones, which the kernel had to zero, while the idle pieces held memory. One buffer
 * per log cost more still: allocating, copying and collecting them (docs/design/code-notes.md).
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
/** Units of the largest piece: pages are carved into these. */
const TOP_UNITS = 1 << (2 * MAX_LEVEL);
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
  /** Units carved so far, a whole number of largest pieces. */
  private carved = 0;
  /** The first unit of each free piece, by level, the most recently freed last. */
  private readonly free: number[][] = Array.from({ length: MAX_LEVEL + 1 }, () => []);
  /** By unit: 1 + the level of the free piece that starts there, 0 when none does. */
  private freeLevel = new Uint8Array(0);
  /** By unit, for a free piece's first unit: where it is in its level's free list (so that a buddy is taken out in O(1)). */
  private slot = new Int32Array(0);
  private unitsInUse = 0;
  /** While above 0 (`hold()`), releases wait in `held`. */
  private holds = 0;
  private held: number[] = [];

  /** Bytes in pieces handed out and not released (released pieces that are held count as handed out). */
  get bytesInUse(): number {
    return this.unitsInUse * LOG_UNIT_BYTES;
  }

  /** Bytes carved and free to be handed out again. */
  get bytesFree(): number {
    return (this.carved - this.unitsInUse) * LOG_UNIT_BYTES;
  }

  /** A piece of `pieceBytes(level)` bytes; they hold whatever they held before. */
  allocate(level: number): number {
    let from = level;
    while (from <= MAX_LEVEL && this.free[from]!.length === 0) from++;
    let unit: number;
    if (from > MAX_LEVEL) {
      unit = this.carveTop();
      from = MAX_LEVEL;
    } else {
      unit = this.free[from]!.pop()!;
      this.freeLevel[unit] = 0;
    }
    // Split down to the size asked for: the first quarter is kept, the other three are free. Pushed last
    // to first, so that the next request of their size takes the lowest, next to this piece.
    while (from > level) {
      from--;
      const size = 1 << (2 * from);
      for (let quarter = 3; quarter >= 1; quarter--) this.push(unit + quarter * size, from);
    }
    this.unitsInUse += 1 << (2 * level);
    return (unit << LEVEL_BITS) | level;
  }

  /** Takes a piece back. Its bytes may be handed out by the next `allocate()`, unless releases are held. */
  release(handle: number): void {
    if (this.holds > 0) {
      this.held.push(handle);
      return;
    }
    let level = levelOf(handle);
    let unit = handle >>> LEVEL_BITS;
    this.unitsInUse -= 1 << (2 * level);
    for (; level < MAX_LEVEL; level++) {
      const size = 1 << (2 * level);
      const parent = unit & ~(4 * size - 1);
      if (!this.buddiesFree(parent, unit, size, level)) break;
      for (let quarter = 0; quarter < 4; quarter++) {
        const buddy = parent + quarter * size;
        if (buddy !== unit) this.take(buddy, level);
      }
      unit = parent;
    }
    this.push(unit, level);
  }

  /**
   * Keeps released pieces from being handed out until the matching `unhold()`: for a reader (a capture
   * written out over many turns of the event loop) of sessions that may change or go meanwhile.
   */
  hold(): void {
    this.holds++;
  }

  /** Whether releases are held: a reader may still be reading pieces and the tables that list them. */
  get holding(): boolean {
    return this.holds > 0;
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

  /** Whether the three buddies of `unit` (quarters of `parent`, of `size` units) are free pieces of `level`. */
  private buddiesFree(parent: number, unit: number, size: number, level: number): boolean {
    for (let quarter = 0; quarter < 4; quarter++) {
      const buddy = parent + quarter * size;
      if (buddy !== unit && this.freeLevel[buddy] !== level + 1) return false;
    }
    return true;
  }

  /** A fresh largest piece, from a new page when the last one is used up. */
  private carveTop(): number {
    if (this.carved + TOP_UNITS > MAX_UNITS) throw new RangeError('the log arena is full');
    if (this.carved >>> PAGE_SHIFT === this.pages.length) {
      // Unpooled and never freed: a page lives as long as the arena.
      this.pages.push(Buffer.allocUnsafeSlow(PAGE_UNITS * LOG_UNIT_BYTES));
      this.grow(this.pages.length * PAGE_UNITS);
    }
    const unit = this.carved;
    this.carved += TOP_UNITS;
    return unit;
  }

  /** Makes the tables by unit cover `units` units (doubling, so that growing costs O(1) per unit). */
  private grow(units: number): void {
    if (units <= this.freeLevel.length) return;
    const length = Math.max(units, this.freeLevel.length * 2);
    const freeLevel = new Uint8Array(length);
    freeLevel.set(this.freeLevel);
    const slot = new Int32Array(length);
    slot.set(this.slot);
    this.freeLevel = freeLevel;
    this.slot = slot;
  }

  private push(unit: number, level: number): void {
    const list = this.free[level]!;
    this.slot[unit] = list.length;
    list.push(unit);
    this.freeLevel[unit] = level + 1;
  }

  /** Takes the free piece at `unit` out of its list. */
  private take(unit: number, level: number): void {
    const list = this.free[level]!;
    const last = list.pop()!;
    if (last !== unit) {
      const at = this.slot[unit]!;
      list[at] = last;
      this.slot[last] = at;
    }
    this.freeLevel[unit] = 0;
  }
}
