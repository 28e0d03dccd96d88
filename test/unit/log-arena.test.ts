import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { levelOf, LOG_UNIT_BYTES, LogArena, MAX_LEVEL, pieceBytes } from '../../src/shard/memory/log-arena.js';

function bytesOf(arena: LogArena, handle: number): Buffer {
  return arena.pageOf(handle).subarray(arena.offsetOf(handle), arena.offsetOf(handle) + pieceBytes(levelOf(handle)));
}

/** Writes `mark` at the start of each unit of the piece (enough to see two pieces share a unit, and cheap). */
function markUnits(arena: LogArena, handle: number, mark: number): void {
  const bytes = bytesOf(arena, handle);
  for (let at = 0; at < bytes.length; at += LOG_UNIT_BYTES) bytes[at] = mark;
}

function unitsMarked(arena: LogArena, handle: number, mark: number): boolean {
  const bytes = bytesOf(arena, handle);
  for (let at = 0; at < bytes.length; at += LOG_UNIT_BYTES) if (bytes[at] !== mark) return false;
  return true;
}

/** Bytes the arena has carved out of its pages: what it holds, handed out or free. */
function carvedBytes(arena: LogArena): number {
  return arena.bytesInUse + arena.bytesFree;
}

const TOP_BYTES = pieceBytes(MAX_LEVEL);

describe('a log arena', () => {
  it('hands out pieces of every size whose bytes do not overlap, across pages', () => {
    const arena = new LogArena();
    // Over 8 MiB in pieces of mixed sizes: several 1 MiB pages.
    const levels = Array.from({ length: 3_000 }, (_, i) => [0, 1, 0, 2, 0, 1, 3, 0, 5, 4][i % 10]!);
    const pieces = levels.map((level) => arena.allocate(level));
    for (const [i, piece] of pieces.entries()) bytesOf(arena, piece).fill(i & 0xff);
    pieces.forEach((piece, i) => {
      expect(levelOf(piece)).toBe(levels[i]);
      expect(bytesOf(arena, piece).every((byte) => byte === (i & 0xff))).toBe(true);
    });
    expect(arena.bytesInUse).toBe(levels.reduce((sum, level) => sum + pieceBytes(level), 0));
  });

  it('hands a released piece out again for the next request of its size', () => {
    const arena = new LogArena();
    const small = arena.allocate(0);
    const large = arena.allocate(2);
    arena.allocate(0); // keeps `small` from joining its buddies
    arena.release(large);
    arena.release(small);
    expect(arena.allocate(2)).toBe(large);
    expect(arena.allocate(0)).toBe(small);
  });

  it('joins four free buddies into the piece they are quarters of, up to the largest size', () => {
    const arena = new LogArena();
    const units = Array.from({ length: 4 * (TOP_BYTES / LOG_UNIT_BYTES) }, () => arena.allocate(0));
    const carved = carvedBytes(arena);
    expect(carved).toBe(4 * TOP_BYTES);
    for (const unit of units) arena.release(unit);
    expect(arena.bytesInUse).toBe(0);
    // Four largest pieces come from the released units, with no new memory carved.
    const tops = Array.from({ length: 4 }, () => arena.allocate(MAX_LEVEL));
    expect(carvedBytes(arena)).toBe(carved);
    expect(new Set(tops).size).toBe(4);
  });

  it('serves larger pieces from smaller ones released in any order, as logs growing in step release them', () => {
    const arena = new LogArena();
    // 256 logs, each holding three pieces of level 1 and three of level 0, allocated interleaved.
    const logs = Array.from({ length: 256 }, () => [] as number[]);
    for (const level of [1, 1, 1, 0, 0, 0]) for (const log of logs) log.push(arena.allocate(level));
    const carved = carvedBytes(arena);
    // Each merges into one piece of level 2 and releases its six: after the first few, merges find room.
    for (const log of logs) {
      const merged = arena.allocate(2);
      for (const piece of log) arena.release(piece);
      log.length = 0;
      log.push(merged);
    }
    expect(arena.bytesInUse).toBe(256 * pieceBytes(2));
    // 256 x 7.5 KiB held before, 256 x 8 KiB after: no more than the difference (and a largest piece) is new.
    expect(carvedBytes(arena) - carved).toBeLessThanOrEqual(256 * LOG_UNIT_BYTES + TOP_BYTES);
  });

  it('keeps released pieces from being handed out while releases are held', () => {
    const arena = new LogArena();
    const piece = arena.allocate(1);
    arena.allocate(1);
    arena.hold();
    arena.release(piece);
    expect(arena.allocate(1)).not.toBe(piece);
    arena.unhold();
    expect(arena.allocate(1)).toBe(piece);
  });

  it('never hands out overlapping pieces, counts its bytes exactly, and is whole again when everything is released', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ allocate: fc.integer({ min: 0, max: MAX_LEVEL }) }), fc.record({ release: fc.nat() })), { maxLength: 300 }),
        (steps) => {
          const arena = new LogArena();
          const live: { handle: number; mark: number }[] = [];
          let mark = 0;
          for (const step of steps) {
            if ('allocate' in step) {
              const handle = arena.allocate(step.allocate);
              mark = (mark + 1) & 0xff;
              markUnits(arena, handle, mark);
              live.push({ handle, mark });
            } else if (live.length > 0) {
              const [{ handle }] = live.splice(step.release % live.length, 1);
              arena.release(handle!);
            }
          }
          for (const { handle, mark } of live) expect(unitsMarked(arena, handle, mark)).toBe(true);
          expect(arena.bytesInUse).toBe(live.reduce((sum, { handle }) => sum + pieceBytes(levelOf(handle)), 0));
          const carved = carvedBytes(arena);
          for (const { handle } of live) arena.release(handle);
          // Every piece joined its buddies again: the carved memory is whole largest pieces.
          for (let i = 0; i < carved / TOP_BYTES; i++) arena.allocate(MAX_LEVEL);
          expect(carvedBytes(arena)).toBe(carved);
          expect(arena.bytesFree).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('sizes pieces from one unit to 4^MAX_LEVEL units', () => {
    expect(Array.from({ length: MAX_LEVEL + 1 }, (_, level) => pieceBytes(level))).toEqual([512, 2_048, 8_192, 32_768, 131_072, 524_288]);
  });
});
