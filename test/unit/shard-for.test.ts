import { afterEach, describe, expect, it, vi } from 'vitest';
import { shardFor } from '../../src/main/shard-for.js';
import { newSessionId } from '../../src/main/session-ids.js';

/** `count` ids made by the engine's own source, all in the same millisecond. */
function idsOfOneMillisecond(count: number): string[] {
  vi.spyOn(Date, 'now').mockReturnValue(1_764_000_000_000);
  const ids = Array.from({ length: count }, () => newSessionId());
  vi.restoreAllMocks();
  return ids;
}

describe('shardFor', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('spreads 100 000 ids made in the same millisecond over 4 shards, each within 5% of the mean', () => {
    const ids = idsOfOneMillisecond(100_000);
    // Precondition: the time part really is shared, so only the random part can spread them.
    expect(new Set(ids.map((id) => id.slice(0, 10))).size).toBe(1);
    expect(new Set(ids).size).toBe(ids.length);
    const counts = [0, 0, 0, 0];
    for (const id of ids) counts[shardFor(id, 4)]!++;
    const mean = ids.length / 4;
    for (const count of counts) expect(Math.abs(count - mean) / mean).toBeLessThan(0.05);
  });

  it.each([2, 3, 7, 16])('spreads same-millisecond ids over %i shards within 5% of the mean', (shards) => {
    // 25 000 ids per shard puts 5% near 8 standard deviations of a fair spread: a failure means bias, not luck
    // (with 50 000 ids over 16 shards, 5% was under 3 deviations and a fair hash failed about 1 run in 12).
    const ids = idsOfOneMillisecond(25_000 * shards);
    const counts = new Array<number>(shards).fill(0);
    for (const id of ids) counts[shardFor(id, shards)]!++;
    const mean = ids.length / shards;
    for (const count of counts) expect(Math.abs(count - mean) / mean).toBeLessThan(0.05);
  });

  it('spreads ids that differ only in their last character', () => {
    const base = '01JBZZZZZZZZZZZZZZZZZZZZZ';
    const counts = [0, 0, 0, 0];
    for (const char of '0123456789ABCDEFGHJKMNPQRSTVWXYZ') counts[shardFor(base + char, 4)]!++;
    for (const count of counts) expect(count).toBeGreaterThan(0);
  });

  it('is pure: the same id and shard count always give the same shard', () => {
    const ids = idsOfOneMillisecond(1_000);
    const first = ids.map((id) => shardFor(id, 5));
    const again = ids.map((id) => shardFor(id, 5));
    expect(again).toEqual(first);
    // and independent of what was asked in between
    shardFor('7ZZZZZZZZZZZZZZZZZZZZZZZZZ', 3);
    expect(ids.map((id) => shardFor(id, 5))).toEqual(first);
  });

  it('always answers an integer shard index in [0, shards)', () => {
    const ids = idsOfOneMillisecond(2_000);
    for (const shards of [1, 2, 3, 4, 13, 256]) {
      for (const id of ids) {
        const shard = shardFor(id, shards);
        expect(Number.isInteger(shard)).toBe(true);
        expect(shard).toBeGreaterThanOrEqual(0);
        expect(shard).toBeLessThan(shards);
      }
    }
  });

  it('puts every id on shard 0 when there is one shard', () => {
    for (const id of idsOfOneMillisecond(100)) expect(shardFor(id, 1)).toBe(0);
  });
});
