/**
 * A message as the bytes every side keeps it in: one msgpack Message record (see `codec.ts`), laid out
 * exactly so: the record marker, the role as a fixstr, the content as a str, the timestamp as a float64.
 *
 * The host encodes an appended message into these bytes once; a shard checks them and copies them into
 * the session's log as they are, and a read copies them out again. No side decodes the content into a
 * string and encodes it back (which was a fifth of a shard's time per append).
 */
import { isUtf8 } from 'node:buffer';
import { MESSAGE_STRUCTURE } from './codec.js';
import { ROLES, type Role } from './model.js';
import { stringHeaderBytes, writeStringHeaderOfSize } from './msgpack-writer.js';

const RECORD_MARKER = 0x40 + MESSAGE_STRUCTURE;
const FLOAT64 = 0xcb;
const ROLE_BYTES: readonly Uint8Array[] = ROLES.map((role) => Buffer.from(role, 'latin1'));

/** The bytes of a record around its content: marker, role fixstr, content header, float64. */
function overheadBytes(roleBytes: number, contentHeaderBytes: number): number {
  return 1 + 1 + roleBytes + contentHeaderBytes + 9;
}

function roleBytesOf(role: Role): Uint8Array {
  return ROLE_BYTES[ROLES.indexOf(role)]!;
}

/** The most bytes `writeMessageRecord` may write for this message (UTF-8 takes at most 3 bytes a UTF-16 unit). */
export function maxMessageRecordBytes(role: Role, content: string): number {
  const maxContentBytes = content.length * 3;
  return overheadBytes(roleBytesOf(role).length, stringHeaderBytes(maxContentBytes)) + maxContentBytes;
}

/**
 * Writes a message the caller has checked (well-formed content, a finite timestamp >= 0) as one record
 * at `at`, with room for `maxMessageRecordBytes`; returns the position after it. The content is written
 * once, straight from the string: its str header is sized for the most bytes it could take, then set to
 * the bytes it took (so a 200-byte content may carry a 3-byte header where 2 would do).
 */
export function writeMessageRecord(target: Buffer, at: number, role: Role, content: string, timestamp: number): number {
  const roleBytes = roleBytesOf(role);
  target[at++] = RECORD_MARKER;
  target[at++] = 0xa0 | roleBytes.length;
  target.set(roleBytes, at);
  at += roleBytes.length;
  const headerAt = at;
  const headerBytes = stringHeaderBytes(content.length * 3);
  at += headerBytes;
  const contentBytes = target.write(content, at, 'utf8');
  writeStringHeaderOfSize(target, headerAt, headerBytes, contentBytes);
  at += contentBytes;
  target[at++] = FLOAT64;
  target.writeDoubleBE(timestamp, at);
  return at + 8;
}

/** A message as a record in a fresh buffer of its own (see `writeMessageRecord`). */
export function encodeMessageRecord(role: Role, content: string, timestamp: number): Uint8Array {
  const record = Buffer.allocUnsafe(maxMessageRecordBytes(role, content));
  return record.subarray(0, writeMessageRecord(record, 0, role, content, timestamp));
}

/**
 * Checks that `bytes` are exactly one message record as `encodeMessageRecord` writes it: a known role,
 * well-formed UTF-8 content, a finite timestamp >= 0, nothing before or after. Returns the content's
 * length in UTF-8 bytes, or -1 when they are not, so the caller can fail its operation with its own
 * error. A number, not an object: a shard checks every append, and each object it allocates per append is
 * garbage its thread collects.
 */
export function checkMessageRecord(bytes: Uint8Array): number {
  if (bytes.length < overheadBytes(4, 1) || bytes[0] !== RECORD_MARKER || (bytes[1]! & 0xe0) !== 0xa0) return -1;
  const roleLength = bytes[1]! & 0x1f;
  if (!isRole(bytes, roleLength)) return -1;
  let at = 2 + roleLength;
  const headerBytes = stringHeaderBytesAt(bytes[at]!);
  if (headerBytes === 0) return -1;
  const contentBytes = stringLengthAt(bytes, at, headerBytes);
  at += headerBytes;
  if (bytes.length !== at + contentBytes + 9 || bytes[at + contentBytes] !== FLOAT64) return -1;
  // A view for the SIMD check rather than a loop here: with the view the whole check of a 200-byte message
  // took ~105 ns; with a loop that skipped the view for plain ASCII, ~225 ns (less garbage, more time).
  if (!isUtf8(bytes.subarray(at, at + contentBytes))) return -1;
  const timestamp = readFloat64(bytes, at + contentBytes + 1);
  if (!Number.isFinite(timestamp) || timestamp < 0) return -1;
  return contentBytes;
}

/**
 * Where the record starting at `at` ends, for a reader that skips records without decoding them. It
 * trusts the bytes: they passed `checkMessageRecord` (or were written by `writeMessageRecord`).
 */
export function messageRecordEnd(bytes: Uint8Array, at: number): number {
  at += 2 + (bytes[at + 1]! & 0x1f); // the record marker, the role fixstr
  const headerBytes = stringHeaderBytesAt(bytes[at]!);
  return at + headerBytes + stringLengthAt(bytes, at, headerBytes) + 9; // content, then the float64 timestamp
}

/** The size of the str header whose first byte is `first`: 1, 2, 3 or 5; 0 when it is no str header. */
function stringHeaderBytesAt(first: number): number {
  return (first & 0xe0) === 0xa0 ? 1 : first === 0xd9 ? 2 : first === 0xda ? 3 : first === 0xdb ? 5 : 0;
}

/** The length announced by the str header of `headerBytes` at `at`. */
function stringLengthAt(bytes: Uint8Array, at: number, headerBytes: number): number {
  switch (headerBytes) {
    case 1:
      return bytes[at]! & 0x1f;
    case 2:
      return bytes[at + 1]!;
    case 3:
      return (bytes[at + 1]! << 8) | bytes[at + 2]!;
    default:
      return ((bytes[at + 1]! << 24) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 8) | bytes[at + 4]!) >>> 0;
  }
}

function isRole(bytes: Uint8Array, length: number): boolean {
  next: for (const role of ROLE_BYTES) {
    if (role.length !== length) continue;
    for (let i = 0; i < length; i++) if (bytes[2 + i] !== role[i]) continue next;
    return true;
  }
  return false;
}

const float64 = new Float64Array(1);
const float64Bytes = new Uint8Array(float64.buffer);
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** A big-endian float64 from any Uint8Array, with no view allocated per call. */
function readFloat64(bytes: Uint8Array, at: number): number {
  for (let i = 0; i < 8; i++) float64Bytes[LITTLE_ENDIAN ? 7 - i : i] = bytes[at + i]!;
  return float64[0]!;
}
