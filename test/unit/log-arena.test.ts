import { describe, expect, it } from 'vitest';
import { levelOf, LOG_UNIT_BYTES, LogArena, MAX_LEVEL, pieceBytes } from '../../src/shard/log-arena.js';

function bytesOf(arena: LogArena, handle: number): Buffer {
  return arena.pageOf(handle).subarray(arena.offsetOf(handle), arena.offsetOf(handle) + pieceBytes(levelOf(handle)));
}

describe('a log arena', () => {
  it('hands out pieces of every size whose bytes do not overlap, across pages', () => {
    const arena = new LogArena();
    // Over 8 MiB in pieces of mixed sizes: several 1 MiB pages, and page ends too short for the next piece.
    const levels = Array.from({ length: 3_000 }, (_, i) => [0, 1, 0, 2, 0, 1, 3, 0, 5, 4][i % 10]!);
    const pieces = levels.map((level) => arena.allocate(level));
    pieces.forEach((piece, i) => bytesOf(arena, piece).fill(i & 0xff));
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
    arena.release(small);
    arena.release(large);
    expect(arena.bytesFree).toBe(LOG_UNIT_BYTES + pieceBytes(2));
    expect(arena.allocate(2)).toBe(large);
    expect(arena.allocate(0)).toBe(small);
    expect(arena.bytesFree).toBe(0);
    expect(arena.bytesInUse).toBe(LOG_UNIT_BYTES + pieceBytes(2));
  });

  it('keeps released pieces from being handed out while releases are held', () => {
    const arena = new LogArena();
    const piece = arena.allocate(1);
    arena.hold();
    arena.release(piece);
    expect(arena.allocate(1)).not.toBe(piece);
    arena.unhold();
    expect(arena.allocate(1)).toBe(piece);
  });

  it('sizes pieces from one unit to 4^MAX_LEVEL units', () => {
    expect(Array.from({ length: MAX_LEVEL + 1 }, (_, level) => pieceBytes(level))).toEqual([512, 2_048, 8_192, 32_768, 131_072, 524_288]);
  });
});
