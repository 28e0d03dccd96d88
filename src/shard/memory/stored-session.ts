/**
 * How a shard keeps a session: its messages as one growing byte log of message records already in the
 * wire format, and its capabilities and servers encoded once per change. A read copies bytes into the
 * reply instead of encoding every message again, and a session costs a few objects, not one per message.
 *
 * The log lives in the shard's `LogArena`, outside the V8 heap, as a list of pieces, every one full but
 * the last: an append writes into the last piece, or takes a new 512-byte one. When a log that needs
 * room ends in three full pieces of every size below some size, they are merged into one piece of that
 * size (2 KiB, 8 KiB, ... 512 KiB) with room to spare, like the carries of a counter (`addPiece`): a log
 * of n bytes is at most three pieces of each size, and each byte is copied about once per size it passes
 * through. A record may run on from one piece into the next. The newest unit pieces (three at most) are
 * listed in the session's row, the larger ones in its table, so that only a merge reads the session
 * object. Merging trades a little read speed (a log in a few pieces) for appends that never copy a whole
 * log; the alternatives measured are in docs/design/code-notes.md.
 *
 * Message records are laid out as `protocol/message-record.ts` says, which is what lets `offsetOfMessage`
 * skip them cheaply.
 */
import { constants } from 'node:buffer';
import { SESSION_V3_STRUCTURE } from '../../protocol/codec.js';
import { NULL_BYTES, reencodeStoredField } from '../../protocol/encoded-fields.js';
import {
  binValueEnd,
  MAX_BIN_HEADER_BYTES,
  MAX_RECORD_HEAD_BYTES,
  messageRecordBodyEnd,
  messageRecordId,
  type MessagesJsonWriter,
  recordHasMetadata,
} from '../../protocol/message-record.js';
import type { SessionId } from '../../protocol/model.js';
import type { MsgpackWriter } from '../../protocol/msgpack-writer.js';
import { levelOf, LOG_UNIT_BYTES, MAX_LEVEL, pieceBytes, type LogArena } from './log-arena.js';
import { idPartsOf, type IdParts } from './session-index.js';
import { type SessionRows, TAIL_SLOTS } from './session-rows.js';

/**
 * A session as a shard holds it. What finding it and appending to it use is in its row of `rows`
 * (`session-rows.ts`), read and written through the accessors here or, on the hot path, in place; the
 * rest is in the object.
 */
export class StoredSession implements Readonly<IdParts> {
  /** Its row in `rows`, for as long as it is held (`releaseStoredSession`). */
  readonly row: number;
  /**
   * The handles of the log's pieces larger than a unit, largest first; the log's newest unit pieces (up
   * to three) follow them in its row, so that taking a unit piece needs the row alone. Entries past
   * `tableCount` are spare. While a reader holds the arena (a capture), a change makes a new table.
   */
  pieces: Uint32Array = NO_PIECES;
  tableCount = 0;
  /**
   * Where messages number CHECKPOINT_EVERY, 2 x CHECKPOINT_EVERY, ... start in the log (entry k: message
   * (k + 1) x CHECKPOINT_EVERY); entries past the count are spare. `null` until the session has that many.
   */
  checkpoints: Uint32Array | null = null;
  cwd: string | null;
  title: string | null;
  owner: string | null;
  /** The metadata as a msgpack value: a bin of its JSON text, or nil. */
  metadata: Uint8Array = NULL_BYTES;
  /**
   * The ids of its first `idsCount` messages, built when a write first needs them (`idsOf`) and dropped
   * when an edit removes messages. Plain appends leave it alone (the hot path never reads this object):
   * `idsOf` adds the ids appended since.
   */
  ids: Set<string> | null = null;
  idsCount = 0;

  constructor(
    readonly rows: SessionRows,
    /** Where the log's pieces are. */
    readonly arena: LogArena,
    readonly id: SessionId,
    readonly createdAt: number,
    /** The encoded `ClientCapabilities | null`. */
    public capabilities: Uint8Array,
    /** The encoded `string[]` of MCP server names. */
    public servers: Uint8Array,
    fields: SessionFields,
  ) {
    this.row = rows.allocate(this);
    this.cwd = fields.cwd;
    this.title = fields.title;
    this.owner = fields.owner;
  }

  get idPart0(): number {
    return this.rows.idPart(this.row, 0);
  }

  get idPart1(): number {
    return this.rows.idPart(this.row, 1);
  }

  get idPart2(): number {
    return this.rows.idPart(this.row, 2);
  }

  get idPart3(): number {
    return this.rows.idPart(this.row, 3);
  }

  get idPart4(): number {
    return this.rows.idPart(this.row, 4);
  }

  get lastAccessed(): number {
    return this.rows.lastAccessed(this.row);
  }

  set lastAccessed(time: number) {
    this.rows.setLastAccessed(this.row, time);
  }

  /** The last create, append or update. */
  get updatedAt(): number {
    return this.rows.updatedAt(this.row);
  }

  set updatedAt(time: number) {
    this.rows.setUpdatedAt(this.row, time);
  }

  get messageCount(): number {
    return this.rows.messageCount(this.row);
  }

  /** The bytes of the log's records. */
  get logBytes(): number {
    return this.rows.logBytes(this.row);
  }

  /** The bytes of all pieces; `logBytes` of them are used, the rest is in the last piece. */
  get logCapacity(): number {
    return this.logBytes + this.rows.logRoom(this.row);
  }

  /** The log's pieces: those of the table, then those of the row. */
  get pieceCount(): number {
    return this.tableCount + this.rows.tailCount(this.row);
  }
}

/** The plain fields of a session, `null` when unset. */
export interface SessionFields {
  cwd: string | null;
  title: string | null;
  owner: string | null;
}

const NO_FIELDS: SessionFields = Object.freeze({ cwd: null, title: null, owner: null });

const NO_PIECES = new Uint32Array(0);
/** The longest log: one that a Buffer can still hold when it is written out whole, and a row's uint32 can count. */
export const MAX_LOG_BYTES = Math.min(constants.MAX_LENGTH, 2 ** 32 - 1);
const headerScratch = Buffer.alloc(MAX_RECORD_HEAD_BYTES);

/** A session with no messages, holding a row of `rows` until `releaseStoredSession`; its log will take pieces from `arena`. */
export function newStoredSession(
  rows: SessionRows,
  arena: LogArena,
  id: SessionId,
  now: number,
  capabilities: Uint8Array,
  servers: Uint8Array,
  fields: SessionFields = NO_FIELDS,
): StoredSession {
  const session = new StoredSession(rows, arena, id, now, capabilities, servers, fields);
  rows.initialise(session.row, idPartsOf(id), now);
  return session;
}

/** Gives back what the session holds, its row and its log's pieces: it must not be used after. */
export function releaseStoredSession(session: StoredSession): void {
  releaseLog(session);
  session.rows.release(session.row);
}

/**
 * Appends one message record (checked: see `protocol/message-record.ts`) to the session's log, taking
 * pieces from its arena as it needs them. It adds `logGrowth(session.logBytes, session.logCapacity, record.length)` bytes of room.
 * The caller has checked that the log stays within `MAX_LOG_BYTES` (`SessionStore.append`).
 */
export function appendMessageRecord(session: StoredSession, record: Uint8Array): void {
  appendMessageRecordAt(session.rows, session.row, session.arena, record);
}

/**
 * `appendMessageRecord` for the session in `row` of `rows`, whose log is in `arena`: it reads the session
 * object only when the log needs a piece or a checkpoint, so that most appends touch the row and the log's
 * end and nothing else.
 */
export function appendMessageRecordAt(rows: SessionRows, row: number, arena: LogArena, record: Uint8Array): void {
  const count = rows.messageCount(row);
  if (count % CHECKPOINT_EVERY === 0 && count > 0) noteMessageStart(rows.sessions[row]!, count, rows.logBytes(row));
  writeLog(rows, row, arena, record);
  rows.setMessageCount(row, count + 1);
}

/** Writes `bytes` at the end of the log of the session in `row`. */
function writeLog(rows: SessionRows, row: number, arena: LogArena, bytes: Uint8Array): void {
  for (let from = 0; from < bytes.length; ) {
    if (rows.logRoom(row) === 0) addPiece(rows, row, arena);
    // Every piece but the last is full: the write goes into the last one.
    const last = rows.lastPiece(row);
    const room = rows.logRoom(row);
    const length = Math.min(room, bytes.length - from);
    const inPiece = arena.offsetOf(last) + pieceBytes(levelOf(last)) - room;
    arena.pageOf(last).set(length === bytes.length ? bytes : bytes.subarray(from, from + length), inPiece);
    rows.setLogRoom(row, room - length);
    from += length;
  }
  rows.setLogBytes(row, rows.logBytes(row) + bytes.length);
}

/**
 * Adds one unit of room at the end of a full log: a new unit piece, or, when the log ends in three full
 * pieces of each level below some level L, one piece of level L holding their bytes with a unit to spare
 * (3 x (4^(L-1) + ... + 1) = 4^L - 1 units). So a log has at most three pieces of a level, largest first.
 * Unit pieces go to the row; only a merge reads and changes the session object and its table.
 */
function addPiece(rows: SessionRows, row: number, arena: LogArena): void {
  const tail = rows.tailCount(row);
  let added: number;
  if (tail < TAIL_SLOTS) {
    added = arena.allocate(0);
    rows.setTailPiece(row, tail, added);
  } else {
    added = mergeIntoTable(rows.sessions[row]!, rows, row, arena);
    rows.clearTailPieces(row);
  }
  rows.setLastPiece(row, added);
  rows.setLogRoom(row, LOG_UNIT_BYTES);
}

/**
 * Merges the row's three unit pieces, and the three pieces of each level above them that end the table,
 * into one new piece at the end of the table; returns it.
 */
function mergeIntoTable(session: StoredSession, rows: SessionRows, row: number, arena: LogArena): number {
  let { pieces, tableCount: first } = session;
  const count = first;
  let level = 1;
  // Pieces are largest first: when the first and third of three are of one level, so is the second.
  while (level < MAX_LEVEL && first >= 3 && levelOf(pieces[first - 1]!) === level && levelOf(pieces[first - 3]!) === level) {
    first -= 3;
    level++;
  }
  const added = arena.allocate(level);
  const page = arena.pageOf(added);
  let to = arena.offsetOf(added);
  for (let i = first; i < count + TAIL_SLOTS; i++) {
    const piece = i < count ? pieces[i]! : rows.tailPiece(row, i - count);
    const from = arena.offsetOf(piece);
    to += arena.pageOf(piece).copy(page, to, from, from + pieceBytes(levelOf(piece)));
    arena.release(piece);
  }
  if (arena.holding || first === pieces.length) {
    // A new table while a reader may still read the old one, or when the old one is full. Copied in a
    // loop: a view of a small table (on V8's heap) would give it an ArrayBuffer of its own, off the heap.
    const table = new Uint32Array(Math.max(4, first === pieces.length ? pieces.length * 2 : pieces.length));
    for (let i = 0; i < first; i++) table[i] = pieces[i]!;
    pieces = table;
    session.pieces = table;
  }
  pieces[first] = added;
  session.tableCount = first + 1;
  return added;
}

/**
 * The bytes of room appending `bytes` to a log of `logBytes` bytes in `logCapacity` adds: each new piece,
 * merged or not, adds one unit.
 */
export function logGrowth(logBytes: number, logCapacity: number, bytes: number): number {
  const short = logBytes + bytes - logCapacity;
  return short <= 0 ? 0 : Math.ceil(short / LOG_UNIT_BYTES) * LOG_UNIT_BYTES;
}

/**
 * Gives the session's pieces back to its arena, for other sessions to write over: the session must not be
 * read after the arena's next `allocate()`, unless the arena holds releases (`LogArena.hold`).
 */
function releaseLog(session: StoredSession): void {
  for (let i = 0, count = session.pieceCount; i < count; i++) session.arena.release(pieceAt(session, i));
}

/** The handle of the log's piece number `i` (see `StoredSession.pieces`). */
function pieceAt(session: StoredSession, i: number): number {
  return i < session.tableCount ? session.pieces[i]! : session.rows.tailPiece(session.row, i - session.tableCount);
}

/** The bytes the session's log takes in its arena. */
export function logCapacityOf(session: StoredSession): number {
  return session.logCapacity;
}

/**
 * Copies log bytes `start` up to `end` into `target` at `at`, one copy for pieces that lie next to each
 * other in a page (a log written in one go, or merged).
 */
function copyLog(session: StoredSession, start: number, end: number, target: Buffer, at: number): void {
  const { arena } = session;
  let page: Buffer | null = null;
  let runFrom = 0;
  let runTo = 0;
  for (let i = 0, pieceStart = 0; pieceStart < end; i++) {
    const piece = pieceAt(session, i);
    const size = pieceBytes(levelOf(piece));
    const pieceEnd = pieceStart + size;
    if (pieceEnd > start) {
      const from = arena.offsetOf(piece) + Math.max(0, start - pieceStart);
      const to = arena.offsetOf(piece) + Math.min(size, end - pieceStart);
      const piecePage = arena.pageOf(piece);
      if (piecePage === page && from === runTo) {
        runTo = to;
      } else {
        if (page !== null) at += page.copy(target, at, runFrom, runTo);
        page = piecePage;
        runFrom = from;
        runTo = to;
      }
    }
    pieceStart = pieceEnd;
  }
  if (page !== null) page.copy(target, at, runFrom, runTo);
}

/**
 * Where the log is after the `count` records that start at log byte `at` (see `messageRecordEnd`),
 * finding the piece once and moving on from it; a header across two pieces is read from a copy.
 */
function skipRecords(session: StoredSession, at: number, count: number): number {
  const { arena } = session;
  let i = 0;
  let pieceStart = 0;
  let size = pieceBytes(levelOf(pieceAt(session, 0)));
  // A record's head (up to its content's header), then, with metadata, the metadata's bin header: each read
  // in place when its piece holds it, else from a copy.
  const endOf = (from: number, headBytes: number, read: (bytes: Uint8Array, at: number) => number): number => {
    while (from >= pieceStart + size) {
      pieceStart += size;
      size = pieceBytes(levelOf(pieceAt(session, ++i)));
    }
    if (from + headBytes <= pieceStart + size) {
      const piece = pieceAt(session, i);
      const inPage = arena.offsetOf(piece) + from - pieceStart;
      return from + read(arena.pageOf(piece), inPage) - inPage;
    }
    copyLog(session, from, Math.min(from + headBytes, session.logBytes), headerScratch, 0);
    return from + read(headerScratch, 0);
  };
  for (; count > 0; count--) {
    let withMetadata = false;
    const bodyEnd = endOf(at, MAX_RECORD_HEAD_BYTES, (bytes, from) => {
      withMetadata = recordHasMetadata(bytes, from);
      return messageRecordBodyEnd(bytes, from);
    });
    at = withMetadata ? endOf(bodyEnd, MAX_BIN_HEADER_BYTES, binValueEnd) : bodyEnd;
  }
  return at;
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
  const at = checkpoint > 0 ? session.checkpoints![checkpoint - 1]! : 0;
  return skipRecords(session, at, index - checkpoint * CHECKPOINT_EVERY);
}

/** Sets the checkpoints of a session whose log was put in whole (a recovered one). */
function rebuildCheckpoints(session: StoredSession): void {
  session.checkpoints = null;
  for (let index = CHECKPOINT_EVERY, at = 0; index < session.messageCount; index += CHECKPOINT_EVERY) {
    at = skipRecords(session, at, CHECKPOINT_EVERY);
    noteMessageStart(session, index, at);
  }
}

/**
 * Writes the session as a Session record with `count` of its messages from index `from` (the caller
 * clamped them). Its `lastAccessed` is written as it is now: refresh it before.
 */
export function writeSession(writer: MsgpackWriter, session: StoredSession, from: number, count: number): void {
  const start = offsetOfMessage(session, from);
  const end = from + count >= session.messageCount ? session.logBytes : offsetOfMessage(session, from + count);
  writer.recordHeader(SESSION_V3_STRUCTURE);
  writer.string(session.id);
  writer.number(session.createdAt);
  writer.number(session.lastAccessed);
  writer.arrayHeader(count);
  writeLogBytes(writer, session, start, end);
  writer.raw(session.capabilities);
  writer.raw(session.servers);
  writeOptionalString(writer, session.cwd);
  writeOptionalString(writer, session.title);
  writer.number(session.updatedAt);
  writeOptionalString(writer, session.owner);
  writer.raw(session.metadata);
  writer.number(session.messageCount);
}

/** Where a window's records are gathered for `addMessagesJson`: one buffer, reused, given back past 1 MiB. */
let windowScratch = Buffer.allocUnsafe(64 * 1024);

/** Adds `count` of the session's messages from index `from` (the caller clamped them) to `json`, begun by the caller. */
export function addMessagesJson(json: MessagesJsonWriter, session: StoredSession, from: number, count: number): void {
  const start = offsetOfMessage(session, from);
  const end = from + count >= session.messageCount ? session.logBytes : offsetOfMessage(session, from + count);
  if (windowScratch.length < end - start) windowScratch = Buffer.allocUnsafe(end - start);
  const bytes = windowScratch;
  try {
    copyLog(session, start, end, bytes, 0);
    for (let at = 0; at < end - start; ) at = json.add(bytes, at);
  } finally {
    if (bytes.length > 1_048_576) windowScratch = Buffer.allocUnsafe(64 * 1024);
  }
}

/** Copies log bytes `start` up to `end` into the writer as they are (whole records: msgpack values). */
export function writeLogBytes(writer: MsgpackWriter, session: StoredSession, start: number, end: number): void {
  const bytes = end - start;
  const target = writer.reserve(bytes);
  copyLog(session, start, end, target, writer.length);
  writer.advanceTo(writer.length + bytes);
}

/** The ids of the session's messages (read from its log the first time a write needs them, then kept up to date). */
export function idsOf(session: StoredSession): Set<string> {
  const count = session.messageCount;
  if (session.ids !== null && session.idsCount === count) return session.ids;
  const ids = session.ids ?? new Set<string>();
  const from = session.ids === null ? 0 : session.idsCount;
  const start = offsetOfMessage(session, from);
  const log = logSlice(session, start, session.logBytes);
  for (let at = 0, i = from; i < count; i++) {
    ids.add(messageRecordId(log, at));
    at = recordHasMetadata(log, at) ? binValueEnd(log, messageRecordBodyEnd(log, at)) : messageRecordBodyEnd(log, at);
  }
  session.ids = ids;
  session.idsCount = count;
  return ids;
}

/** Where the record at `at` of `bytes` (whole records) ends. */
export function recordEndIn(bytes: Uint8Array, at: number): number {
  return recordHasMetadata(bytes, at) ? binValueEnd(bytes, messageRecordBodyEnd(bytes, at)) : messageRecordBodyEnd(bytes, at);
}

/**
 * Gives the session a new log made of `parts` (whole records, `count` of them), releasing the old one's
 * pieces. A history edit (pop, splice, a legacy upgrade) rebuilds the log so: an append-only log of pieces
 * has no cheaper way to lose records in its middle.
 */
export function replaceLog(session: StoredSession, parts: readonly Uint8Array[], count: number): void {
  const { rows, row, arena } = session;
  releaseLog(session);
  session.pieces = NO_PIECES;
  session.tableCount = 0;
  session.checkpoints = null;
  rows.clearTailPieces(row);
  rows.setLogRoom(row, 0);
  rows.setLogBytes(row, 0);
  for (const part of parts) if (part.length > 0) writeLog(rows, row, arena, part);
  rows.setMessageCount(row, count);
  rebuildCheckpoints(session);
  session.ids = null;
}

/** The log bytes `start` up to `end`, copied out. */
export function logSlice(session: StoredSession, start: number, end: number): Buffer {
  const bytes = Buffer.allocUnsafe(end - start);
  copyLog(session, start, end, bytes, 0);
  return bytes;
}

function writeOptionalString(writer: MsgpackWriter, value: string | null): void {
  if (value === null) writer.nil();
  else writer.string(value);
}

/**
 * A point-in-time copy of a session that later appends and updates do not change: appends only write past
 * `logBytes`, and encoded fields are replaced, never mutated. Cheap: no bytes copied, its row copied into
 * `into`. Its pieces are the session's: while the copy is read, the arena must hold releases
 * (`LogArena.hold`). It is for reading: it holds its row in `into` until `into` goes.
 */
export function captureStoredSession(session: StoredSession, into: SessionRows): StoredSession {
  const copy = new StoredSession(into, session.arena, session.id, session.createdAt, session.capabilities, session.servers, session);
  copy.metadata = session.metadata;
  into.copyRow(session.rows, session.row, copy.row);
  copy.pieces = session.pieces;
  copy.tableCount = session.tableCount;
  copy.checkpoints = session.checkpoints;
  return copy;
}

/**
 * A session as a snapshot stores it: every field it has, by name, with the log trimmed to its records.
 * By name, so that a later version that adds fields still reads it (`restoreStoredSession`).
 */
export function serialiseStoredSession(session: StoredSession): Record<string, unknown> {
  const log = Buffer.allocUnsafe(session.logBytes);
  copyLog(session, 0, session.logBytes, log, 0);
  const { logBytes: _, ...fields } = serialiseSessionFields(session);
  return { ...fields, log };
}

/**
 * `serialiseStoredSession`'s record without the log, which is stored after it (a log of several GiB does
 * not fit in one record): `logBytes` says how many bytes `restoreStoredSession` must be given.
 */
export function serialiseSessionFields(session: StoredSession): Record<string, unknown> {
  // Not stored: where the log and the row are, and what is derived from the id and the log.
  return {
    id: session.id,
    createdAt: session.createdAt,
    lastAccessed: session.lastAccessed,
    messageCount: session.messageCount,
    capabilities: session.capabilities,
    servers: session.servers,
    updatedAt: session.updatedAt,
    cwd: session.cwd,
    title: session.title,
    owner: session.owner,
    metadata: session.metadata,
    logBytes: session.logBytes,
  };
}

/** Copies the session's log bytes `start` up to `end` into `target` at 0. */
export function readLogBytes(session: StoredSession, start: number, end: number, target: Buffer): void {
  copyLog(session, start, end, target, 0);
}

/** The fields `restoreStoredSession` takes from a record as they are; it rebuilds the others. */
const RESTORED_KEYS = ['lastAccessed', 'updatedAt', 'cwd', 'title', 'owner'] as const;

/**
 * Rebuilds a session from `serialiseStoredSession`'s record, in a row of `rows`, its log in pieces of
 * `arena`. Fields the record lacks (written by an older version) keep `newStoredSession`'s defaults; keys
 * this version does not know are ignored. Throws a `TypeError` for a record that is not a session, and
 * then holds nothing.
 */
export function restoreStoredSession(record: unknown, rows: SessionRows, arena: LogArena, logPieces: Iterable<Uint8Array> = []): StoredSession {
  if (typeof record !== 'object' || record === null) throw new TypeError('not a session record');
  const given = record as Record<string, unknown>;
  const { id, createdAt, log, logBytes, messageCount, capabilities, servers } = given;
  // The log comes whole (`log`) or after the record, in `logPieces` adding up to `logBytes`.
  const whole = log instanceof Uint8Array;
  if (typeof id !== 'string' || typeof createdAt !== 'number' || !(whole || Number.isSafeInteger(logBytes)) || !Number.isSafeInteger(messageCount)) {
    throw new TypeError('not a session record');
  }
  if (!(capabilities instanceof Uint8Array) || !(servers instanceof Uint8Array)) throw new TypeError('not a session record');
  const expected = whole ? log.length : (logBytes as number);
  if (expected > MAX_LOG_BYTES) throw new TypeError('not a session record');
  const session = newStoredSession(rows, arena, id, createdAt, reencodeStoredField(capabilities), reencodeStoredField(servers));
  const fields = session as unknown as Record<string, unknown>;
  for (const key of RESTORED_KEYS) {
    const value = given[key];
    if (value === undefined) continue;
    // A field keeps its type; one that defaults to null takes what the record holds.
    if (typeof value === typeof fields[key] || fields[key] === null) fields[key] = value;
  }
  if (given.metadata instanceof Uint8Array && given.metadata.length > 0) session.metadata = new Uint8Array(given.metadata);
  try {
    let written = 0;
    if (whole) writeLog(rows, session.row, arena, log);
    else {
      for (const piece of logPieces) {
        if (written + piece.length > expected) throw new TypeError(`session ${id}: more log bytes than the ${expected} its record announces`);
        writeLog(rows, session.row, arena, piece);
        written += piece.length;
      }
      if (written !== expected) throw new TypeError(`session ${id}: its log is cut short (${written} of ${expected} bytes)`);
    }
    rows.setMessageCount(session.row, messageCount as number);
    rebuildCheckpoints(session);
  } catch (error) {
    releaseStoredSession(session);
    throw error;
  }
  return session;
}
