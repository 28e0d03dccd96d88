/**
 * How a shard keeps a session: its messages as one growing log of message records already in the wire
 * format, and its capabilities and servers encoded once per change. A read copies bytes into the reply
 * instead of encoding every message again, and a session costs a few objects, not one per message.
 *
 * The log is a string holding one byte per character (latin1), not a Buffer: appending is a string
 * concatenation (V8 joins the pieces without copying, and flattens them once, on the next read), with no
 * spare capacity, and no ArrayBuffer with its off-heap allocation per session. Measured against a Buffer
 * grown by a quarter: an append 0.55 µs instead of 1.5 µs, and 2 730 instead of 3 525 bytes per session of
 * ten 220-byte records. A read copies the characters into the reply as bytes (`MsgpackWriter.latin1`).
 *
 * A message record is laid out exactly so (which is what lets `offsetOfMessage` skip records cheaply):
 * the Message record marker, the role as a fixstr, the content as a str, the timestamp as a float64.
 */
import { constants } from 'node:buffer';
import { encode, MESSAGE_STRUCTURE, SESSION_V2_STRUCTURE } from '../protocol/codec.js';
import type { ClientCapabilities, Role, SessionId } from '../protocol/model.js';
import { writeStringHeader, type MsgpackWriter } from '../protocol/msgpack-writer.js';

/** A session as a shard holds it. */
export interface StoredSession {
  readonly id: SessionId;
  readonly createdAt: number;
  lastAccessed: number;
  /** Message records back to back, one byte per character (see the module comment). */
  log: string;
  messageCount: number;
  /** The encoded `ClientCapabilities | null`. */
  capabilities: Uint8Array;
  /** The encoded `string[]` of MCP server names. */
  servers: Uint8Array;
  /** The last create, append or update. */
  updatedAt: number;
  cwd: string | null;
  title: string | null;
  owner: string | null;
}

/** The plain fields of a session, `null` when unset. */
export interface SessionFields {
  cwd: string | null;
  title: string | null;
  owner: string | null;
}

const NO_FIELDS: SessionFields = Object.freeze({ cwd: null, title: null, owner: null });

const NULL_BYTES = Uint8Array.of(0xc0);
const EMPTY_ARRAY_BYTES = Uint8Array.of(0x90);
/** The longest log: V8's longest string (about 512 MiB). */
export const MAX_LOG_BYTES = constants.MAX_STRING_LENGTH;
/** Where a record is encoded before it joins a log; a larger record gets a buffer of its own. */
const scratch = Buffer.allocUnsafeSlow(64 * 1024);
const ROLE_BYTES: Record<Role, Uint8Array> = {
  user: Buffer.from('user'),
  assistant: Buffer.from('assistant'),
  system: Buffer.from('system'),
};

/** Encoded capabilities; the common `null` shares one constant. */
export function encodeCapabilities(capabilities: ClientCapabilities | null): Uint8Array {
  return capabilities === null ? NULL_BYTES : encode(capabilities);
}

/** Encoded server names; the common empty list shares one constant. */
export function encodeServers(servers: string[]): Uint8Array {
  return servers.length === 0 ? EMPTY_ARRAY_BYTES : encode(servers);
}

export function newStoredSession(id: SessionId, now: number, capabilities: Uint8Array, servers: Uint8Array, fields: SessionFields = NO_FIELDS): StoredSession {
  return {
    id,
    createdAt: now,
    lastAccessed: now,
    log: '',
    messageCount: 0,
    capabilities,
    servers,
    updatedAt: now,
    cwd: fields.cwd,
    title: fields.title,
    owner: fields.owner,
  };
}

/**
 * Appends one message record to the session's log; `false` (and nothing appended) when the log would pass
 * `MAX_LOG_BYTES`.
 */
export function appendMessageRecord(session: StoredSession, role: Role, content: string, timestamp: number): boolean {
  const roleBytes = ROLE_BYTES[role];
  const contentBytes = Buffer.byteLength(content, 'utf8');
  const recordBytes = 1 + 1 + roleBytes.length + 5 + contentBytes + 9;
  if (session.log.length + recordBytes > MAX_LOG_BYTES) return false;
  const record = recordBytes <= scratch.length ? scratch : Buffer.allocUnsafe(recordBytes);
  let at = 0;
  record[at++] = 0x40 + MESSAGE_STRUCTURE;
  record[at++] = 0xa0 | roleBytes.length;
  record.set(roleBytes, at);
  at += roleBytes.length;
  at = writeStringHeader(record, at, contentBytes);
  at += record.write(content, at, contentBytes, 'utf8');
  record[at++] = 0xcb;
  record.writeDoubleBE(timestamp, at);
  session.log += record.toString('latin1', 0, at + 8);
  session.messageCount++;
  return true;
}

/** The byte offset of message number `index` in the log (its length when `index` is the count). */
export function offsetOfMessage(session: StoredSession, index: number): number {
  const log = session.log;
  const byte = (at: number): number => log.charCodeAt(at);
  let at = 0;
  for (let n = 0; n < index; n++) {
    at += 1; // record marker
    at += 1 + (byte(at) & 0x1f); // role fixstr
    const header = byte(at);
    let length: number;
    if ((header & 0xe0) === 0xa0) {
      length = header & 0x1f;
      at += 1;
    } else if (header === 0xd9) {
      length = byte(at + 1);
      at += 2;
    } else if (header === 0xda) {
      length = (byte(at + 1) << 8) | byte(at + 2);
      at += 3;
    } else {
      length = ((byte(at + 1) << 24) | (byte(at + 2) << 16) | (byte(at + 3) << 8) | byte(at + 4)) >>> 0;
      at += 5;
    }
    at += length + 9; // content, then the float64 timestamp
  }
  return at;
}

/**
 * Writes the session as a Session record; `lastMessages >= 0` keeps only that many of the newest messages.
 * Its `lastAccessed` is written as it is now: refresh it before.
 */
export function writeSession(writer: MsgpackWriter, session: StoredSession, lastMessages: number): void {
  const count = lastMessages < 0 ? session.messageCount : Math.min(lastMessages, session.messageCount);
  const start = count === session.messageCount ? 0 : offsetOfMessage(session, session.messageCount - count);
  writer.recordHeader(SESSION_V2_STRUCTURE);
  writer.string(session.id);
  writer.number(session.createdAt);
  writer.number(session.lastAccessed);
  writer.arrayHeader(count);
  writer.latin1(session.log, start);
  writer.raw(session.capabilities);
  writer.raw(session.servers);
  writeOptionalString(writer, session.cwd);
  writeOptionalString(writer, session.title);
  writer.number(session.updatedAt);
  writeOptionalString(writer, session.owner);
}

function writeOptionalString(writer: MsgpackWriter, value: string | null): void {
  if (value === null) writer.nil();
  else writer.string(value);
}

/**
 * A point-in-time copy of a session that later appends and updates do not change: the log is an immutable
 * string, and encoded fields are replaced, never mutated. Cheap: no bytes copied.
 */
export function captureStoredSession(session: StoredSession): StoredSession {
  return { ...session };
}

/**
 * A session as a snapshot stores it: every field it has, by name, with the log trimmed to its records.
 * By name, so that a later version that adds fields still reads it (`restoreStoredSession`).
 */
export function serialiseStoredSession(session: StoredSession): Record<string, unknown> {
  return { ...session, log: Buffer.from(session.log, 'latin1') };
}

/**
 * Rebuilds a session from `serialiseStoredSession`'s record. Fields the record lacks (written by an older
 * version) keep `newStoredSession`'s defaults; keys this version does not know are ignored. Throws a
 * `TypeError` for a record that is not a session.
 */
export function restoreStoredSession(record: unknown): StoredSession {
  if (typeof record !== 'object' || record === null) throw new TypeError('not a session record');
  const given = record as Record<string, unknown>;
  const { id, createdAt, log, messageCount, capabilities, servers } = given;
  if (typeof id !== 'string' || typeof createdAt !== 'number' || !(log instanceof Uint8Array) || !Number.isSafeInteger(messageCount)) {
    throw new TypeError('not a session record');
  }
  if (!(capabilities instanceof Uint8Array) || !(servers instanceof Uint8Array)) throw new TypeError('not a session record');
  const session = newStoredSession(id, createdAt, new Uint8Array(capabilities), new Uint8Array(servers)) as unknown as Record<string, unknown>;
  for (const key of Object.keys(session)) {
    if (key === 'log' || key === 'capabilities' || key === 'servers') continue;
    if (given[key] !== undefined && typeof given[key] === typeof session[key]) session[key] = given[key];
    else if (given[key] !== undefined && session[key] === null) session[key] = given[key];
  }
  if (log.length > MAX_LOG_BYTES) throw new TypeError('not a session record: its log is longer than a log can be');
  // A copy, not a view: the file's bytes must not be kept alive by one session.
  session.log = Buffer.from(log.buffer, log.byteOffset, log.length).toString('latin1');
  return session as unknown as StoredSession;
}
