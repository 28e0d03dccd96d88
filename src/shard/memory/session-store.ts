/**
 * One shard's sessions: its `Map`, idle expiry, and limits. Pure and synchronous: time comes from an
 * injected clock, so the rules can be tested without waiting. The worker around it owns the timer.
 */
import { ErrorCode } from '../../protocol/error-codes.js';
import { newMessageId } from '../../protocol/message-ids.js';
import { isLegacyRecord, messageRecordId, messageRecordTimestamp, sameMessageRecord, upgradeLegacyRecord } from '../../protocol/message-record.js';
import type { SessionId } from '../../protocol/model.js';
import { fail, OperationFailure } from '../../protocol/operation-failure.js';
import { LogArena } from './log-arena.js';
import { SessionIndex } from './session-index.js';
import { SessionRows } from './session-rows.js';
import {
  appendMessageRecordAt,
  captureStoredSession,
  idsOf,
  logSlice,
  recordEndIn,
  replaceLog,
  logCapacityOf,
  logGrowth,
  MAX_LOG_BYTES,
  newStoredSession,
  offsetOfMessage,
  releaseStoredSession,
  type SessionFields,
  type StoredSession,
} from './stored-session.js';

/** The limits a store enforces itself (the others are enforced before a request is encoded). */
export interface StoreLimits {
  /** Idle time after which a session is expired, in milliseconds. */
  maxSessionAgeMs: number;
  maxMessagesPerSession: number;
  /**
   * The most bytes of sessions the store takes (`weightOf` summed): creates, appends and updates beyond it
   * reject `ERR_CAPACITY`, so that a full shard refuses work instead of growing until it, or the whole
   * process, dies with every session.
   */
  maxBytes: number;
  /** The most bytes one session holds (`sessionBytesOf`): creates, appends and updates past it reject `ERR_LIMIT_EXCEEDED`. */
  maxBytesPerSession?: number;
  /**
   * The largest encoded capabilities or servers the host lets through: with `maxBytesPerSession`, it lets
   * an append that leaves room for the largest fields skip reading the session's fields.
   */
  maxFieldBytes?: number;
}

/** What a session costs beyond its log and fields: its object, its id, its row and its slot (an estimate). */
const SESSION_OVERHEAD_BYTES = 256;

/** The fields of a session that `update()` may replace. */
type ReplaceableFields = Pick<StoredSession, 'capabilities' | 'servers' | 'cwd' | 'title' | 'owner' | 'metadata'>;

/** The bytes a session is counted for against `StoreLimits.maxBytes`. */
export function weightOf(session: StoredSession): number {
  return SESSION_OVERHEAD_BYTES + logCapacityOf(session) + fieldsWeight(session);
}

/** The bytes a session holds, as `StoreLimits.maxBytesPerSession` counts them: its messages' records and its fields. */
export function sessionBytesOf(session: StoredSession): number {
  return session.logBytes + fieldsWeight(session);
}

/** The bytes a read of `count` messages from index `from` counts for against `maxBytesPerSession`. */
export function readBytesOf(session: StoredSession, from: number, count: number): number {
  const end = from + count >= session.messageCount ? session.logBytes : offsetOfMessage(session, from + count);
  return end - offsetOfMessage(session, from) + fieldsWeight(session);
}

/** Splits `bytes` (whole records) into one view per record. */
function splitRecords(bytes: Uint8Array): Uint8Array[] {
  const records: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const end = recordEndIn(bytes, at);
    records.push(bytes.subarray(at, end));
    at = end;
  }
  return records;
}

/** The most of the newest messages a read may return within `maxBytes` (`readBytesOf`): a binary search. */
export function newestMessagesWithin(session: StoredSession, maxBytes: number): number {
  let fits = 0;
  let tooMany = session.messageCount + 1;
  while (tooMany - fits > 1) {
    const middle = Math.floor((fits + tooMany) / 2);
    if (readBytesOf(session, session.messageCount - middle, middle) <= maxBytes) fits = middle;
    else tooMany = middle;
  }
  return fits;
}

/** The most `fieldsWeight` of a session whose fields the host checked: two encoded fields, and the longest cwd, title and owner. */
function maxFieldsWeight(maxFieldBytes: number): number {
  return 2 * maxFieldBytes + 4_096 + 1_024 + 256;
}

function fieldsWeight(fields: ReplaceableFields): number {
  return (
    fields.capabilities.length +
    fields.servers.length +
    fields.metadata.length +
    (fields.cwd?.length ?? 0) +
    (fields.title?.length ?? 0) +
    (fields.owner?.length ?? 0)
  );
}

/** What `list()` keeps and in which order. */
export interface ListFilter {
  /** Descending ids; `after` then means "older than". */
  desc: boolean;
  /** Only sessions with exactly this `cwd` (`null`: any). */
  cwd: string | null;
  /** Only sessions with exactly this `owner` (`null`: any). */
  owner: string | null;
}

const ANY: ListFilter = Object.freeze({ desc: false, cwd: null, owner: null });

/** The bookkeeping of a capture in progress. */
interface Capture {
  cursor: IterableIterator<StoredSession>;
  /** Ids already handed out. */
  visited: Set<SessionId>;
  /** Ids created after the capture began: not part of it. */
  born: Set<SessionId>;
  /** The rows of the copies the capture keeps and hands out. */
  rows: SessionRows;
  /** Sessions as they were when the capture began, copied before they changed or went. */
  preserved: Map<SessionId, StoredSession>;
}

/** A clock returning milliseconds since the epoch. */
export type Clock = () => number;

/** How many entries a sweep step visits between looks at the clock. */
const SWEEP_CHECK_EVERY = 1024;

export class SessionStore {
  /** Where the sessions' logs are. */
  readonly arena = new LogArena();
  /** Where the sessions' hot state is (`session-rows.ts`). */
  readonly rows = new SessionRows();
  private readonly sessions = new SessionIndex(this.rows);
  /** The capture in progress (see `capture()`), or `null`. */
  private capturing: Capture | null = null;
  private messages = 0;
  /** `weightOf` summed over the sessions held. */
  private bytes = 0;
  private expired: SessionId[] = [];
  /** The next row a sweep looks at; a sweep in progress keeps its place here between steps (0: a new pass). */
  private sweepCursor = 0;
  private sweepRemoved = 0;

  /**
   * Set while recovery replays the log: what was acknowledged comes back whatever today's limits
   * (`maxMessagesPerSession`, the byte budget), which apply to new writes only.
   */
  replaying = false;

  /** The most bytes one session holds. */
  private readonly maxBytesPerSession: number;
  /** A log that stays within this after an append keeps its session within `maxBytesPerSession` whatever its fields. */
  private readonly logBytesSurelyWithin: number;

  constructor(
    private readonly limits: StoreLimits,
    private readonly clock: Clock = Date.now,
  ) {
    this.maxBytesPerSession = limits.maxBytesPerSession ?? Infinity;
    this.logBytesSurelyWithin = this.maxBytesPerSession - maxFieldsWeight(limits.maxFieldBytes ?? Infinity);
  }

  /** The `maxBytesPerSession` limit, for the reads it bounds. */
  get sessionLimitBytes(): number {
    return this.maxBytesPerSession;
  }

  /** Sessions held, including those idle past the TTL that no sweep or access has removed yet. */
  get size(): number {
    return this.sessions.size;
  }

  /** Messages held across all sessions. */
  get messageCount(): number {
    return this.messages;
  }

  /** The bytes the sessions held are counted for (see `StoreLimits.maxBytes`). */
  get heldBytes(): number {
    return this.bytes;
  }

  /** Creates a session from its encoded capabilities, servers and metadata (see `stored-session.ts`) and its plain fields. */
  create(id: SessionId, capabilities: Uint8Array, servers: Uint8Array, fields?: SessionFields, metadata?: Uint8Array): void {
    const now = this.clock();
    if (this.liveRow(id, now) >= 0) {
      throw new OperationFailure(ErrorCode.INVALID_ARGUMENT, `id: session ${id} already exists`);
    }
    const session = newStoredSession(this.rows, this.arena, id, now, capabilities, servers, fields);
    if (metadata !== undefined) session.metadata = metadata;
    try {
      this.checkSessionBytes(id, fieldsWeight(session), 'its fields');
      this.reserve(id, weightOf(session));
    } catch (error) {
      releaseStoredSession(session);
      throw error;
    }
    this.sessions.add(session);
    this.capturing?.born.add(id);
  }

  /**
   * The session with its `lastAccessed` refreshed, or undefined if unknown or expired. The caller must
   * write it out (`writeSession`) before the next mutation: it is the stored object, not a copy.
   */
  get(id: SessionId): StoredSession | undefined {
    const now = this.clock();
    const row = this.liveRow(id, now);
    if (row < 0) return undefined;
    const session = this.rows.sessions[row]!;
    this.preserve(session);
    this.rows.setLastAccessed(row, now);
    return session;
  }

  /** Appends a message record (checked: see `protocol/message-record.ts`) and returns the new context length. */
  append(id: SessionId, record: Uint8Array): number {
    const now = this.clock();
    // By row, not by object: most appends then touch the row and the log's end and nothing else.
    const row = this.requireRow(id, now);
    const { rows } = this;
    const count = rows.messageCount(row);
    const logBytes = rows.logBytes(row);
    if (count >= this.limits.maxMessagesPerSession && !this.replaying) {
      throw new OperationFailure(
        ErrorCode.LIMIT_EXCEEDED,
        `maxMessagesPerSession: session ${id} already holds ${count} messages (the limit is ${this.limits.maxMessagesPerSession})`,
      );
    }
    if (logBytes + record.length > MAX_LOG_BYTES) {
      throw new OperationFailure(
        ErrorCode.LIMIT_EXCEEDED,
        `message: session ${id} holds ${logBytes} bytes of messages; this one would pass the most one session can hold (${MAX_LOG_BYTES} bytes)`,
      );
    }
    if (logBytes + record.length > this.logBytesSurelyWithin) {
      this.checkSessionBytes(id, logBytes + record.length + fieldsWeight(rows.sessions[row]!), `its messages with this one (${record.length} bytes)`);
    }
    // Counted before anything is written: a refused append leaves the log as it was, merges included.
    this.reserve(id, logGrowth(logBytes, logBytes + rows.logRoom(row), record.length));
    if (this.capturing !== null) this.preserve(rows.sessions[row]!);
    appendMessageRecordAt(rows, row, this.arena, record);
    rows.setLastAccessed(row, now);
    rows.setUpdatedAt(row, now);
    this.messages++;
    return count + 1;
  }

  /** Replaces the encoded fields given (`null`: unchanged) and the plain fields present in `fields`. */
  update(
    id: SessionId,
    capabilities: Uint8Array | null,
    servers: Uint8Array | null,
    fields?: Partial<SessionFields>,
    metadata: Uint8Array | null = null,
  ): void {
    const now = this.clock();
    const session = this.require(id, now);
    const changes = {
      capabilities: capabilities ?? session.capabilities,
      servers: servers ?? session.servers,
      metadata: metadata ?? session.metadata,
      cwd: fields?.cwd !== undefined ? fields.cwd : session.cwd,
      title: fields?.title !== undefined ? fields.title : session.title,
      owner: fields?.owner !== undefined ? fields.owner : session.owner,
    };
    this.checkSessionBytes(id, session.logBytes + fieldsWeight(changes), 'its messages and these fields');
    this.reserve(id, fieldsWeight(changes) - fieldsWeight(session));
    this.preserve(session);
    Object.assign(session, changes);
    session.lastAccessed = now;
    session.updatedAt = now;
  }

  /**
   * Appends records all or none (see `AppendManyArgs` in `protocol/ops.ts`): a retry of the newest ones
   * appends nothing; then `ifLength`, new ids and the limits. Returns the new length.
   */
  appendMany(id: SessionId, records: readonly Uint8Array[], stamped: readonly boolean[], ifLength: number): number {
    const now = this.clock();
    const session = this.require(id, now);
    const count = session.messageCount;
    if (this.isRetry(session, records, stamped)) {
      session.lastAccessed = now;
      return count;
    }
    this.checkLength(session, ifLength);
    this.checkNewIds(session, idsOf(session), records);
    let bytes = 0;
    for (const record of records) bytes += record.length;
    this.checkGrowth(session, count + records.length, session.logBytes + bytes, records.length);
    this.reserve(id, logGrowth(session.logBytes, session.logCapacity, bytes));
    this.preserve(session);
    const { rows, row } = session;
    const ids = session.ids!;
    for (const record of records) {
      appendMessageRecordAt(rows, row, this.arena, record);
      ids.add(messageRecordId(record));
    }
    session.idsCount = count + records.length;
    this.messages += records.length;
    session.lastAccessed = now;
    if (records.length > 0) session.updatedAt = now;
    return count + records.length;
  }

  /** Removes the newest message and returns its record (a copy), or `null` when the session has none. */
  pop(id: SessionId, ifLength: number): Uint8Array | null {
    const now = this.clock();
    const session = this.require(id, now);
    this.checkLength(session, ifLength);
    session.lastAccessed = now;
    const count = session.messageCount;
    if (count === 0) return null;
    const start = offsetOfMessage(session, count - 1);
    const record = logSlice(session, start, session.logBytes);
    this.rebuild(session, [logSlice(session, 0, start)], count - 1);
    session.updatedAt = now;
    return record;
  }

  /**
   * `Array.prototype.splice` on the session's history (`deleteCount` -1: all from `start` on), atomically;
   * returns the removed records, whole, in one buffer, and how many they are.
   */
  splice(id: SessionId, start: number, deleteCount: number, records: readonly Uint8Array[], ifLength: number): { removed: Uint8Array; count: number } {
    const now = this.clock();
    const session = this.require(id, now);
    this.checkLength(session, ifLength);
    const count = session.messageCount;
    const from = start < 0 ? Math.max(count + start, 0) : Math.min(start, count);
    const deleted = deleteCount < 0 ? count - from : Math.min(deleteCount, count - from);
    const removedStart = offsetOfMessage(session, from);
    const removedEnd = offsetOfMessage(session, from + deleted);
    const removed = logSlice(session, removedStart, removedEnd);
    if (records.length > 0) {
      const remaining = new Set(idsOf(session));
      for (const record of splitRecords(removed)) remaining.delete(messageRecordId(record));
      this.checkNewIds(session, remaining, records);
    }
    let inserted = 0;
    for (const record of records) inserted += record.length;
    const newCount = count - deleted + records.length;
    const newBytes = session.logBytes - removed.length + inserted;
    this.checkGrowth(session, newCount, newBytes, records.length);
    if (newBytes > session.logBytes) this.reserve(id, newBytes - session.logBytes);
    this.rebuild(
      session,
      [logSlice(session, 0, removedStart), ...records, logSlice(session, removedEnd, session.logBytes)],
      newCount,
      newBytes > session.logBytes ? newBytes - session.logBytes : 0,
    );
    session.lastAccessed = now;
    session.updatedAt = now;
    return { removed, count: deleted };
  }

  /**
   * A new session `newId` with the source's fields (`title` and `metadata` replaced when not `undefined`)
   * and a copy of its first `messages` messages (-1: all); returns it (to be read before the next change).
   */
  fork(id: SessionId, newId: SessionId, messages: number, title: string | null | undefined, metadata: Uint8Array | undefined): StoredSession {
    const now = this.clock();
    const source = this.require(id, now);
    if (this.liveRow(newId, now) >= 0) fail(ErrorCode.CONFLICT, `fork: session ${newId} already exists`);
    const count = messages < 0 ? source.messageCount : Math.min(messages, source.messageCount);
    const log = logSlice(source, 0, offsetOfMessage(source, count));
    source.lastAccessed = now;
    const fields = { cwd: source.cwd, title: title === undefined ? source.title : title, owner: source.owner };
    const session = newStoredSession(this.rows, this.arena, newId, now, source.capabilities, source.servers, fields);
    session.metadata = metadata ?? source.metadata;
    try {
      replaceLog(session, [log], count);
      this.checkSessionBytes(newId, sessionBytesOf(session), 'the messages and fields it copies');
      this.reserve(newId, weightOf(session));
    } catch (error) {
      releaseStoredSession(session);
      throw error;
    }
    this.sessions.add(session);
    this.messages += count;
    this.capturing?.born.add(newId);
    return session;
  }

  /** Whether the session's newest messages are `records` (a retried append). */
  private isRetry(session: StoredSession, records: readonly Uint8Array[], stamped: readonly boolean[]): boolean {
    const count = session.messageCount;
    if (records.length === 0 || count < records.length) return false;
    let bytes = 0;
    for (const record of records) bytes += record.length;
    const start = offsetOfMessage(session, count - records.length);
    if (session.logBytes - start !== bytes) return false;
    const tail = logSlice(session, start, session.logBytes);
    for (let i = 0, at = 0; i < records.length; i++) {
      const end = recordEndIn(tail, at);
      if (!sameMessageRecord(tail.subarray(at, end), records[i]!, stamped[i]!)) return false;
      at = end;
    }
    return true;
  }

  /** Rejects `ERR_CONFLICT` unless `ifLength` is -1 or the session holds exactly that many messages. */
  private checkLength(session: StoredSession, ifLength: number): void {
    if (ifLength >= 0 && session.messageCount !== ifLength) {
      fail(ErrorCode.CONFLICT, `ifLength: session ${session.id} holds ${session.messageCount} messages, not ${ifLength}; nothing was changed`);
    }
  }

  /** Rejects `ERR_CONFLICT` for an id in `held` or twice among `records`. */
  private checkNewIds(session: StoredSession, held: ReadonlySet<string>, records: readonly Uint8Array[]): void {
    const seen = new Set<string>();
    for (const record of records) {
      const messageId = messageRecordId(record);
      if (held.has(messageId))
        fail(ErrorCode.CONFLICT, `message id ${JSON.stringify(messageId)} is already in session ${session.id} (with other content); nothing was changed`);
      if (seen.has(messageId)) fail(ErrorCode.CONFLICT, `message id ${JSON.stringify(messageId)} is given twice; nothing was changed`);
      seen.add(messageId);
    }
  }

  /** Rejects a write that would leave the session past `maxMessagesPerSession` or its byte limits (growing ones only). */
  private checkGrowth(session: StoredSession, newCount: number, newLogBytes: number, adding: number): void {
    if (adding > 0 && newCount > this.limits.maxMessagesPerSession && newCount > session.messageCount && !this.replaying) {
      fail(
        ErrorCode.LIMIT_EXCEEDED,
        `maxMessagesPerSession: session ${session.id} would hold ${newCount} messages (the limit is ${this.limits.maxMessagesPerSession}); nothing was changed`,
      );
    }
    if (newLogBytes > session.logBytes) {
      if (newLogBytes > MAX_LOG_BYTES) {
        fail(
          ErrorCode.LIMIT_EXCEEDED,
          `message: session ${session.id} would hold ${newLogBytes} bytes of messages, past the most one session can hold (${MAX_LOG_BYTES} bytes)`,
        );
      }
      this.checkSessionBytes(session.id, newLogBytes + fieldsWeight(session), 'these messages');
    }
  }

  /** Gives the session a new log (`replaceLog`), keeping the store's counts; `reserved`: bytes already counted for it. */
  private rebuild(session: StoredSession, parts: readonly Uint8Array[], count: number, reserved = 0): void {
    this.preserve(session);
    const before = weightOf(session);
    const messagesBefore = session.messageCount;
    replaceLog(session, parts, count);
    this.bytes += weightOf(session) - before - reserved;
    this.messages += count - messagesBefore;
  }

  /**
   * Gives the messages of a session written before ids existed (records of the first format) an id each,
   * once, as it is recovered: what is then served and snapshotted keeps it.
   */
  private upgradeLegacyMessages(session: StoredSession): void {
    if (session.messageCount === 0) return;
    const log = logSlice(session, 0, session.logBytes);
    if (!isLegacyRecord(log, 0)) return;
    const records = splitRecords(log).map((record) =>
      isLegacyRecord(record) ? upgradeLegacyRecord(record, newMessageId(messageRecordTimestamp(record))) : record,
    );
    replaceLog(session, records, records.length);
  }

  touch(id: SessionId): boolean {
    const now = this.clock();
    const row = this.liveRow(id, now);
    if (row < 0) return false;
    if (this.capturing !== null) this.preserve(this.rows.sessions[row]!);
    this.rows.setLastAccessed(row, now);
    return true;
  }

  /**
   * Removes the session and returns it as it was. The caller must write it out (`writeSession`) before the
   * next operation: its row and its log's pieces are free for the next session to take.
   */
  remove(id: SessionId): StoredSession | undefined {
    const row = this.liveRow(id, this.clock());
    if (row < 0) return undefined;
    const session = this.rows.sessions[row]!;
    this.delete(session);
    return session;
  }

  /**
   * Ids in ascending order (descending with `filter.desc`), past `after` (exclusive) in that order when
   * given, at most `limit` when `limit >= 0`, keeping only those matching the filter's `cwd` and `owner`.
   */
  list(after: SessionId | null, limit: number, filter: ListFilter = ANY): SessionId[] {
    const now = this.clock();
    const { desc, cwd, owner } = filter;
    const ids: SessionId[] = [];
    for (const session of this.rows.values()) {
      if (after !== null && (desc ? session.id >= after : session.id <= after)) continue;
      if (cwd !== null && session.cwd !== cwd) continue;
      if (owner !== null && session.owner !== owner) continue;
      if (this.isExpired(session, now)) continue;
      ids.push(session.id);
    }
    ids.sort();
    if (desc) ids.reverse();
    if (limit >= 0 && ids.length > limit) ids.length = limit;
    return ids;
  }

  /** Removes every expired session at once; returns how many. */
  sweep(): number {
    this.restartSweep();
    while (!this.sweepStep(Infinity)) {
      // a step with an unlimited budget always finishes
    }
    return this.takeSweepRemoved();
  }

  /**
   * Continues (or starts) a sweep, visiting entries until `budgetMs` of the clock has passed.
   * Returns true when the pass is complete; `takeSweepRemoved()` then tells how many it removed.
   */
  sweepStep(budgetMs: number, timer: Clock = this.clock): boolean {
    const started = timer();
    const now = this.clock();
    const { rows } = this;
    const oldest = now - this.limits.maxSessionAgeMs;
    let visited = 0;
    // Row by row: the rows are read in order, and a session object is read only when it has expired.
    for (;;) {
      const row = this.sweepCursor++;
      if (row >= rows.end) {
        this.sweepCursor = 0;
        return true;
      }
      const session = rows.sessions[row];
      if (session !== undefined && rows.lastAccessed(row) < oldest) {
        this.delete(session);
        this.expired.push(session.id);
        this.sweepRemoved++;
      }
      if (++visited % SWEEP_CHECK_EVERY === 0 && timer() - started >= budgetMs) return false;
    }
  }

  /** Puts a recovered session in, replacing any of the same id. */
  restore(session: StoredSession): void {
    this.upgradeLegacyMessages(session);
    const previous = this.sessions.get(session.id);
    if (previous !== undefined) this.delete(previous);
    this.sessions.add(session);
    this.messages += session.messageCount;
    // Recovery puts back what was acknowledged, even past the budget (a smaller shardHeapMb than before).
    this.bytes += weightOf(session);
  }

  /**
   * Every session as it is now, handed out lazily: the store may keep serving (and changing) between two
   * steps of the iteration, yet what it yields is the state at this call. Copy-on-write: a session is
   * copied only when it changes (or goes) before the iteration reached it, so starting costs O(1), not
   * O(sessions). One capture at a time; it ends when the iteration ends (or is abandoned with `return()`).
   * Each session handed out is a copy to be read before the next step: its row is then given to the next.
   */
  capture(): Iterable<StoredSession> {
    if (this.capturing !== null) throw new Error('a capture is already in progress');
    const state: Capture = { cursor: this.rows.values(), visited: new Set(), born: new Set(), rows: new SessionRows(), preserved: new Map() };
    this.capturing = state;
    // What the capture hands out reads log pieces that removals and merges release meanwhile.
    this.arena.hold();
    const end = (): void => {
      if (this.capturing !== state) return;
      this.capturing = null;
      this.arena.unhold();
    };
    return {
      *[Symbol.iterator]() {
        try {
          for (const session of state.cursor) {
            if (state.born.has(session.id) || state.visited.has(session.id)) continue;
            state.visited.add(session.id);
            const copy = state.preserved.get(session.id) ?? captureStoredSession(session, state.rows);
            yield copy;
            // Without this, the copies' rows would add up to every session's by the end of the capture.
            state.rows.release(copy.row);
          }
          // Sessions removed before the iteration reached them.
          for (const [id, copy] of state.preserved) {
            if (state.visited.has(id)) continue;
            yield copy;
            state.rows.release(copy.row);
          }
        } finally {
          end();
        }
      },
    };
  }

  /** Keeps the current state of `session` for the capture in progress, before it changes. */
  private preserve(session: StoredSession): void {
    const state = this.capturing;
    if (state === null || state.visited.has(session.id) || state.born.has(session.id) || state.preserved.has(session.id)) return;
    state.preserved.set(session.id, captureStoredSession(session, state.rows));
  }

  /** Abandons a pass in progress: the next `sweepStep()` starts a full one. */
  restartSweep(): void {
    this.sweepCursor = 0;
    this.sweepRemoved = 0;
  }

  /** How many sessions the last complete pass removed; resets the count. */
  takeSweepRemoved(): number {
    const removed = this.sweepRemoved;
    this.sweepRemoved = 0;
    return removed;
  }

  /** The ids expired since the last call, each reported once. */
  drainExpired(): SessionId[] | null {
    if (this.expired.length === 0) return null;
    const ids = this.expired;
    this.expired = [];
    return ids;
  }

  /** The row of the session if it exists and has not expired, or -1; an expired one is removed and reported. */
  private liveRow(id: SessionId, now: number): number {
    const row = this.sessions.rowOf(id);
    if (row < 0) return -1;
    if (now - this.rows.lastAccessed(row) > this.limits.maxSessionAgeMs) {
      this.delete(this.rows.sessions[row]!);
      this.expired.push(id);
      return -1;
    }
    return row;
  }

  private requireRow(id: SessionId, now: number): number {
    const row = this.liveRow(id, now);
    if (row < 0) throw new OperationFailure(ErrorCode.SESSION_NOT_FOUND, `id: no session ${id} (unknown or expired)`);
    return row;
  }

  private require(id: SessionId, now: number): StoredSession {
    return this.rows.sessions[this.requireRow(id, now)]!;
  }

  private isExpired(session: StoredSession, now: number): boolean {
    return now - session.lastAccessed > this.limits.maxSessionAgeMs;
  }

  private delete(session: StoredSession): void {
    this.preserve(session);
    this.sessions.delete(session);
    this.messages -= session.messageCount;
    this.bytes -= weightOf(session);
    releaseStoredSession(session);
  }

  /** Rejects `ERR_LIMIT_EXCEEDED` when a session would hold `bytes` (`sessionBytesOf`), past `maxBytesPerSession`. */
  private checkSessionBytes(id: SessionId, bytes: number, what: string): void {
    if (bytes > this.maxBytesPerSession && !this.replaying) {
      throw new OperationFailure(
        ErrorCode.LIMIT_EXCEEDED,
        `maxSessionBytes: session ${id} would hold ${bytes} bytes with ${what}, past the most one session holds (${this.maxBytesPerSession} bytes)`,
      );
    }
  }

  /** Counts `bytes` more against `maxBytes`, or rejects `ERR_CAPACITY` and counts nothing. */
  private reserve(id: SessionId, bytes: number): void {
    if (bytes > 0 && this.bytes + bytes > this.limits.maxBytes && !this.replaying) {
      throw new OperationFailure(
        ErrorCode.CAPACITY,
        `shardHeapMb: this shard holds ${this.bytes} bytes of sessions, and ${bytes} more for session ${id} would pass its share of shardHeapMb (${this.limits.maxBytes} bytes); remove sessions or raise shardHeapMb`,
      );
    }
    this.bytes += bytes;
  }
}
