import { decodeTime } from 'ulid';
import { describe, expect, it } from 'vitest';
import { newMessageId } from '../../src/protocol/message-ids.js';

const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

describe('minted message ids', () => {
  it('count up within one millisecond: unique and in the order minted', () => {
    const at = 1_800_000_000_000;
    const ids = Array.from({ length: 1_000 }, () => newMessageId(at));
    for (const id of ids) {
      expect(id).toMatch(ULID);
      expect(decodeTime(id)).toBe(at);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('draw fresh random bits for every millisecond, past any batch of random bytes drawn at once', () => {
    // Hundreds of distinct milliseconds: the random parts must all differ (80 bits each), never repeat
    // from one batch of random bytes to the next.
    const first = 1_800_000_100_000;
    const ids = Array.from({ length: 500 }, (_, n) => newMessageId(first + n));
    const randomParts = ids.map((id) => id.slice(10));
    expect(new Set(randomParts).size).toBe(ids.length);
    expect(ids.map(decodeTime)).toEqual(ids.map((_, n) => first + n));
    // Ids of later milliseconds sort after earlier ones.
    expect([...ids].sort()).toEqual(ids);
  });
});
