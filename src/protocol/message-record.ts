/**
 * A message as the bytes every side keeps it in: one msgpack Message record (see `codec.ts`), laid out
 * exactly so:
 *
 *   marker   0x40 + MESSAGE_STRUCTURE_V2 (no metadata) or MESSAGE_STRUCTURE_V2_META
 *   id       str, 1-128 printable ASCII bytes
 *   role     fixstr
 *   content  str (a plain string) or bin (the UTF-8 JSON text of an array of content parts)
 *   time     float64
 *   metadata bin (UTF-8 JSON text of an object), with the _META marker only
 *
 * Every field is delimited by its own header, so a reader finds a record's end from a few header bytes
 * (`messageRecordEnd`) without reading its content. Content parts and metadata travel as JSON text in a
 * bin: a shard checks and copies them as bytes, and the host parses them once, when a read returns them
 * (`readMessageJson`). The host encodes an appended message into these bytes once; a shard checks them and
 * copies them into the session's log as they are, and a read copies them out again.
 *
 * Records of the first format (`MESSAGE_STRUCTURE`: role, content, timestamp; no id) are still read from
 * old logs and snapshots: `upgradeLegacyRecord` gives them an id.
 */
import { isUtf8 } from 'node:buffer';
import { MESSAGE_STRUCTURE, MESSAGE_STRUCTURE_V2, MESSAGE_STRUCTURE_V2_META } from './codec.js';
import type { ContentPart, JsonObject } from './content.js';
import { ROLES, type Message, type Role } from './model.js';
import { stringHeaderBytes, writeStringHeaderOfSize } from './msgpack-writer.js';

const LEGACY_MARKER = 0x40 + MESSAGE_STRUCTURE;
const MARKER = 0x40 + MESSAGE_STRUCTURE_V2;
const META_MARKER = 0x40 + MESSAGE_STRUCTURE_V2_META;
const FLOAT64 = 0xcb;
const ROLE_BYTES: readonly Uint8Array[] = ROLES.map((role) => Buffer.from(role, 'latin1'));
/** The longest message id, in bytes (printable ASCII). */
export const MAX_MESSAGE_ID_LENGTH = 128;
/**
 * The most bytes from a record's start to its content: marker, id (str8 header and 128 bytes), role
 * fixstr, the content's header. A reader that holds this many bytes of a record can find its content.
 */
export const MAX_RECORD_HEAD_BYTES = 1 + 2 + MAX_MESSAGE_ID_LENGTH + 1 + 9 + 5;
/** The most bytes of a bin header. */
export const MAX_BIN_HEADER_BYTES = 5;

function roleBytesOf(role: Role): Uint8Array {
  return ROLE_BYTES[ROLES.indexOf(role)]!;
}

function idHeaderBytes(id: string): number {
  return id.length < 32 ? 1 : 2;
}

/** The most bytes `writeMessageRecord` may write for this message (UTF-8 takes at most 3 bytes a UTF-16 unit). */
export function maxMessageRecordBytes(id: string, role: Role, content: string): number {
  const maxContentBytes = content.length * 3;
  return 1 + idHeaderBytes(id) + id.length + 1 + roleBytesOf(role).length + stringHeaderBytes(maxContentBytes) + maxContentBytes + 9;
}

function writeHead(target: Uint8Array, at: number, marker: number, id: string, role: Role): number {
  target[at++] = marker;
  if (id.length < 32) target[at++] = 0xa0 | id.length;
  else {
    target[at++] = 0xd9;
    target[at++] = id.length;
  }
  for (let i = 0; i < id.length; i++) target[at++] = id.charCodeAt(i);
  const roleBytes = roleBytesOf(role);
  target[at++] = 0xa0 | roleBytes.length;
  target.set(roleBytes, at);
  return at + roleBytes.length;
}

function writeBin(target: Buffer, at: number, bytes: Uint8Array): number {
  at = writeBinHeader(target, at, bytes.length);
  target.set(bytes, at);
  return at + bytes.length;
}

/**
 * Writes a plain-string message the caller has checked (an id of printable ASCII, well-formed content,
 * a finite timestamp >= 0) as one record at `at`, with room for `maxMessageRecordBytes`; returns the
 * position after it. The content is written once, straight from the string: its str header is sized for
 * the most bytes it could take, then set to the bytes it took.
 */
export function writeMessageRecord(target: Buffer, at: number, id: string, role: Role, content: string, timestamp: number): number {
  at = writeHead(target, at, MARKER, id, role);
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

/**
 * JSON text kept as the string `JSON.stringify` made, with its UTF-8 length: a record takes it as bin
 * bytes written straight from the string, with no buffer of its own in between.
 */
export class JsonText {
  /** Its length in UTF-8 bytes. */
  readonly bytes: number;
  constructor(readonly text: string) {
    this.bytes = Buffer.byteLength(text, 'utf8');
  }
}

/** A message ready to be encoded: content parts and metadata as their JSON text (UTF-8 bytes, or a `JsonText`). */
export interface EncodableMessage {
  id: string;
  role: Role;
  content: string | Uint8Array | JsonText;
  timestamp: number;
  metadata: Uint8Array | JsonText | null;
}

function binHeaderBytes(length: number): number {
  return length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
}

/** Writes a msgpack bin header for `length` bytes at `at`; returns the position after it. */
export function writeBinHeader(target: Buffer, at: number, length: number): number {
  if (length < 0x100) {
    target[at++] = 0xc4;
    target[at++] = length;
  } else if (length < 0x10000) {
    target[at++] = 0xc5;
    target.writeUInt16BE(length, at);
    at += 2;
  } else {
    target[at++] = 0xc6;
    target.writeUInt32BE(length, at);
    at += 4;
  }
  return at;
}

function writeJson(target: Buffer, at: number, json: Uint8Array | JsonText): number {
  if (json instanceof Uint8Array) return writeBin(target, at, json);
  at = writeBinHeader(target, at, json.bytes);
  return at + target.write(json.text, at, 'utf8');
}

function contentBytesOf(content: string | Uint8Array | JsonText): number {
  return typeof content === 'string' ? Buffer.byteLength(content, 'utf8') : content instanceof Uint8Array ? content.length : content.bytes;
}

/**
 * The bytes of a string content's str header. A plain message's (no metadata) is sized for the most bytes
 * its string could take, as `writeMessageRecord` writes it, so that a message has one encoding whichever
 * way it was written: a retried append is recognised by its bytes.
 */
function stringContentHeaderBytes(content: string, contentBytes: number, metadata: unknown): number {
  return stringHeaderBytes(metadata === null ? content.length * 3 : contentBytes);
}

/** The exact length of `message`'s record, in bytes. */
export function messageRecordBytes(message: EncodableMessage): number {
  const { id, role, content, metadata } = message;
  const contentBytes = contentBytesOf(content);
  const contentHeader = typeof content === 'string' ? stringContentHeaderBytes(content, contentBytes, metadata) : binHeaderBytes(contentBytes);
  const metadataBytes = metadata === null ? 0 : metadata instanceof Uint8Array ? metadata.length : metadata.bytes;
  return (
    1 +
    idHeaderBytes(id) +
    id.length +
    1 +
    roleBytesOf(role).length +
    contentHeader +
    contentBytes +
    9 +
    (metadata === null ? 0 : binHeaderBytes(metadataBytes) + metadataBytes)
  );
}

/**
 * Writes `message`'s record at `at` of `target`, which has room for `messageRecordBytes(message)`;
 * returns the position after it.
 */
export function writeEncodableRecord(target: Buffer, at: number, message: EncodableMessage): number {
  const { id, role, content, timestamp, metadata } = message;
  at = writeHead(target, at, metadata === null ? MARKER : META_MARKER, id, role);
  if (typeof content === 'string') {
    const contentBytes = Buffer.byteLength(content, 'utf8');
    at = writeStringHeaderOfSize(target, at, stringContentHeaderBytes(content, contentBytes, metadata), contentBytes);
    at += target.write(content, at, 'utf8');
  } else at = writeJson(target, at, content);
  target[at++] = FLOAT64;
  target.writeDoubleBE(timestamp, at);
  at += 8;
  if (metadata !== null) at = writeJson(target, at, metadata);
  return at;
}

/** A message as a record in a fresh buffer of its own (see the module comment). */
export function encodeMessageRecord(message: EncodableMessage): Uint8Array {
  const record = Buffer.allocUnsafe(messageRecordBytes(message));
  return record.subarray(0, writeEncodableRecord(record, 0, message));
}

/** A message of the first format (no id, a string content): for tests and fixtures of old logs. */
export function encodeLegacyMessageRecord(role: Role, content: string, timestamp: number): Uint8Array {
  const roleBytes = roleBytesOf(role);
  const length = Buffer.byteLength(content, 'utf8');
  const record = Buffer.allocUnsafe(2 + roleBytes.length + 5 + length + 9);
  let at = 0;
  record[at++] = LEGACY_MARKER;
  record[at++] = 0xa0 | roleBytes.length;
  record.set(roleBytes, at);
  at += roleBytes.length;
  at = writeStringHeaderOfSize(record, at, stringHeaderBytes(length), length);
  at += record.write(content, at, 'utf8');
  record[at++] = FLOAT64;
  record.writeDoubleBE(timestamp, at);
  return record.subarray(0, at + 8);
}

/** The size of the str header whose first byte is `first`: 1, 2, 3 or 5; 0 when it is no str header. */
function stringHeaderBytesAt(first: number): number {
  return (first & 0xe0) === 0xa0 ? 1 : first === 0xd9 ? 2 : first === 0xda ? 3 : first === 0xdb ? 5 : 0;
}

/** The size of the bin header whose first byte is `first`: 2, 3 or 5; 0 when it is no bin header. */
function binHeaderBytesAt(first: number): number {
  return first === 0xc4 ? 2 : first === 0xc5 ? 3 : first === 0xc6 ? 5 : 0;
}

/** The length announced by the str or bin header of `headerBytes` at `at`. */
function lengthAt(bytes: Uint8Array, at: number, headerBytes: number, isString: boolean): number {
  if (isString && headerBytes === 1) return bytes[at]! & 0x1f;
  const from = at + 1;
  switch (headerBytes) {
    case 2:
      return bytes[from]!;
    case 3:
      return (bytes[from]! << 8) | bytes[from + 1]!;
    default:
      return ((bytes[from]! << 24) | (bytes[from + 1]! << 16) | (bytes[from + 2]! << 8) | bytes[from + 3]!) >>> 0;
  }
}

/** Whether the record at `at` is of the first format (no id). */
export function isLegacyRecord(bytes: Uint8Array, at = 0): boolean {
  return bytes[at] === LEGACY_MARKER;
}

/** Whether the record at `at` carries metadata after its timestamp. */
export function recordHasMetadata(bytes: Uint8Array, at: number): boolean {
  return bytes[at] === META_MARKER;
}

/**
 * Where the timestamp of the record at `at` ends (the record's end, unless it has metadata). Reads only
 * the record's head, at most `MAX_RECORD_HEAD_BYTES`; trusts the bytes (they passed `checkMessageRecord`).
 */
export function messageRecordBodyEnd(bytes: Uint8Array, at: number): number {
  if (bytes[at] === LEGACY_MARKER) at += 2 + (bytes[at + 1]! & 0x1f);
  else {
    at += 1;
    const idHeader = bytes[at] === 0xd9 ? 2 : 1;
    at += idHeader + lengthAt(bytes, at, idHeader, true);
    at += 1 + (bytes[at]! & 0x1f);
  }
  const first = bytes[at]!;
  const stringHeader = stringHeaderBytesAt(first);
  const headerBytes = stringHeader === 0 ? binHeaderBytesAt(first) : stringHeader;
  return at + headerBytes + lengthAt(bytes, at, headerBytes, stringHeader !== 0) + 9;
}

/** Where the bin value at `at` ends (its header, at most `MAX_BIN_HEADER_BYTES`, must be in `bytes`). */
export function binValueEnd(bytes: Uint8Array, at: number): number {
  const headerBytes = binHeaderBytesAt(bytes[at]!);
  return at + headerBytes + lengthAt(bytes, at, headerBytes, false);
}

/** Where the record starting at `at` ends, for a reader that holds the whole record in `bytes`. */
export function messageRecordEnd(bytes: Uint8Array, at: number): number {
  const bodyEnd = messageRecordBodyEnd(bytes, at);
  return bytes[at] === META_MARKER ? binValueEnd(bytes, bodyEnd) : bodyEnd;
}

/** The record's id, read from its bytes (`''` for a record of the first format). */
export function messageRecordId(bytes: Uint8Array, at = 0): string {
  if (bytes[at] === LEGACY_MARKER) return '';
  const idHeader = bytes[at + 1] === 0xd9 ? 2 : 1;
  const length = lengthAt(bytes, at + 1, idHeader, true);
  const from = at + 1 + idHeader;
  return Buffer.from(bytes.buffer, bytes.byteOffset + from, length).toString('latin1');
}

/** Where the timestamp's float64 marker of the record at `at` is (9 bytes before its body's end). */
export function messageRecordTimestampAt(bytes: Uint8Array, at: number): number {
  return messageRecordBodyEnd(bytes, at) - 9;
}

/**
 * Whether two records hold the same message: the same bytes, but for the timestamps when
 * `compareTimestamps` is false (a retried append whose caller let the engine stamp it).
 */
export function sameMessageRecord(a: Uint8Array, b: Uint8Array, compareTimestamps: boolean): boolean {
  if (a.length !== b.length) return false;
  if (compareTimestamps) return Buffer.compare(a, b) === 0;
  const at = messageRecordTimestampAt(a, 0);
  if (messageRecordTimestampAt(b, 0) !== at) return false;
  const left = Buffer.from(a.buffer, a.byteOffset, a.length);
  const right = Buffer.from(b.buffer, b.byteOffset, b.length);
  return left.compare(right, 0, at, 0, at) === 0 && left.compare(right, at + 9, b.length, at + 9, a.length) === 0;
}

function isRole(bytes: Uint8Array, from: number, length: number): boolean {
  next: for (const role of ROLE_BYTES) {
    if (role.length !== length) continue;
    for (let i = 0; i < length; i++) if (bytes[from + i] !== role[i]) continue next;
    return true;
  }
  return false;
}

function isPrintableAscii(bytes: Uint8Array, from: number, length: number): boolean {
  for (let i = from; i < from + length; i++) if (bytes[i]! < 0x20 || bytes[i]! > 0x7e) return false;
  return true;
}

/**
 * Checks that `bytes` are exactly one message record as this module writes it: an id of 1-128 printable
 * ASCII bytes, a known role, well-formed UTF-8 content (JSON text for parts, starting with `[`), a finite
 * timestamp >= 0, metadata JSON text starting with `{` where the marker says so, nothing before or after.
 * Returns the bytes the message counts against `maxMessageBytes` (its content's, plus its metadata's), or
 * -1 when they are not, so the caller can fail its operation with its own error. A record of the first
 * format (no id) is checked as it was then. A number, not an object: a shard checks every append.
 */
export function checkMessageRecord(bytes: Uint8Array): number {
  const marker = bytes[0];
  let at = 1;
  if (marker === LEGACY_MARKER) {
    if ((bytes[1]! & 0xe0) !== 0xa0) return -1;
    const roleLength = bytes[1]! & 0x1f;
    if (!isRole(bytes, 2, roleLength)) return -1;
    at = 2 + roleLength;
  } else if (marker === MARKER || marker === META_MARKER) {
    const idHeader = bytes[1] === 0xd9 ? 2 : (bytes[1]! & 0xe0) === 0xa0 ? 1 : 0;
    if (idHeader === 0 || bytes.length < 2 + idHeader) return -1;
    const idLength = lengthAt(bytes, 1, idHeader, true);
    at = 1 + idHeader;
    if (idLength < 1 || idLength > MAX_MESSAGE_ID_LENGTH || at + idLength > bytes.length || !isPrintableAscii(bytes, at, idLength)) return -1;
    at += idLength;
    if (at >= bytes.length || (bytes[at]! & 0xe0) !== 0xa0) return -1;
    const roleLength = bytes[at]! & 0x1f;
    if (!isRole(bytes, at + 1, roleLength)) return -1;
    at += 1 + roleLength;
  } else return -1;
  if (at >= bytes.length) return -1;
  const first = bytes[at]!;
  const stringHeader = stringHeaderBytesAt(first);
  const isParts = stringHeader === 0;
  if (isParts && (marker === LEGACY_MARKER || binHeaderBytesAt(first) === 0)) return -1;
  const headerBytes = isParts ? binHeaderBytesAt(first) : stringHeader;
  if (at + headerBytes > bytes.length) return -1;
  const contentBytes = lengthAt(bytes, at, headerBytes, !isParts);
  at += headerBytes;
  if (at + contentBytes + 9 > bytes.length || bytes[at + contentBytes] !== FLOAT64) return -1;
  if (isParts && bytes[at] !== 0x5b /* [ */) return -1;
  // A view for the SIMD check rather than a loop: the check runs on every append.
  if (!isUtf8(bytes.subarray(at, at + contentBytes))) return -1;
  const timestamp = readFloat64(bytes, at + contentBytes + 1);
  if (!Number.isFinite(timestamp) || timestamp < 0) return -1;
  at += contentBytes + 9;
  let metadataBytes = 0;
  if (marker === META_MARKER) {
    const metaHeader = at < bytes.length ? binHeaderBytesAt(bytes[at]!) : 0;
    if (metaHeader === 0 || at + metaHeader > bytes.length) return -1;
    metadataBytes = lengthAt(bytes, at, metaHeader, false);
    at += metaHeader;
    if (at + metadataBytes !== bytes.length || bytes[at] !== 0x7b /* { */ || !isUtf8(bytes.subarray(at, at + metadataBytes))) return -1;
    at += metadataBytes;
  }
  return at === bytes.length ? contentBytes + metadataBytes : -1;
}

/** The timestamp of the record at `at` (whole, checked). */
export function messageRecordTimestamp(bytes: Uint8Array, at = 0): number {
  return readFloat64(bytes, messageRecordBodyEnd(bytes, at) - 8);
}

/**
 * A record of the first format as one of today's with `id`: the same role, content and timestamp.
 * The caller checked it (`checkMessageRecord`).
 */
export function upgradeLegacyRecord(bytes: Uint8Array, id: string): Uint8Array {
  const roleLength = bytes[1]! & 0x1f;
  const role = Buffer.from(bytes.buffer, bytes.byteOffset + 2, roleLength).toString('latin1') as Role;
  const rest = bytes.subarray(2 + roleLength); // the content's str and the timestamp, as they are
  const record = Buffer.allocUnsafe(1 + 2 + id.length + 1 + roleLength + rest.length);
  const at = writeHead(record, 0, MARKER, id, role);
  record.set(rest, at);
  return record.subarray(0, at + rest.length);
}

const float64 = new Float64Array(1);
const float64Bytes = new Uint8Array(float64.buffer);
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** A big-endian float64 from any Uint8Array, with no view allocated per call. */
function readFloat64(bytes: Uint8Array, at: number): number {
  for (let i = 0; i < 8; i++) float64Bytes[LITTLE_ENDIAN ? 7 - i : i] = bytes[at + i]!;
  return float64[0]!;
}

const utf8 = new TextDecoder();

/**
 * A message as msgpack decodes its record, made whole: content parts and metadata, which travel as JSON
 * text (bytes), parsed. Returns the same object.
 */
export function readMessageJson(message: Message): Message {
  const { content, metadata } = message as unknown as { content: unknown; metadata?: unknown };
  if (content instanceof Uint8Array) message.content = JSON.parse(utf8.decode(content)) as ContentPart[];
  if (metadata instanceof Uint8Array) message.metadata = JSON.parse(utf8.decode(metadata)) as JsonObject;
  return message;
}

const JSON_ID = Buffer.from('{"id":', 'latin1');
const JSON_ROLE = Buffer.from(',"role":"', 'latin1');
const JSON_CONTENT = Buffer.from('",' + '"content":', 'latin1');
const JSON_TIMESTAMP = Buffer.from(',"timestamp":', 'latin1');
const JSON_METADATA = Buffer.from(',"metadata":', 'latin1');

/** Whether UTF-8 bytes `from` up to `to` hold a character JSON escapes in a string: `"`, `\` or a control character. */
function needsJsonEscape(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const byte = bytes[i]!;
    if (byte < 0x20 || byte === 0x22 || byte === 0x5c) return true;
  }
  return false;
}

/**
 * The JSON text of messages, written from their records into a buffer that is reused (a shard builds it
 * for `getMessagesJson`, off the host's thread). It is exactly the UTF-8 of `JSON.stringify` of the
 * messages a read returns, with the same keys in the same order: content parts and metadata are JSON
 * text in the record already and are copied as they are; plain strings and ids are copied between quotes,
 * or escaped by `JSON.stringify` when they hold a character JSON escapes.
 */
export class MessagesJsonWriter {
  private buffer: Buffer;
  private at = 0;
  private messages = 0;

  /**
   * @param maxBytes - the most bytes of text: adding a message past it throws `RangeError`.
   * @param initialBytes - the buffer to start with, and what `shrink()` goes back to.
   */
  constructor(
    private maxBytes: number,
    private readonly initialBytes = 64 * 1024,
  ) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  /** Starts an array of messages of at most `maxBytes` of text, reusing the buffer. */
  begin(maxBytes: number = this.maxBytes): void {
    this.maxBytes = maxBytes;
    this.at = 0;
    this.messages = 0;
    this.ensure(1);
    this.buffer[this.at++] = 0x5b; // [
  }

  /**
   * Adds the message of the record at `at` in `bytes` (checked by `checkMessageRecord`, of today's format);
   * returns where the record ends.
   */
  add(bytes: Uint8Array, at: number): number {
    const marker = bytes[at];
    if (marker !== MARKER && marker !== META_MARKER) throw new TypeError(`not a message record of format 3 (marker 0x${marker?.toString(16)})`);
    if (this.messages++ > 0) {
      this.ensure(1);
      this.buffer[this.at++] = 0x2c; // ,
    }
    this.copy(JSON_ID, 0, JSON_ID.length);
    let p = at + 1;
    const idHeader = bytes[p] === 0xd9 ? 2 : 1;
    const idLength = lengthAt(bytes, p, idHeader, true);
    p += idHeader;
    this.string(bytes, p, p + idLength);
    p += idLength;
    this.copy(JSON_ROLE, 0, JSON_ROLE.length);
    const roleLength = bytes[p]! & 0x1f;
    this.copy(bytes, p + 1, p + 1 + roleLength);
    p += 1 + roleLength;
    this.copy(JSON_CONTENT, 0, JSON_CONTENT.length);
    const stringHeader = stringHeaderBytesAt(bytes[p]!);
    const headerBytes = stringHeader === 0 ? binHeaderBytesAt(bytes[p]!) : stringHeader;
    const contentBytes = lengthAt(bytes, p, headerBytes, stringHeader !== 0);
    p += headerBytes;
    if (stringHeader !== 0) this.string(bytes, p, p + contentBytes);
    else this.copy(bytes, p, p + contentBytes);
    p += contentBytes;
    this.copy(JSON_TIMESTAMP, 0, JSON_TIMESTAMP.length);
    this.ascii(String(readFloat64(bytes, p + 1)));
    p += 9;
    if (marker === META_MARKER) {
      this.copy(JSON_METADATA, 0, JSON_METADATA.length);
      const metaHeader = binHeaderBytesAt(bytes[p]!);
      const metadataBytes = lengthAt(bytes, p, metaHeader, false);
      p += metaHeader;
      this.copy(bytes, p, p + metadataBytes);
      p += metadataBytes;
    }
    this.ensure(1);
    this.buffer[this.at++] = 0x7d; // }
    return p;
  }

  /** Ends the array; the text is a view of the reused buffer, valid until the next `begin()`. */
  finish(): Buffer {
    this.ensure(1);
    this.buffer[this.at++] = 0x5d; // ]
    return this.buffer.subarray(0, this.at);
  }

  /** Gives a buffer grown past `initialBytes` back: after a large read. */
  shrink(): void {
    if (this.buffer.length > this.initialBytes) this.buffer = Buffer.allocUnsafe(this.initialBytes);
  }

  private ensure(bytes: number): void {
    const needed = this.at + bytes;
    if (needed > this.maxBytes) throw new RangeError(`the messages' JSON text would pass ${this.maxBytes} bytes`);
    if (needed <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.min(Math.max(needed, this.buffer.length * 2), this.maxBytes));
    this.buffer.copy(grown, 0, 0, this.at);
    this.buffer = grown;
  }

  private copy(bytes: Uint8Array, from: number, to: number): void {
    this.ensure(to - from);
    const target = this.buffer;
    let at = this.at;
    // Short pieces (keys, ids, roles) in a loop: a view per piece cost more than the copy.
    if (to - from < 64) for (let i = from; i < to; i++) target[at++] = bytes[i]!;
    else {
      target.set(bytes.subarray(from, to), at);
      at += to - from;
    }
    this.at = at;
  }

  private ascii(text: string): void {
    this.ensure(text.length);
    for (let i = 0; i < text.length; i++) this.buffer[this.at++] = text.charCodeAt(i);
  }

  /** UTF-8 bytes `from` up to `to` as a JSON string. */
  private string(bytes: Uint8Array, from: number, to: number): void {
    if (needsJsonEscape(bytes, from, to)) {
      const text = JSON.stringify(Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from).toString('utf8'));
      this.ensure(Buffer.byteLength(text, 'utf8'));
      this.at += this.buffer.write(text, this.at, 'utf8');
      return;
    }
    this.ensure(to - from + 2);
    this.buffer[this.at++] = 0x22;
    this.copy(bytes, from, to);
    this.buffer[this.at++] = 0x22;
  }
}
