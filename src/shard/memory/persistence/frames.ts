/**
 * How snapshot and log files are laid out: a 16-byte header, then framed records.
 *
 *   header: "SSHD" | format version (u32 BE) | kind (u32 BE) | number (u32 BE: a log's seq, or the last log
 *           a snapshot covers)
 *   record (format 2): payload length (u64 BE) | CRC-32 of the payload (u32 BE) | CRC-32 of the 12 bytes
 *           before (u32 BE) | payload
 *   record (format 1, still read): payload length (u32 BE) | CRC-32 of the payload (u32 BE) | payload
 *
 * The frame's own checksum tells a torn or damaged length from a real one, however large: no size cap
 * is needed to reject garbage. The payload's checksum tells flipped bytes from a record. A reader keeps
 * every record before the first bad one and skips the rest of the file. Files are read one record at a
 * time, never whole, so a file may be larger than any buffer.
 */
import { constants } from 'node:buffer';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { ErrorCode } from '../../../protocol/error-codes.js';
import { PERSISTENCE_FORMAT } from '../../../protocol/persistence-files.js';
import { OperationFailure } from '../../../protocol/operation-failure.js';

export const HEADER_BYTES = 16;
/** A format 2 record's frame. */
export const FRAME_BYTES = 16;
/** A format 1 record's frame. */
const V1_FRAME_BYTES = 8;
const MAGIC = 0x53534844; // "SSHD"
/** The most bytes one `readSync` is asked for (a single read is capped below 2 GiB by the OS). */
const READ_BYTES = 1 << 30;
/** Small records are served from a read-ahead buffer of this size: one system call per many records. */
const READ_AHEAD_BYTES = 1 << 20;

/** What a file holds. */
export const FileKind = Object.freeze({ LOG: 1, SNAPSHOT: 2 } as const);
export type FileKind = (typeof FileKind)[keyof typeof FileKind];

/** The header of a new file. */
export function encodeHeader(kind: FileKind, number: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(MAGIC, 0);
  header.writeUInt32BE(PERSISTENCE_FORMAT, 4);
  header.writeUInt32BE(kind, 8);
  header.writeUInt32BE(number, 12);
  return header;
}

/** CRC-32 of `bytes`, in slices: one call over a buffer of several GiB is not something to rely on. */
function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let at = 0; at < bytes.length; at += READ_BYTES) sum = crc32(bytes.subarray(at, Math.min(bytes.length, at + READ_BYTES)), sum);
  return sum;
}

/** Writes the frame of a payload of `length` bytes whose CRC-32 is `sum` into `target` at `at`. */
function writeFrameHeader(target: Buffer, at: number, length: number, sum: number): void {
  target.writeUInt32BE(Math.floor(length / 2 ** 32), at);
  target.writeUInt32BE(length >>> 0, at + 4);
  target.writeUInt32BE(sum, at + 8);
  target.writeUInt32BE(crc32(target.subarray(at, at + 12)), at + 12);
}

/** The payload length a format 2 frame at `at` of `bytes` announces (its checksum not checked). */
export function frameLength(bytes: Buffer, at: number): number {
  return bytes.readUInt32BE(at) * 2 ** 32 + bytes.readUInt32BE(at + 4);
}

/** Writes `payload` framed into `target` at `at`; returns the offset after it. */
export function writeFrame(target: Buffer, at: number, payload: Uint8Array): number {
  writeFrameHeader(target, at, payload.length, checksum(payload));
  target.set(payload, at + FRAME_BYTES);
  return at + FRAME_BYTES + payload.length;
}

/** `payload` framed, in a buffer of its own. */
export function frame(payload: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(FRAME_BYTES + payload.length);
  writeFrame(framed, 0, payload);
  return framed;
}

/**
 * A file's records, read one at a time: `next()` returns each record's payload (a buffer of its own), then
 * `null` at the end of the file or at the first torn or corrupt record (`torn` then says why). A short or
 * bad header counts as a torn file with no records (a crash right after it was created); a file of a
 * newer format (refusing it beats misreading it) throws an `ERR_PERSISTENCE_CORRUPT` failure. Memory: one
 * record at a time, whatever the file's size.
 */
export class FrameReader {
  /** The header's number (see above); 0 for a file without a valid header. */
  readonly number: number = 0;
  /** The file's format version (0 for a file without a valid header). */
  readonly version: number = 0;
  /** Why the file's tail was skipped, or `null` while (and once) every byte was read. */
  torn: string | null = null;
  private fd: number;
  private readonly size: number;
  private at = HEADER_BYTES;
  private readonly frame = Buffer.alloc(FRAME_BYTES);
  private readonly ahead = Buffer.allocUnsafe(READ_AHEAD_BYTES);
  /** The file position of `ahead[0]`, and how many of its bytes are valid. */
  private aheadAt = 0;
  private aheadBytes = 0;

  constructor(
    path: string,
    kind: FileKind,
    private readonly what: string,
  ) {
    this.fd = openSync(path, 'r');
    try {
      this.size = fstatSync(this.fd).size;
      const header = Buffer.alloc(HEADER_BYTES);
      const got = this.size < HEADER_BYTES ? 0 : readSync(this.fd, header, 0, HEADER_BYTES, 0);
      if (got < HEADER_BYTES || header.readUInt32BE(0) !== MAGIC || header.readUInt32BE(8) !== kind) {
        this.torn = `${what}: no valid header (${this.size} bytes)`;
        this.close();
        return;
      }
      this.version = header.readUInt32BE(4);
      if (this.version > PERSISTENCE_FORMAT) {
        throw new OperationFailure(
          ErrorCode.PERSISTENCE_CORRUPT,
          `${path} has format version ${this.version}; this version of session-shards reads up to ${PERSISTENCE_FORMAT}: use a newer version`,
        );
      }
      this.number = header.readUInt32BE(12);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** The next record's payload, or `null` (the end, or a torn or corrupt record: see `torn`). */
  next(): Buffer | null {
    if (this.fd < 0) return null;
    const start = this.at;
    const frameBytes = this.version === 1 ? V1_FRAME_BYTES : FRAME_BYTES;
    if (start === this.size) return this.end(null);
    if (this.size - start < frameBytes) return this.end(`${this.what}: torn record frame at byte ${start}`);
    this.readAt(this.frame, frameBytes, start);
    let length: number;
    let sum: number;
    if (this.version === 1) {
      length = this.frame.readUInt32BE(0);
      sum = this.frame.readUInt32BE(4);
    } else {
      if (crc32(this.frame.subarray(0, 12)) !== this.frame.readUInt32BE(12))
        return this.end(`${this.what}: corrupt record frame at byte ${start} (checksum mismatch)`);
      length = frameLength(this.frame, 0);
      sum = this.frame.readUInt32BE(8);
    }
    if (start + frameBytes + length > this.size) return this.end(`${this.what}: torn record at byte ${start} (${length} bytes announced)`);
    if (length > constants.MAX_LENGTH) {
      // A whole frame, checksummed: a record, not damage; this process cannot hold it.
      throw new OperationFailure(
        ErrorCode.PERSISTENCE_CORRUPT,
        `${this.what}: the record at byte ${start} is ${length} bytes, more than a buffer of this Node.js can hold (${constants.MAX_LENGTH}); use a 64-bit Node.js 20 or newer`,
      );
    }
    const payload = Buffer.allocUnsafe(length);
    this.readAt(payload, length, start + frameBytes);
    if (checksum(payload) !== sum) return this.end(`${this.what}: corrupt record at byte ${start} (checksum mismatch)`);
    this.at = start + frameBytes + length;
    return payload;
  }

  /** Closes the file. Idempotent. */
  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }

  private end(torn: string | null): null {
    this.torn = torn;
    this.close();
    return null;
  }

  private readAt(target: Buffer, length: number, position: number): void {
    if (length <= READ_AHEAD_BYTES / 2) {
      if (position < this.aheadAt || position + length > this.aheadAt + this.aheadBytes) {
        this.aheadAt = position;
        this.aheadBytes = 0;
        const wanted = Math.min(READ_AHEAD_BYTES, this.size - position);
        while (this.aheadBytes < wanted) {
          const got = readSync(this.fd, this.ahead, this.aheadBytes, wanted - this.aheadBytes, position + this.aheadBytes);
          if (got === 0) break;
          this.aheadBytes += got;
        }
        if (this.aheadBytes < length) throw new Error(`${this.what}: the file shrank while it was read (at byte ${position + this.aheadBytes})`);
      }
      this.ahead.copy(target, 0, position - this.aheadAt, position - this.aheadAt + length);
      return;
    }
    for (let done = 0; done < length; ) {
      const got = readSync(this.fd, target, done, Math.min(READ_BYTES, length - done), position + done);
      if (got === 0) throw new Error(`${this.what}: the file shrank while it was read (at byte ${position + done})`);
      done += got;
    }
  }
}
