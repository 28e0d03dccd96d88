/**
 * The layout of a shard's reply to a batch, and how to read it.
 *
 * A reply is a run of msgpack values in one buffer: the results in chunks of at most
 * `RESULTS_PER_CHUNK` (each chunk one array), then the header `[errors, expired, seq, size, chunkEnds]`,
 * then 4 bytes (big-endian) giving the header's offset. Chunks let the main thread decode a reply a
 * little at a time, handing each chunk's sessions to their callers before decoding the next: far fewer
 * decoded sessions are alive at once, so the host's young-generation GC has far less to copy.
 */
import { decode } from './codec.js';
import type { MsgpackWriter } from './msgpack-writer.js';

/** Results per chunk: small enough to keep the live set small, large enough to amortise a decode call. */
export const RESULTS_PER_CHUNK = 64;

/** The bytes after the header that locate it. */
export const TRAILER_BYTES = 4;

/** What a reply says besides its results. */
export interface ReplyHeader {
  /** `null`, or a flat `[opIndex, code, message, ...]` list; an opIndex of -1 refuses the whole batch. */
  errors: (number | string)[] | null;
  /** Ids this batch found expired and removed, or `null`. */
  expired: string[] | null;
  /** Orders this reply against the shard's events. */
  seq: number;
  /** The shard's session count after the batch. */
  size: number;
  /** The end offset of each results chunk. */
  chunkEnds: number[];
}

/** Reads the header. Throws on malformed bytes. */
export function decodeReplyHeader(bytes: Uint8Array): ReplyHeader {
  if (bytes.length < TRAILER_BYTES) throw new RangeError('reply: shorter than its trailer');
  const end = bytes.length - TRAILER_BYTES;
  const at = ((bytes[end]! << 24) | (bytes[end + 1]! << 16) | (bytes[end + 2]! << 8) | bytes[end + 3]!) >>> 0;
  if (at > end) throw new RangeError('reply: header offset out of range');
  const header = decode(bytes.subarray(at, end));
  if (!Array.isArray(header) || header.length !== 5 || !Array.isArray(header[4])) throw new TypeError('reply: malformed header');
  const [errors, expired, seq, size, chunkEnds] = header as [ReplyHeader['errors'], ReplyHeader['expired'], number, number, number[]];
  return { errors, expired, seq, size, chunkEnds };
}

/** Decodes results chunk number `index`. */
export function decodeReplyChunk(bytes: Uint8Array, header: ReplyHeader, index: number): unknown[] {
  const start = index === 0 ? 0 : header.chunkEnds[index - 1]!;
  const chunk = decode(bytes.subarray(start, header.chunkEnds[index]!));
  if (!Array.isArray(chunk)) throw new TypeError('reply: malformed results chunk');
  return chunk;
}

/** Decodes a whole reply at once (for small replies: the start-up ping, tools, tests). */
export function decodeReply(bytes: Uint8Array): ReplyHeader & { results: unknown[] } {
  const header = decodeReplyHeader(bytes);
  const results: unknown[] = [];
  for (let i = 0; i < header.chunkEnds.length; i++) results.push(...decodeReplyChunk(bytes, header, i));
  return { ...header, results };
}

/**
 * Ends a reply whose result chunks `writer` already holds: writes the header, then the trailer locating it.
 * Both kinds of shard worker (memory and Redis) end their replies with it.
 */
export function writeReplyTail(writer: MsgpackWriter, header: ReplyHeader): void {
  const headerAt = writer.length;
  writer.arrayHeader(5);
  if (header.errors === null) writer.nil();
  else {
    writer.arrayHeader(header.errors.length);
    for (const item of header.errors) {
      if (typeof item === 'number') writer.number(item);
      else writer.string(item);
    }
  }
  if (header.expired === null) writer.nil();
  else {
    writer.arrayHeader(header.expired.length);
    for (const id of header.expired) writer.string(id);
  }
  writer.number(header.seq);
  writer.number(header.size);
  writer.arrayHeader(header.chunkEnds.length);
  for (const end of header.chunkEnds) writer.number(end);
  writer.uint32(headerAt);
}
