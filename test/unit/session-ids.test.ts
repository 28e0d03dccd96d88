import { describe, expect, it } from 'vitest';
import { isCanonicalSessionId, newSessionId } from '../../src/main/session-ids.js';
import { checkSessionId } from '../../src/main/validation.js';
import { InvalidSessionIdError } from '../../src/main/errors.js';
import { bitDistance, randomPart } from '../helpers/ids.js';

const VALID = '01JD2Q3W4E5R6T7Y8Z9ABCDEFG';

function rejectionOf(id: unknown): unknown {
  try {
    checkSessionId(id);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('session id validation', () => {
  it('accepts a canonical ULID', () => {
    expect(isCanonicalSessionId(VALID)).toBe(true);
    expect(rejectionOf(VALID)).toBeUndefined();
  });

  it('accepts the smallest and the largest canonical ULID', () => {
    expect(isCanonicalSessionId('00000000000000000000000000')).toBe(true);
    expect(isCanonicalSessionId('7ZZZZZZZZZZZZZZZZZZZZZZZZZ')).toBe(true);
  });

  const bad: [string, unknown][] = [
    ['a number', 42],
    ['undefined', undefined],
    ['null', null],
    ['an object', { id: VALID }],
    ['an array', [VALID]],
    ['a String object', new String(VALID)],
    ['an empty string', ''],
    ['25 characters', VALID.slice(0, 25)],
    ['27 characters', `${VALID}0`],
    ['lowercase', VALID.toLowerCase()],
    ['one lowercase character', `${VALID.slice(0, 25)}g`],
    ['the letter I', `${VALID.slice(0, 25)}I`],
    ['the letter L', `${VALID.slice(0, 25)}L`],
    ['the letter O', `${VALID.slice(0, 25)}O`],
    ['the letter U', `${VALID.slice(0, 25)}U`],
    ['a first character of 8', `8${VALID.slice(1)}`],
    ['a first character of Z', `Z${VALID.slice(1)}`],
    ['a hyphen', `${VALID.slice(0, 25)}-`],
    ['a space', ` ${VALID.slice(1)}`],
    ['a trailing newline', `${VALID.slice(0, 25)}\n`],
    ['a non-ASCII character', `${VALID.slice(0, 25)}É`],
  ];

  it.each(bad)('rejects %s with ERR_INVALID_SESSION_ID', (_what, id) => {
    expect(isCanonicalSessionId(id)).toBe(false);
    const error = rejectionOf(id);
    expect(error).toBeInstanceOf(InvalidSessionIdError);
    expect((error as InvalidSessionIdError).code).toBe('ERR_INVALID_SESSION_ID');
  });
});

describe('new session ids', () => {
  it('are canonical', () => {
    for (let i = 0; i < 10_000; i++) expect(isCanonicalSessionId(newSessionId())).toBe(true);
  });

  it('are unique', () => {
    const ids = Array.from({ length: 100_000 }, () => newSessionId());
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('are not guessable from the previous one: consecutive random parts differ in many bits, not by +1', () => {
    const ids = Array.from({ length: 2_000 }, () => newSessionId());
    let totalDistance = 0;
    for (let i = 1; i < ids.length; i++) {
      const previous = randomPart(ids[i - 1]!);
      const current = randomPart(ids[i]!);
      // A monotonic factory answers previous + 1 within one millisecond.
      expect(current - previous).not.toBe(1n);
      const distance = bitDistance(previous, current);
      expect(distance).toBeGreaterThan(10);
      totalDistance += distance;
    }
    // Independent uniform 80-bit values differ in 40 bits on average.
    const mean = totalDistance / (ids.length - 1);
    expect(mean).toBeGreaterThan(36);
    expect(mean).toBeLessThan(44);
  });

  it('use every Crockford character in every random position', () => {
    const ids = Array.from({ length: 5_000 }, () => newSessionId());
    for (let position = 10; position < 26; position++) {
      expect(new Set(ids.map((id) => id[position])).size).toBe(32);
    }
  });

  it('start with the current time, so they sort by creation time', () => {
    const before = Date.now();
    const id = newSessionId();
    const after = Date.now();
    let time = 0;
    for (const char of id.slice(0, 10)) time = time * 32 + '0123456789ABCDEFGHJKMNPQRSTVWXYZ'.indexOf(char);
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(after);
  });
});
