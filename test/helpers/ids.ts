/** Session-id helpers shared by unit and integration tests. */

/** Crockford base32, in value order. */
export const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** The 80-bit random part of a ULID (its last 16 characters) as a bigint. */
export function randomPart(id: string): bigint {
  let value = 0n;
  for (const char of id.slice(10)) value = value * 32n + BigInt(CROCKFORD.indexOf(char));
  return value;
}

/** How many bits differ between two bigints. */
export function bitDistance(a: bigint, b: bigint): number {
  let x = a ^ b;
  let bits = 0;
  while (x > 0n) {
    bits += Number(x & 1n);
    x >>= 1n;
  }
  return bits;
}

/** A canonical id that no engine has issued (all zeros in the random part, time 0). */
export const NEVER_ISSUED_ID = '00000000000000000000000000';
