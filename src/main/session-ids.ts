/**
 * Session ids: ULIDs whose random part comes from a CSPRNG, never from a monotonic factory (whose next
 * id is the last one plus one, so guessable).
 *
 * `ulid()`'s default source asks the CSPRNG for every character, which is slow; drawing the same CSPRNG's
 * bytes from a pooled `randomFillSync` buffer is about a hundred times cheaper and as random.
 */
import { randomFillSync } from 'node:crypto';
import { ulid } from 'ulid';

const pool = new Uint8Array(4096);
let next = pool.length;

/** A uniform fraction in [0, 1) with 8 bits of CSPRNG entropy: ulid maps it to one of 32 characters. */
function pooledRandom(): number {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  return pool[next++]! / 256;
}

/** A new session id: 48 bits of time, 80 bits from the CSPRNG. */
export function newSessionId(): string {
  return ulid(undefined, pooledRandom);
}

/** Crockford base32, uppercase, and a first character of at most 7 (the 128-bit bound). */
const CANONICAL_ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

/** Whether `id` is a ULID in the one canonical form the engine accepts as a key. */
export function isCanonicalSessionId(id: unknown): id is string {
  return typeof id === 'string' && id.length === 26 && CANONICAL_ULID.test(id);
}
