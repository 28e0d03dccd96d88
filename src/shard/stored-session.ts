/**
 * How a shard keeps a session: its messages as one growing byte log of message records already in the
 * wire format, and its capabilities and servers encoded once per change. A read copies bytes into the
 * reply instead of encoding every message again, and a session costs a few objects, not one per message.
 *
 * The log is a Buffer, outside the V8 heap. Tried and measured: a string of one byte per character, grown
 * by concatenation, appended faster (1 shard, 100 000 sessions: 300 000 against 230 000 appends a second)
 * but, at a million sessions, its garbage collection (a 3 GB heap, a score of string pieces per session)
 * cut mixed throughput from 161 000 to 70 000 ops/s and stalled the shard for up to 17 ms during sweeps
 * instead of 5 ms. Flattening the string on every append cost more in garbage than it saved.
 *
 * Message records are laid out as `protocol/message-record.ts` says, which is what lets `offsetOfMessage`
 * skip them cheaply.
 */
import { constants } from 'node:buffer';
import { encode, SESSION_V2_STRUCTURE } from '../protocol/codec.js';
import { messageRecordEnd } from '../protocol/message-record.js';
import type { ClientCapabilities, SessionId } from '../protocol/model.js';
import type { MsgpackWriter } from '../protocol/msgpack-writer.js';
import { ID_PART_KEYS, idPartsOf, type IdParts } from './session-index.js';

/** A session as a shard holds it; its id also as the numbers its shard's index compares (`session-index.ts`). */
export interface StoredSession extends Readonly<IdParts> {
  readonly id: SessionId;
  readonly createdAt: number;
  lastAccessed: number;
  /** Message records back to back; bytes past `logBytes` are spare capacity. */
  log: Buffer;
  logBytes: number;
  messageCount: number;
  /**
   * Where messages number CHECKPOINT_EVERY, 2 x CHECKPOINT_EVERY, ... start in the log (entry k: message
   * (k + 1) x CHECKPOINT_EVERY); entries past the count are spare. `null` until the session has that many.
   */
  checkpoints: Uint32Array | null;
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
const EMPTY_LOG = Buffer.alloc(0);
/** The longest log: the longest Buffer. */
export const MAX_LOG_BYTES = constants.MAX_LENGTH;

/** Encoded capabilities; the common `null` shares one constant. */
export function encodeCapabilities(capabilities: ClientCapabilities | null): Uint8Array {
  return capabilities === null ? NULL_BYTES : encode(capabilities);
}

/** Encoded server names; the common empty list shares one constant. */
export function encodeServers(servers: string[]): Uint8Array {
  return servers.length === 0 ? EMPTY_ARRAY_BYTES : encode(servers);
}

export function newStoredSession(id: SessionId, now: number, capabilities: Uint8Array, servers: Uint8Array, fields: SessionFields = NO_FIELDS): StoredSession {
  const parts = idPartsOf(id);
  return {
    id,
    idPart0: parts.idPart0,
    idPart1: parts.idPart1,
    idPart2: parts.idPart2,
    idPart3: parts.idPart3,
    idPart4: parts.idPart4,
    createdAt: now,
    lastAccessed: now,
    log: EMPTY_LOG,
    logBytes: 0,
    messageCount: 0,
    checkpoints: null,
    capabilities,
    servers,
    updatedAt: now,
    cwd: fields.cwd,
    title: fields.title,
    owner: fields.owner,
  };
}

/**
 * Appends one message record (checked: see `protocol/message-record.ts`) to the session's log, growing
 * it by a quarter, at least 256 bytes (bounded slack, few copies); `false` (and nothing appended) when
 * the log would pass `MAX_LOG_BYTES`.
 */
export function appendMessageRecord(session: StoredSession, record: Uint8Array): boolean {
  const needed = session.logBytes + record.length;
  if (needed > MAX_LOG_BYTES) return false;
  if (needed > session.log.length) {
    // Unpooled: a pooled slice would keep a shared 8 KiB slab alive for as long as any session in it.
    const grown = Buffer.allocUnsafeSlow(Math.min(MAX_LOG_BYTES, needed + Math.max(256, needed >>> 2)));
    session.log.copy(grown, 0, 0, session.logBytes);
    session.log = grown;
  }
  noteMessageStart(session, session.messageCount, session.logBytes);
  session.log.set(record, session.logBytes);
  session.logBytes = needed;
  session.messageCount++;
  return true;
}

/**
 * A checkpoint every 16 messages. Reading the newest few of a long session used to skip every record
 * before them, each in another cache line: `lastMessages: 5` of 100 messages touched 95 records. Now it
 * skips at most 15. Sessions of fewer than 16 messages (most) pay nothing but the field.
 */
const CHECKPOINT_EVERY = 16;

/** Keeps `offset`, where message number `index` starts, if that message is a checkpoint. */
function noteMessageStart(session: StoredSession, index: number, offset: number): void {
  if (index % CHECKPOINT_EVERY !== 0 || index === 0) return;
  const entry = index / CHECKPOINT_EVERY - 1;
  let checkpoints = session.checkpoints;
  if (checkpoints === null || entry >= checkpoints.length) {
    // A new array, never one grown in place: a capture of the session may still read the old one.
    const grown = new Uint32Array(Math.max(4, entry * 2));
    if (checkpoints !== null) grown.set(checkpoints);
    session.checkpoints = checkpoints = grown;
  }
  checkpoints[entry] = offset;
}

/** The byte offset of message number `index` in the log (`logBytes` when `index` is the count). */
export function offsetOfMessage(session: StoredSession, index: number): number {
  if (index >= session.messageCount) return session.logBytes;
  const checkpoint = Math.floor(index / CHECKPOINT_EVERY);
  let at = checkpoint > 0 ? session.checkpoints![checkpoint - 1]! : 0;
  for (let n = checkpoint * CHECKPOINT_EVERY; n < index; n++) at = messageRecordEnd(session.log, at);
  return at;
}

/** Sets the checkpoints of a session whose log was put in whole (a recovered one). */
function rebuildCheckpoints(session: StoredSession): void {
  session.checkpoints = null;
  for (let index = 0, at = 0; index < session.messageCount; index++) {
    noteMessageStart(session, index, at);
    at = messageRecordEnd(session.log, at);
  }
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
  writer.raw(session.log, start, session.logBytes);
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
 * A point-in-time copy of a session that later appends and updates do not change: appends only write past
 * `logBytes` (or into a new buffer), and encoded fields are replaced, never mutated. Cheap: no bytes copied.
 */
export function captureStoredSession(session: StoredSession): StoredSession {
  return { ...session };
}

/**
 * A session as a snapshot stores it: every field it has, by name, with the log trimmed to its records.
 * By name, so that a later version that adds fields still reads it (`restoreStoredSession`).
 */
export function serialiseStoredSession(session: StoredSession): Record<string, unknown> {
  const record: Record<string, unknown> = { ...session, log: session.log.subarray(0, session.logBytes) };
  delete record.logBytes;
  // Derived from the id and the log: never stored.
  delete record.checkpoints;
  for (const key of ID_PART_KEYS) delete record[key];
  return record;
}

/** Fields `restoreStoredSession` sets itself, whatever the record says. */
const DERIVED_KEYS: ReadonlySet<string> = new Set(['log', 'logBytes', 'checkpoints', 'capabilities', 'servers', ...ID_PART_KEYS]);

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
    if (DERIVED_KEYS.has(key)) continue;
    if (given[key] !== undefined && typeof given[key] === typeof session[key]) session[key] = given[key];
    else if (given[key] !== undefined && session[key] === null) session[key] = given[key];
  }
  // Unpooled, like appendMessageRecord's buffers: the file's bytes must not be kept alive by one session.
  const owned = Buffer.allocUnsafeSlow(log.length);
  owned.set(log);
  session.log = owned;
  session.logBytes = log.length;
  rebuildCheckpoints(session as unknown as StoredSession);
  return session as unknown as StoredSession;
}
