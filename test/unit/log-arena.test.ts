import { describe, expect, it } from 'vitest';
import { blocksFor, LOG_BLOCK_BYTES, LogArena } from '../../src/shard/log-arena.js';

describe('a log arena', () => {
  it('hands out blocks whose bytes do not overlap, across pages', () => {
    const arena = new LogArena();
    // 5 000 blocks: more than two 1 MiB pages.
    const blocks = Array.from({ length: 5_000 }, () => arena.allocate());
    blocks.forEach((block, i) => arena.pageOf(block).fill(i & 0xff, arena.offsetOf(block), arena.offsetOf(block) + LOG_BLOCK_BYTES));
    blocks.forEach((block, i) => {
      const bytes = arena.pageOf(block).subarray(arena.offsetOf(block), arena.offsetOf(block) + LOG_BLOCK_BYTES);
      expect(bytes.every((byte) => byte === (i & 0xff))).toBe(true);
    });
    expect(new Set(blocks).size).toBe(blocks.length);
    expect(arena.blocksInUse).toBe(5_000);
  });

  it('hands released blocks out again before carving new ones', () => {
    const arena = new LogArena();
    const first = Uint32Array.from({ length: 10 }, () => arena.allocate());
    arena.release(first, 2, 6);
    expect(arena.blocksInUse).toBe(6);
    expect(arena.blocksFree).toBe(4);
    const again = Array.from({ length: 4 }, () => arena.allocate());
    expect(again.sort()).toEqual([...first.subarray(2, 6)].sort());
    expect(arena.blocksFree).toBe(0);
    expect(arena.allocate()).toBe(10);
  });

  it('keeps any number of released blocks', () => {
    const arena = new LogArena();
    const blocks = Uint32Array.from({ length: 3_000 }, () => arena.allocate());
    arena.release(blocks, 0, blocks.length);
    expect(arena.blocksFree).toBe(3_000);
    expect(new Set(Array.from({ length: 3_000 }, () => arena.allocate())).size).toBe(3_000);
    expect(arena.blocksInUse).toBe(3_000);
  });

  it('counts the blocks a log of n bytes takes', () => {
    expect([0, 1, LOG_BLOCK_BYTES, LOG_BLOCK_BYTES + 1].map(blocksFor)).toEqual([0, 1, 1, 2]);
  });
});
