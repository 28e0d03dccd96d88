/**
 * The host's encoder of batches (see `messages.ts`): each operation is written into the shard's next batch
 * as it is submitted, not collected in an array and encoded at flush. An APPEND's message goes in as
 * one message record wrapped in a bin (`message-record.ts`), written once, straight from the caller's
 * string; the shard copies those bytes into the session without decoding them. Any other argument is
 * encoded by the codec, whose output for one value is self-contained (records it defines inline are
 * defined again before each use), so the worker decodes the whole batch in one pass as before.
 */
import { encodeView } from './codec.js';
import {
  type EncodableMessage,
  maxMessageRecordBytes,
  messageRecordBytes,
  writeBinHeader,
  writeEncodableRecord,
  writeMessageRecord,
} from './message-record.js';
import { OP_STRIDE, OPS } from './ops.js';
import type { Role } from './model.js';
import { MsgpackWriter } from './msgpack-writer.js';

/** array32 header: the batch's length is known only when it is sealed. */
const ARRAY_HEADER_BYTES = 5;

/**
 * A batch is sealed once it holds this many bytes, and an operation that would take it past them starts a
 * new one: a burst of large operations goes out as batches a shard applies (and logs, and fsyncs) in a
 * bounded time each, and the writer's buffer stays small between bursts.
 */
export const MAX_BATCH_BYTES = 4 * 1_048_576;

/** The writer's buffer past which a sealed batch gives it back (see `MsgpackWriter.shrink`). */
const SHRINK_ABOVE_BYTES = 2 * MAX_BATCH_BYTES;

/** A sealed batch: its bytes (the caller's to transfer) and how many operations it holds. */
/**
 * The arguments of an operation that carries new messages (`BatchWriter.addMessages`): numbers, arrays of
 * booleans, and arrays of messages, which are written as their records.
 */
export type MessagesArgs = readonly (number | readonly boolean[] | readonly EncodableMessage[])[];

export interface SealedBatch {
  bytes: Uint8Array;
  ops: number;
}

export class BatchWriter {
  private readonly writer: MsgpackWriter;
  private ops = 0;
  /** Operations of `sealed`. */
  private sealedOps = 0;
  /** Batches sealed (full in ops or bytes), oldest first, waiting to be sent. */
  private readonly sealed: SealedBatch[] = [];

  /**
   * @param maxOps - the most operations in one batch: the next goes into a new one.
   * @param maxBufferBytes - the most the writer's buffer may hold (a test lowers it): an operation that
   *   needs more throws, writing nothing.
   */
  constructor(
    private readonly maxOps: number,
    maxBufferBytes?: number,
  ) {
    this.writer = new MsgpackWriter(64 * 1024, maxBufferBytes);
    this.begin();
  }

  /** Operations written and not yet taken. */
  get pendingOps(): number {
    return this.sealedOps + this.ops;
  }

  /** The bytes the writer's buffer holds (written or not). */
  get bufferBytes(): number {
    return this.writer.capacity;
  }

  /**
   * Writes one operation; `arg` is any value the codec encodes. Throws (writing nothing: the batch is as
   * it was) if it cannot.
   */
  add(code: number, id: string | null, arg: unknown): void {
    const encoded = typeof arg === 'number' || arg === null ? null : encodeView(arg);
    // The codec's view stays valid across a seal: sealing encodes nothing.
    if (encoded !== null && this.ops > 0 && this.writer.length + encoded.length > MAX_BATCH_BYTES) this.sealPending();
    const start = this.writer.length;
    try {
      this.head(code, id);
      if (encoded !== null) this.writer.raw(encoded);
      else if (arg === null) this.writer.nil();
      else this.writer.number(arg as number);
    } catch (error) {
      this.writer.advanceTo(start);
      throw error;
    }
    this.opWritten();
  }

  /**
   * Writes an APPEND of a checked message (see `writeMessageRecord`). Throws (writing nothing: the batch is
   * as it was) if the writer cannot take it.
   */
  addAppend(id: string, messageId: string, role: Role, content: string, timestamp: number): void {
    const maxBytes = maxMessageRecordBytes(messageId, role, content);
    if (this.ops > 0 && this.writer.length + maxBytes > MAX_BATCH_BYTES) this.sealPending();
    const start = this.writer.length;
    try {
      this.head(OPS.append.code, id);
      const binHeaderBytes = maxBytes < 0x100 ? 2 : maxBytes < 0x10000 ? 3 : 5;
      const at = this.writer.length;
      const target = this.writer.reserve(binHeaderBytes + maxBytes);
      const end = writeMessageRecord(target, at + binHeaderBytes, messageId, role, content, timestamp);
      const length = end - at - binHeaderBytes;
      if (binHeaderBytes === 2) {
        target[at] = 0xc4;
        target[at + 1] = length;
      } else if (binHeaderBytes === 3) {
        target[at] = 0xc5;
        target.writeUInt16BE(length, at + 1);
      } else {
        target[at] = 0xc6;
        target.writeUInt32BE(length, at + 1);
      }
      this.writer.advanceTo(end);
    } catch (error) {
      this.writer.advanceTo(start);
      throw error;
    }
    this.opWritten();
  }

  /**
   * Writes an operation that carries new messages (APPEND_MANY, SPLICE), its arguments laid out as its
   * `encodeArgs` lays them out, with each message's record written straight into the batch: no buffer of
   * its own, no second encoding. Throws (writing nothing: the batch is as it was) if it cannot.
   */
  addMessages(code: number, id: string, args: MessagesArgs): void {
    let bytes = 16;
    for (const arg of args) {
      if (typeof arg === 'number') bytes += 9;
      else {
        bytes += 5 + arg.length;
        for (const item of arg) if (typeof item !== 'boolean') bytes += 5 + messageRecordBytes(item);
      }
    }
    if (this.ops > 0 && this.writer.length + bytes > MAX_BATCH_BYTES) this.sealPending();
    const start = this.writer.length;
    try {
      this.head(code, id);
      const writer = this.writer;
      writer.arrayHeader(args.length);
      for (const arg of args) {
        if (typeof arg === 'number') {
          writer.number(arg);
          continue;
        }
        writer.arrayHeader(arg.length);
        for (const item of arg) {
          if (typeof item === 'boolean') {
            writer.boolean(item);
            continue;
          }
          const length = messageRecordBytes(item);
          const at = writer.length;
          const target = writer.reserve(5 + length);
          const recordAt = writeBinHeader(target, at, length);
          const end = writeEncodableRecord(target, recordAt, item);
          if (end !== recordAt + length) throw new Error(`a message record took ${end - recordAt} bytes, not the ${length} it was sized for`);
          writer.advanceTo(end);
        }
      }
    } catch (error) {
      this.writer.advanceTo(start);
      throw error;
    }
    this.opWritten();
  }

  /** The oldest batch not yet taken (`null` when nothing is written); the writer goes on with the next. */
  take(): SealedBatch | null {
    if (this.sealed.length > 0) {
      const batch = this.sealed.shift()!;
      this.sealedOps -= batch.ops;
      return batch;
    }
    if (this.ops === 0) return null;
    return this.seal();
  }

  /** Drops everything written and not taken. */
  clear(): void {
    this.sealed.length = 0;
    this.sealedOps = 0;
    this.begin();
  }

  private head(code: number, id: string | null): void {
    this.writer.number(code);
    if (id === null) this.writer.nil();
    else this.writer.asciiString(id);
  }

  private opWritten(): void {
    if (++this.ops === this.maxOps || this.writer.length >= MAX_BATCH_BYTES) this.sealPending();
  }

  /** Seals the batch in progress into `sealed`; what is written next goes into a new one. */
  private sealPending(): void {
    const batch = this.seal();
    this.sealed.push(batch);
    this.sealedOps += batch.ops;
  }

  private seal(): SealedBatch {
    const bytes = this.writer.finish();
    // array32: 0xdd, then the element count, big-endian.
    bytes[0] = 0xdd;
    new DataView(bytes.buffer, bytes.byteOffset, bytes.length).setUint32(1, this.ops * OP_STRIDE);
    const batch = { bytes, ops: this.ops };
    this.begin();
    return batch;
  }

  private begin(): void {
    if (this.writer.capacity > SHRINK_ABOVE_BYTES) this.writer.shrink();
    this.writer.reset();
    this.writer.reserve(ARRAY_HEADER_BYTES);
    this.writer.advanceTo(ARRAY_HEADER_BYTES);
    this.ops = 0;
  }
}
