/**
 * A minimal msgpack writer for the shard's replies.
 *
 * Replies are mostly sessions whose parts were encoded once, when they were stored: writing a reply is
 * copying those bytes, not re-encoding every message on every read. The output is plain msgpack plus
 * msgpackr's shared records (see `codec.ts`), so the main side decodes it with the one codec.
 */
import { constants } from 'node:buffer';

export class MsgpackWriter {
  private buffer: Buffer;
  private position = 0;

  /**
   * @param initialBytes - the buffer's size to start with, and what `shrink()` goes back to.
   * @param maxBytes - the most the buffer may grow to: writing past it throws a RangeError (writing nothing).
   */
  constructor(
    private readonly initialBytes = 64 * 1024,
    private readonly maxBytes: number = constants.MAX_LENGTH,
  ) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  /** The bytes the buffer holds, written or not. */
  get capacity(): number {
    return this.buffer.length;
  }

  /** Gives a buffer grown past `initialBytes` back (keeping nothing written): after a burst of large writes. */
  shrink(): void {
    this.position = 0;
    if (this.buffer.length > this.initialBytes) this.buffer = Buffer.allocUnsafe(this.initialBytes);
  }

  /** Starts a new message, reusing the buffer. */
  reset(): void {
    this.position = 0;
  }

  /** Bytes written since `reset()`. */
  get length(): number {
    return this.position;
  }

  /** A 4-byte big-endian unsigned integer, outside msgpack (a reply's trailer). */
  uint32(value: number): void {
    this.ensure(4);
    this.buffer.writeUInt32BE(value, this.position);
    this.position += 4;
  }

  /** The bytes written since `reset()`, in a fresh buffer the caller owns (it may be transferred). */
  finish(): Uint8Array {
    const owned = new Uint8Array(this.position);
    owned.set(this.buffer.subarray(0, this.position));
    return owned;
  }

  private ensure(bytes: number): void {
    const needed = this.position + bytes;
    if (needed <= this.buffer.length) return;
    if (needed > this.maxBytes) throw new RangeError(`a message of ${needed} bytes would pass the writer's limit (${this.maxBytes} bytes)`);
    // Doubling, but never past the limit: a buffer that could hold the message must not fail to grow.
    const grown = Buffer.allocUnsafe(Math.min(Math.max(needed, this.buffer.length * 2), this.maxBytes));
    this.buffer.copy(grown, 0, 0, this.position);
    this.buffer = grown;
  }

  nil(): void {
    this.ensure(1);
    this.buffer[this.position++] = 0xc0;
  }

  boolean(value: boolean): void {
    this.ensure(1);
    this.buffer[this.position++] = value ? 0xc3 : 0xc2;
  }

  /** Non-negative integers below 2^32 as msgpack ints, anything else as a float64 (exact for safe integers). */
  number(value: number): void {
    this.ensure(9);
    const b = this.buffer;
    if (value >= 0 && value < 0x1_0000_0000 && Number.isInteger(value)) {
      // 0x40-0x7f are record references under msgpackr's records: only 0-0x3f may be fixints.
      if (value < 0x40) b[this.position++] = value;
      else if (value < 0x100) {
        b[this.position++] = 0xcc;
        b[this.position++] = value;
      } else if (value < 0x10000) {
        b[this.position++] = 0xcd;
        b.writeUInt16BE(value, this.position);
        this.position += 2;
      } else {
        b[this.position++] = 0xce;
        b.writeUInt32BE(value, this.position);
        this.position += 4;
      }
      return;
    }
    b[this.position++] = 0xcb;
    b.writeDoubleBE(value, this.position);
    this.position += 8;
  }

  string(value: string): void {
    const length = Buffer.byteLength(value, 'utf8');
    this.ensure(length + 5);
    this.position = writeStringHeader(this.buffer, this.position, length);
    this.position += this.buffer.write(value, this.position, length, 'utf8');
  }

  arrayHeader(length: number): void {
    this.ensure(5);
    const b = this.buffer;
    if (length < 16) b[this.position++] = 0x90 | length;
    else if (length < 0x10000) {
      b[this.position++] = 0xdc;
      b.writeUInt16BE(length, this.position);
      this.position += 2;
    } else {
      b[this.position++] = 0xdd;
      b.writeUInt32BE(length, this.position);
      this.position += 4;
    }
  }

  /** A record of the codec's shared structure number `structure`; its fields follow, in the structure's order. */
  recordHeader(structure: number): void {
    this.ensure(1);
    this.buffer[this.position++] = 0x40 + structure;
  }

  /**
   * Room for `bytes` more bytes, for a caller that writes them straight into the returned buffer from
   * `length` on, then calls `advanceTo` with the position after them.
   */
  reserve(bytes: number): Buffer {
    this.ensure(bytes);
    return this.buffer;
  }

  /** Ends a direct write begun with `reserve`. */
  advanceTo(position: number): void {
    this.position = position;
  }

  /** A string the caller knows is ASCII (a session id): a loop beats two native calls at this length. */
  asciiString(value: string): void {
    const length = value.length;
    this.ensure(length + 5);
    const b = this.buffer;
    let at = writeStringHeader(b, this.position, length);
    for (let i = 0; i < length; i++) b[at++] = value.charCodeAt(i);
    this.position = at;
  }

  /** Bytes that already are msgpack values. */
  raw(bytes: Uint8Array, start = 0, end = bytes.length): void {
    this.ensure(end - start);
    this.buffer.set(bytes.subarray(start, end), this.position);
    this.position += end - start;
  }
}

/** The size of the shortest str header for `length` bytes: 1, 2, 3 or 5. */
export function stringHeaderBytes(length: number): number {
  return length < 32 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
}

/** Writes the shortest msgpack str header for `length` UTF-8 bytes at `position`; returns the position after it. */
export function writeStringHeader(target: Uint8Array, position: number, length: number): number {
  return writeStringHeaderOfSize(target, position, stringHeaderBytes(length), length);
}

/**
 * Writes a str header of `headerBytes` (1, 2, 3 or 5, at least `stringHeaderBytes(length)`) for `length`
 * bytes at `position`; returns the position after it. A longer header than needed is still msgpack: a
 * writer that sizes the header before it knows the length uses it.
 */
export function writeStringHeaderOfSize(target: Uint8Array, position: number, headerBytes: number, length: number): number {
  switch (headerBytes) {
    case 1:
      target[position] = 0xa0 | length;
      break;
    case 2:
      target[position] = 0xd9;
      target[position + 1] = length;
      break;
    case 3:
      target[position] = 0xda;
      target[position + 1] = length >>> 8;
      target[position + 2] = length & 0xff;
      break;
    default:
      target[position] = 0xdb;
      target[position + 1] = length >>> 24;
      target[position + 2] = (length >>> 16) & 0xff;
      target[position + 3] = (length >>> 8) & 0xff;
      target[position + 4] = length & 0xff;
  }
  return position + headerBytes;
}
