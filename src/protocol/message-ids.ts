/**
 * Minted message ids: ULIDs, unique without coordination (48 bits of time, 80 random bits drawn once per
 * millisecond, then counted up), and cheap enough to mint on every append. Unlike session ids they need not
 * be unguessable: they name a message within its session, they do not grant access to one.
 */
import { randomFillSync } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastTime = -1;
let timePart = '';
/** The random part as 16 base-32 digits, counted up within one millisecond. */
const digits = new Uint8Array(16);
/** Random bytes drawn 64 milliseconds' worth at a time: one small draw per millisecond cost more than the id. */
const randomPool = new Uint8Array(16 * 64);
let randomAt = randomPool.length;

function encodeTime(time: number): string {
  let text = '';
  for (let i = 0; i < 10; i++) {
    text = CROCKFORD[time % 32]! + text;
    time = Math.floor(time / 32);
  }
  return text;
}

/** The most milliseconds a ULID's 48-bit time part holds. */
const MAX_TIME = 2 ** 48 - 1;

/**
 * A new message id (a ULID) whose time part is `now` (a message's own timestamp, for one that had no id;
 * the clock's time when it does not fit 48 bits of whole milliseconds).
 */
export function newMessageId(now = Date.now()): string {
  if (!Number.isSafeInteger(now) || now < 0 || now > MAX_TIME) now = Math.floor(Date.now());
  if (now !== lastTime) {
    lastTime = now;
    timePart = encodeTime(now);
    if (randomAt === randomPool.length) {
      randomFillSync(randomPool);
      randomAt = 0;
    }
    // The top digit below 16 leaves room to count up without overflowing 80 bits.
    for (let i = 0; i < 16; i++) digits[i] = randomPool[randomAt + i]! & (i === 0 ? 15 : 31);
    randomAt += 16;
  } else {
    let i = 15;
    while (digits[i] === 31) digits[i--] = 0;
    digits[i]!++;
  }
  let random = '';
  for (let i = 0; i < 16; i++) random += CROCKFORD[digits[i]!];
  return timePart + random;
}
