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

const RECORD_MARKER = 0x40 + MESSAGE_STRUCTURE;
const FLOAT64 = 0xcb;
const ROLE_BYTES: readonly Uint8Array[] = ROLES.map((role) => Buffer.from(role, 'latin1'));

/** The bytes of a record around its content: marker, role fixstr, content header, float64. */
function overheadBytes(roleBytes: number, contentHeaderBytes: number): number {
  return 1 + 1 + roleBytes + contentHeaderBytes + 9;
}

/** The str header a writer picks for content of at most `maxBytes` bytes (before it knows the exact length). */
function stringHeaderBytes(maxBytes: number): number {
  return maxBytes < 32 ? 1 : maxBytes < 0x100 ? 2 : maxBytes < 0x10000 ? 3 : 5;
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
  const contentBytes = content.length === 0 ? 0 : target.write(content, at, 'utf8');
  writeSizedStringHeader(target, headerAt, headerBytes, contentBytes);
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

function writeSizedStringHeader(target: Uint8Array, at: number, headerBytes: number, length: number): void {
  switch (headerBytes) {
    case 1:
      target[at] = 0xa0 | length;
      return;
    case 2:
      target[at] = 0xd9;
      target[at + 1] = length;
      return;
    case 3:
      target[at] = 0xda;
      target[at + 1] = length >>> 8;
      target[at + 2] = length & 0xff;
      return;
    default:
      target[at] = 0xdb;
      target[at + 1] = length >>> 24;
      target[at + 2] = (length >>> 16) & 0xff;
      target[at + 3] = (length >>> 8) & 0xff;
      target[at + 4] = length & 0xff;
  }
}

/** What `checkMessageRecord` found in a well-formed record. */
export interface MessageRecordInfo {
  /** The content's length in UTF-8 bytes. */
  contentBytes: number;
  timestamp: number;
}

/**
 * Checks that `bytes` are exactly one message record as `encodeMessageRecord` writes it: a known role,
 * well-formed UTF-8 content, a finite timestamp >= 0, nothing before or after. Returns `null` when they
 * are not, so the caller can fail its operation with its own error.
 */
export function checkMessageRecord(bytes: Uint8Array): MessageRecordInfo | null {
  if (bytes.length < overheadBytes(4, 1) || bytes[0] !== RECORD_MARKER || (bytes[1]! & 0xe0) !== 0xa0) return null;
  const roleLength = bytes[1]! & 0x1f;
  if (!isRole(bytes, roleLength)) return null;
  let at = 2 + roleLength;
  const header = bytes[at]!;
  let contentBytes: number;
  if ((header & 0xe0) === 0xa0) {
    contentBytes = header & 0x1f;
    at += 1;
  } else if (header === 0xd9) {
    contentBytes = bytes[at + 1]!;
    at += 2;
  } else if (header === 0xda) {
    contentBytes = (bytes[at + 1]! << 8) | bytes[at + 2]!;
    at += 3;
  } else if (header === 0xdb) {
    contentBytes = ((bytes[at + 1]! << 24) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 8) | bytes[at + 4]!) >>> 0;
    at += 5;
  } else {
    return null;
  }
  if (bytes.length !== at + contentBytes + 9 || bytes[at + contentBytes] !== FLOAT64) return null;
  if (!isUtf8(bytes.subarray(at, at + contentBytes))) return null;
  const timestamp = readFloat64(bytes, at + contentBytes + 1);
  if (!Number.isFinite(timestamp) || timestamp < 0) return null;
  return { contentBytes, timestamp };
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
