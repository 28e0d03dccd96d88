/**
 * Where a shard keeps the bytes of its sessions' message logs: fixed-size blocks carved out of a few
 * large pages, handed out and taken back by number. A session's log is the list of its blocks
 * (`stored-session.ts`), so an append writes into the last block or takes a new one: nothing is ever
 * copied to grow a log, and no log has an ArrayBuffer of its own.
 *
 * Measured before this (one Buffer per log, grown by a quarter with a copy): a shard spent over a third
 * of each append allocating, copying and collecting those buffers (malloc and free, V8's ArrayBuffer
 * sweeping and marking, and the full collections their external memory set off), and appended about
 * 200 000 messages a second; with blocks, about 350 000 (1 shard, 100 000 sessions, 1 024 in flight).
 *
 * Freed blocks are kept for later appends, not given back to the system: a shard holds the log memory
 * of its busiest moment.
 */

/** The bytes of one block. About two messages of 200 bytes: a session's spare room is under one block. */
export const LOG_BLOCK_BYTES = 512;
const BLOCK_SHIFT = 9;
/** Blocks per page: pages of 1 MiB. */
const PAGE_BLOCKS = 2_048;
const PAGE_SHIFT = 11;
/** The most blocks an arena hands out: block numbers are kept in Uint32Arrays. */
const MAX_BLOCKS = 2 ** 32 - 1;

export class LogArena {
  private readonly pages: Buffer[] = [];
  /** Blocks ever handed out: the next new block's number. */
  private carved = 0;
  /** Released blocks, the most recently released on top. */
  private free = new Uint32Array(1_024);
  private freeCount = 0;

  /** Blocks handed out and not released. */
  get blocksInUse(): number {
    return this.carved - this.freeCount;
  }

  /** Blocks released and waiting to be handed out again. */
  get blocksFree(): number {
    return this.freeCount;
  }

  /** A block's number; its bytes hold whatever they held before. */
  allocate(): number {
    if (this.freeCount > 0) return this.free[--this.freeCount]!;
    if (this.carved >= MAX_BLOCKS) throw new RangeError('the log arena is full');
    const block = this.carved++;
    // Unpooled and never freed: a page lives as long as the arena.
    if (block >>> PAGE_SHIFT === this.pages.length) this.pages.push(Buffer.allocUnsafeSlow(PAGE_BLOCKS * LOG_BLOCK_BYTES));
    return block;
  }

  /** Takes back `blocks[from]` up to (not including) `blocks[to]`. Their bytes may be handed out by the next `allocate()`. */
  release(blocks: Uint32Array, from: number, to: number): void {
    const needed = this.freeCount + (to - from);
    if (needed > this.free.length) {
      const grown = new Uint32Array(Math.max(needed, this.free.length * 2));
      grown.set(this.free.subarray(0, this.freeCount));
      this.free = grown;
    }
    for (let i = from; i < to; i++) this.free[this.freeCount++] = blocks[i]!;
  }

  /** The page that holds `block`; its bytes start at `offsetOf(block)`. */
  pageOf(block: number): Buffer {
    return this.pages[block >>> PAGE_SHIFT]!;
  }

  /** Where `block`'s bytes start in `pageOf(block)`. */
  offsetOf(block: number): number {
    return (block & (PAGE_BLOCKS - 1)) << BLOCK_SHIFT;
  }
}

/** How many blocks hold `bytes` bytes of log. */
export function blocksFor(bytes: number): number {
  return Math.ceil(bytes / LOG_BLOCK_BYTES);
}
