/**
 * How a shard keeps a session: its messages as one growing byte log of message records already in the
 * wire format, and its capabilities and servers encoded once per change. A read copies bytes into the
 * reply instead of encoding every message again, and a session costs a few objects, not one per message.
 *
 * The log lives in the shard's `LogArena`, outside the V8 heap, as a list of fixed-size blocks: byte `n`
 * of the log is byte `n % LOG_BLOCK_BYTES` of block `blocks[n / LOG_BLOCK_BYTES]`, and a record may run
 * on from one block into the next. Tried and measured before: one Buffer per log grown by copying (see
 * `log-arena.ts` for what it cost); a string of one byte per character, grown by concatenation, which
 * appended faster but whose garbage collection at a million sessions (a 3 GB heap, a score of string
 * pieces per session) cut mixed throughput from 161 000 to 70 000 ops/s and stalled sweeps for 17 ms.
 *
 * Message records are laid out as `protocol/message-record.ts` says, which is what lets `offsetOfMessage`
 * skip them cheaply.
 */
import { constants } from 'node:buffer';
import { encode, SESSION_V2_STRUCTURE } from '../protocol/codec.js';
import { messageRecordEnd } from '../protocol/message-record.js';
import type { ClientCapabilities, SessionId } from '../protocol/model.js';
import type { MsgpackWriter } from '../protocol/msgpack-writer.js';
import { blocksFor, LOG_BLOCK_BYTES, type LogArena } from './log-arena.js';
import { ID_PART_KEYS, idPartsOf, type IdParts } from './session-index.js';

/** A session as a shard holds it; its id also as the numbers its shard's index compares (`session-index.ts`). */
export interface StoredSession extends Readonly<IdParts> {
  readonly id: SessionId;
  readonly createdAt: number;
  lastAccessed: number;
  /** Where the log's blocks are. */
  readonly arena: LogArena;
  /**
   * The log's blocks in order: message records back to back over `logBytes` bytes. Entries past
   * `blocksFor(logBytes)` are spare. Replaced when it grows, never grown in place (a capture may read it).
   */
  blocks: Uint32Array;
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
const NO_BLOCKS = new Uint32Array(0);
/** The longest log: one that a Buffer can still hold when it is written out whole. */
export const MAX_LOG_BYTES = constants.MAX_LENGTH;
/** The most bytes `messageRecordEnd` reads: marker, role fixstr of up to 9 bytes, str header of up to 5. */
const MAX_RECORD_HEADER_BYTES = 16;
const headerScratch = Buffer.alloc(MAX_RECORD_HEADER_BYTES);

/** Encoded capabilities; the common `null` shares one constant. */
export function encodeCapabilities(capabilities: ClientCapabilities | null): Uint8Array {
  return capabilities === null ? NULL_BYTES : encode(capabilities);
}

/** Encoded server names; the common empty list shares one constant. */
export function encodeServers(servers: string[]): Uint8Array {
  return servers.length === 0 ? EMPTY_ARRAY_BYTES : encode(servers);
}

/** A session with no messages; its log will take blocks from `arena`. */
export function newStoredSession(
  arena: LogArena,
  id: SessionId,
  now: number,
  capabilities: Uint8Array,
  servers: Uint8Array,
  fields: SessionFields = NO_FIELDS,
): StoredSession {
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
    arena,
    blocks: NO_BLOCKS,
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
 * Appends one message record (checked: see `protocol/message-record.ts`) to the session's log, taking
 * blocks from its arena as it needs them; `false` (and nothing appended) when the log would pass
 * `MAX_LOG_BYTES`. Undo with `truncateLog`.
 */
export function appendMessageRecord(session: StoredSession, record: Uint8Array): boolean {
  const start = session.logBytes;
  const end = start + record.length;
  if (end > MAX_LOG_BYTES) return false;
  noteMessageStart(session, session.messageCount, start);
  const { arena } = session;
  let blocks = session.blocks;
  for (let at = start; at < end; ) {
    const index = Math.floor(at / LOG_BLOCK_BYTES);
    const inBlock = at - index * LOG_BLOCK_BYTES;
    // Logs are written in order: a write at the start of a block is the first one into it.
    if (inBlock === 0) {
      if (index === blocks.length) blocks = session.blocks = grownBlocks(blocks);
      blocks[index] = arena.allocate();
    }
    const block = blocks[index]!;
    const bytes = Math.min(LOG_BLOCK_BYTES - inBlock, end - at);
    const from = at - start;
    arena.pageOf(block).set(bytes === record.length ? record : record.subarray(from, from + bytes), arena.offsetOf(block) + inBlock);
    at += bytes;
  }
  session.logBytes = end;
  session.messageCount++;
  return true;
}

function grownBlocks(blocks: Uint32Array): Uint32Array {
  // Small tables stay on V8's heap (typed arrays of up to 64 bytes have no ArrayBuffer of their own).
  const grown = new Uint32Array(Math.max(4, blocks.length * 2));
  grown.set(blocks);
  return grown;
}

/** Drops the messages past the first `messageCount`, whose log ended at `logBytes`: undoes appends. */
export function truncateLog(session: StoredSession, messageCount: number, logBytes: number): void {
  session.arena.release(session.blocks, blocksFor(logBytes), blocksFor(session.logBytes));
  session.logBytes = logBytes;
  session.messageCount = messageCount;
}

/**
 * Gives the session's blocks back to its arena, for the next session to write over: the session must not
 * be read after the arena's next `allocate()`.
 */
export function releaseLog(session: StoredSession): void {
  session.arena.release(session.blocks, 0, blocksFor(session.logBytes));
}

/** The bytes the session's log takes in its arena. */
export function logCapacityOf(session: StoredSession): number {
  return blocksFor(session.logBytes) * LOG_BLOCK_BYTES;
}

/** Copies log bytes `start` up to `end` into `target` at `at`. */
function copyLog(session: StoredSession, start: number, end: number, target: Buffer, at: number): void {
  const { arena, blocks } = session;
  while (start < end) {
    const index = Math.floor(start / LOG_BLOCK_BYTES);
    const inBlock = start - index * LOG_BLOCK_BYTES;
    const bytes = Math.min(LOG_BLOCK_BYTES - inBlock, end - start);
    const block = blocks[index]!;
    const from = arena.offsetOf(block) + inBlock;
    arena.pageOf(block).copy(target, at, from, from + bytes);
    start += bytes;
    at += bytes;
  }
}

/** Where the record starting at log byte `at` ends (see `messageRecordEnd`), its header perhaps across two blocks. */
function recordEndAt(session: StoredSession, at: number): number {
  const index = Math.floor(at / LOG_BLOCK_BYTES);
  const inBlock = at - index * LOG_BLOCK_BYTES;
  if (inBlock + MAX_RECORD_HEADER_BYTES <= LOG_BLOCK_BYTES) {
    const block = session.blocks[index]!;
    const from = session.arena.offsetOf(block) + inBlock;
    return at + messageRecordEnd(session.arena.pageOf(block), from) - from;
  }
  copyLog(session, at, Math.min(at + MAX_RECORD_HEADER_BYTES, session.logBytes), headerScratch, 0);
  return at + messageRecordEnd(headerScratch, 0);
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
  for (let n = checkpoint * CHECKPOINT_EVERY; n < index; n++) at = recordEndAt(session, at);
  return at;
}

/** Sets the checkpoints of a session whose log was put in whole (a recovered one). */
function rebuildCheckpoints(session: StoredSession): void {
  session.checkpoints = null;
  for (let index = 0, at = 0; index < session.messageCount; index++) {
    noteMessageStart(session, index, at);
    at = recordEndAt(session, at);
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
  const bytes = session.logBytes - start;
  const target = writer.reserve(bytes);
  copyLog(session, start, session.logBytes, target, writer.length);
  writer.advanceTo(writer.length + bytes);
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
 * `logBytes`, and encoded fields are replaced, never mutated. Cheap: no bytes copied. Its blocks are the
 * session's: they must not be released while the copy is read (`SessionStore` holds them back).
 */
export function captureStoredSession(session: StoredSession): StoredSession {
  return { ...session };
}

/**
 * A session as a snapshot stores it: every field it has, by name, with the log trimmed to its records.
 * By name, so that a later version that adds fields still reads it (`restoreStoredSession`).
 */
export function serialiseStoredSession(session: StoredSession): Record<string, unknown> {
  const log = Buffer.allocUnsafe(session.logBytes);
  copyLog(session, 0, session.logBytes, log, 0);
  const record: Record<string, unknown> = { ...session, log };
  delete record.arena;
  delete record.blocks;
  delete record.logBytes;
  // Derived from the id and the log: never stored.
  delete record.checkpoints;
  for (const key of ID_PART_KEYS) delete record[key];
  return record;
}

/** Fields `restoreStoredSession` sets itself, whatever the record says. */
const DERIVED_KEYS: ReadonlySet<string> = new Set(['arena', 'blocks', 'log', 'logBytes', 'messageCount', 'checkpoints', 'capabilities', 'servers', ...ID_PART_KEYS]);

/**
 * Rebuilds a session from `serialiseStoredSession`'s record, its log in blocks of `arena`. Fields the
 * record lacks (written by an older version) keep `newStoredSession`'s defaults; keys this version does
 * not know are ignored. Throws a `TypeError` for a record that is not a session.
 */
export function restoreStoredSession(record: unknown, arena: LogArena): StoredSession {
  if (typeof record !== 'object' || record === null) throw new TypeError('not a session record');
  const given = record as Record<string, unknown>;
  const { id, createdAt, log, messageCount, capabilities, servers } = given;
  if (typeof id !== 'string' || typeof createdAt !== 'number' || !(log instanceof Uint8Array) || !Number.isSafeInteger(messageCount)) {
    throw new TypeError('not a session record');
  }
  if (!(capabilities instanceof Uint8Array) || !(servers instanceof Uint8Array)) throw new TypeError('not a session record');
  const session = newStoredSession(arena, id, createdAt, new Uint8Array(capabilities), new Uint8Array(servers)) as unknown as Record<string, unknown>;
  for (const key of Object.keys(session)) {
    if (DERIVED_KEYS.has(key)) continue;
    if (given[key] !== undefined && typeof given[key] === typeof session[key]) session[key] = given[key];
    else if (given[key] !== undefined && session[key] === null) session[key] = given[key];
  }
  const restored = session as unknown as StoredSession;
  restoreLog(restored, log, messageCount as number);
  return restored;
}

/** Puts a whole log of `messageCount` records into the session's blocks and rebuilds its checkpoints. */
function restoreLog(session: StoredSession, log: Uint8Array, messageCount: number): void {
  if (log.length > MAX_LOG_BYTES) throw new TypeError('not a session record');
  const count = blocksFor(log.length);
  const blocks = new Uint32Array(count);
  for (let index = 0; index < count; index++) {
    const block = (blocks[index] = session.arena.allocate());
    const from = index * LOG_BLOCK_BYTES;
    session.arena.pageOf(block).set(log.subarray(from, Math.min(from + LOG_BLOCK_BYTES, log.length)), session.arena.offsetOf(block));
  }
  session.blocks = blocks;
  session.logBytes = log.length;
  session.messageCount = messageCount;
  rebuildCheckpoints(session);
}
