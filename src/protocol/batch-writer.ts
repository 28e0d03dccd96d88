/**
 * The host's encoder of batches (see `messages.ts`): each operation is written into the shard's next batch
 * as it is submitted, not collected in an array and encoded at flush. An APPEND's message goes in as
 * one message record wrapped in a bin (`message-record.ts`), written once, straight from the caller's
 * string; the shard copies those bytes into the session without decoding them. Any other argument is
 * encoded by the codec, whose output for one value is self-contained (records it defines inline are
 * defined again before each use), so the worker decodes the whole batch in one pass as before.
 */
import { encodeView } from './codec.js';
import { maxMessageRecordBytes, writeMessageRecord } from './message-record.js';
import { OP_STRIDE, OPS } from './ops.js';
import type { Role } from './model.js';
import { MsgpackWriter } from './msgpack-writer.js';

/** array32 header: the batch's length is known only when it is sealed. */
const ARRAY_HEADER_BYTES = 5;

/** A sealed batch: its bytes (the caller's to transfer) and how many operations it holds. */
export interface SealedBatch {
  bytes: Uint8Array;
  ops: number;
}

export class BatchWriter {
  private readonly writer = new MsgpackWriter();
  private ops = 0;
  /** Batches that reached `maxOps`, oldest first, waiting to be sent. */
  private readonly sealed: SealedBatch[] = [];

  /** @param maxOps - the most operations in one batch: the next goes into a new one. */
  constructor(private readonly maxOps: number) {
    this.begin();
  }

  /** Operations written and not yet taken. */
  get pendingOps(): number {
    return this.sealed.length * this.maxOps + this.ops;
  }

  /**
   * Writes one operation (`code` from `OPS`); `arg` is its wire argument (`OpCodec.encodeArgs`), any value the
   * codec encodes. Throws (writing nothing) if it cannot.
   */
  add(code: number, id: string | null, arg: unknown): void {
    if (typeof arg === 'number' || arg === null) {
      this.head(code, id);
      if (arg === null) this.writer.nil();
      else this.writer.number(arg);
    } else {
      const encoded = encodeView(arg);
      this.head(code, id);
      this.writer.raw(encoded);
    }
    this.opWritten();
  }

  /** Writes an APPEND of a checked message (see `writeMessageRecord`). */
  addAppend(id: string, role: Role, content: string, timestamp: number): void {
    this.head(OPS.append.code, id);
    const maxBytes = maxMessageRecordBytes(role, content);
    const binHeaderBytes = maxBytes < 0x100 ? 2 : maxBytes < 0x10000 ? 3 : 5;
    const start = this.writer.length;
    const target = this.writer.reserve(binHeaderBytes + maxBytes);
    const end = writeMessageRecord(target, start + binHeaderBytes, role, content, timestamp);
    const length = end - start - binHeaderBytes;
    if (binHeaderBytes === 2) {
      target[start] = 0xc4;
      target[start + 1] = length;
    } else if (binHeaderBytes === 3) {
      target[start] = 0xc5;
      target.writeUInt16BE(length, start + 1);
    } else {
      target[start] = 0xc6;
      target.writeUInt32BE(length, start + 1);
    }
    this.writer.advanceTo(end);
    this.opWritten();
  }

  /** The oldest batch not yet taken (`null` when nothing is written); the writer goes on with the next. */
  take(): SealedBatch | null {
    if (this.sealed.length > 0) return this.sealed.shift()!;
    if (this.ops === 0) return null;
    return this.seal();
  }

  /** Drops everything written and not taken. */
  clear(): void {
    this.sealed.length = 0;
    this.begin();
  }

  private head(code: number, id: string | null): void {
    this.writer.number(code);
    if (id === null) this.writer.nil();
    else this.writer.asciiString(id);
  }

  private opWritten(): void {
    if (++this.ops === this.maxOps) this.sealed.push(this.seal());
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
    this.writer.reset();
    this.writer.reserve(ARRAY_HEADER_BYTES);
    this.writer.advanceTo(ARRAY_HEADER_BYTES);
    this.ops = 0;
  }
}
