/**
 * How snapshot and log files are laid out: a 16-byte header, then framed records.
 *
 *   header: "SSHD" | format version (u32 BE) | kind (u32 BE) | number (u32 BE: a log's seq, or the last log
 *           a snapshot covers)
 *   record: payload length (u32 BE) | CRC-32 of the payload (u32 BE) | payload (one msgpack value)
 *
 * The length and checksum let a reader tell a torn write (a crash mid-append) or flipped bytes from a
 * record: it keeps every record before the first bad one and skips the rest of the file.
 */
import { crc32 } from 'node:zlib';
import { PERSISTENCE_FORMAT } from '../../../protocol/persistence-files.js';

export const HEADER_BYTES = 16;
export const FRAME_BYTES = 8;
const MAGIC = 0x53534844; // "SSHD"

/** What a file holds. */
export const FileKind = Object.freeze({ LOG: 1, SNAPSHOT: 2 } as const);
export type FileKind = (typeof FileKind)[keyof typeof FileKind];

/** A record larger than this is taken for corruption rather than allocated. */
const MAX_RECORD_BYTES = 1 << 30;

/** The header of a new file. */
export function encodeHeader(kind: FileKind, number: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(MAGIC, 0);
  header.writeUInt32BE(PERSISTENCE_FORMAT, 4);
  header.writeUInt32BE(kind, 8);
  header.writeUInt32BE(number, 12);
  return header;
}

/** Writes `payload` framed into `target` at `at`; returns the offset after it. */
export function writeFrame(target: Buffer, at: number, payload: Uint8Array): number {
  target.writeUInt32BE(payload.length, at);
  target.writeUInt32BE(crc32(payload), at + 4);
  target.set(payload, at + FRAME_BYTES);
  return at + FRAME_BYTES + payload.length;
}

/** `payload` framed, in a buffer of its own. */
export function frame(payload: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(FRAME_BYTES + payload.length);
  writeFrame(framed, 0, payload);
  return framed;
}

/** A file's records, as far as they could be read. */
export interface ReadFile {
  /** The header's number (see above). */
  number: number;
  /** Each record's payload, a view into the file's bytes. */
  payloads: Uint8Array[];
  /** Why the file's tail was skipped, or `null` when every byte was read. */
  torn: string | null;
}

/** A file written by a newer version of this library: refusing it beats misreading it. */
export class UnsupportedFormatError extends Error {}

/**
 * Reads the records of a file's bytes. A short or bad header counts as a torn file with no records
 * (a crash right after it was created); a newer format throws `UnsupportedFormatError`.
 */
export function readFrames(bytes: Uint8Array, kind: FileKind, what: string): ReadFile {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.length < HEADER_BYTES || view.readUInt32BE(0) !== MAGIC || view.readUInt32BE(8) !== kind) {
    return { number: 0, payloads: [], torn: `${what}: no valid header (${view.length} bytes)` };
  }
  const version = view.readUInt32BE(4);
  if (version > PERSISTENCE_FORMAT) {
    throw new UnsupportedFormatError(`${what} has format version ${version}; this version of session-shards reads up to ${PERSISTENCE_FORMAT}`);
  }
  const payloads: Uint8Array[] = [];
  let at = HEADER_BYTES;
  while (at < view.length) {
    if (view.length - at < FRAME_BYTES) return { number: view.readUInt32BE(12), payloads, torn: `${what}: torn record frame at byte ${at}` };
    const length = view.readUInt32BE(at);
    const sum = view.readUInt32BE(at + 4);
    if (length > MAX_RECORD_BYTES || at + FRAME_BYTES + length > view.length) {
      return { number: view.readUInt32BE(12), payloads, torn: `${what}: torn record at byte ${at} (${length} bytes announced)` };
    }
    const payload = view.subarray(at + FRAME_BYTES, at + FRAME_BYTES + length);
    if (crc32(payload) !== sum) return { number: view.readUInt32BE(12), payloads, torn: `${what}: corrupt record at byte ${at} (checksum mismatch)` };
    payloads.push(payload);
    at += FRAME_BYTES + length;
  }
  return { number: view.readUInt32BE(12), payloads, torn: null };
}
