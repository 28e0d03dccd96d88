/**
 * The memory store as a shard backend: the shard's sessions in its own `SessionStore`, its cleanup timer,
 * and, with persistence, the log of every change it applies and the recovery at start.
 *
 * Operations are applied one after another (`'sequential'`); only a sweep (in slices) and a flush to disk
 * wait. The store's clock is read once per chunk of results and carried into every logged operation, so
 * that recovery replays each at the time it was first applied.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { getHeapStatistics } from 'node:v8';
import { encodeCapabilities, encodeMetadata, encodeServers, reencodeStoredField } from '../../protocol/encoded-fields.js';
import { checkMessageRecord, isLegacyRecord, MessagesJsonWriter } from '../../protocol/message-record.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import type { RecoveryFigures, RecoveryProgress, ShardConfig, ShardEvent } from '../../protocol/messages.js';
import type { SessionId } from '../../protocol/model.js';
import { fail, OperationFailure } from '../../protocol/operation-failure.js';
import { type CreateArgs, expectSessionId, type GetArgs, messagesJsonWrite, OP_BY_CODE, OPS, type OpCodec, type OpName } from '../../protocol/ops.js';
import type { OpHandlers, ShardBackend } from '../backend.js';
import type { ReplySequence } from '../batch-runner.js';
import { injectFault } from '../fault.js';
import { LOG_EXPIRED, LOG_FORKED } from './persistence/recovery.js';
import { ShardPersistence } from './persistence/shard-persistence.js';
import { newestMessagesWithin, readBytesOf, sessionBytesOf, SessionStore } from './session-store.js';
import { addMessagesJson, restoreStoredSession, serialiseStoredSession, type StoredSession, writeSession } from './stored-session.js';

/** The records of an edit, each checked as an append's is; a malformed one fails the whole call. */
function checkedRecords(records: Uint8Array[]): Uint8Array[] {
  for (let i = 0; i < records.length; i++) {
    if (checkMessageRecord(records[i]!) < 0 || isLegacyRecord(records[i]!))
      fail(ErrorCode.INVALID_ARGUMENT, `messages[${i}]: not a well-formed message record`);
  }
  return records;
}

/** The longest a sweep runs before it lets batches in (the target is under 10 ms per slice). */
const SWEEP_SLICE_MS = 4;

const NO_RECOVERY: RecoveryFigures = Object.freeze({ sessions: 0, expired: 0, skippedRecords: 0, ms: 0, warnings: [] }) as RecoveryFigures;

export class MemoryBackend implements ShardBackend {
  readonly mode = 'sequential';
  readonly deadlineMs = Number.POSITIVE_INFINITY;
  readonly store: SessionStore;
  readonly ready: Promise<void>;
  /** What this shard writes to disk; `null` when the engine keeps sessions in memory only. */
  private readonly persistence: ShardPersistence | null;
  /**
   * The store's clock, read once per chunk of operations. A field rather than `Date.now` so that each
   * logged operation carries the time it was applied at, and recovery replays it at that time.
   */
  private now = Date.now();
  /** Where `getJson` writes a read's JSON text. */
  private readonly json = new MessagesJsonWriter(0);
  private recovery: RecoveryFigures = NO_RECOVERY;
  /** The session the last fork made, for `applied` to log. */
  private forked: StoredSession | null = null;
  /** While a batch is applied, expiry records join its log record instead of being written on their own. */
  private batchRunning = false;
  /** Sweeps run one after another: a timer pass and an explicit `sweep()` must not share a cursor. */
  private sweepChain: Promise<number> = Promise.resolve(0);
  /** The longest a slice of the sweep in progress has held this shard, in milliseconds (GC included). */
  private longestSliceThisSweep = 0;
  /** The same figure for the last complete sweep. */
  private lastSweepLongestSliceMs = 0;

  constructor(
    private readonly config: ShardConfig,
    private readonly sequence: ReplySequence,
    /** Posts a message to the host outside any batch (the timer's expiries). */
    private readonly post: (event: ShardEvent | RecoveryProgress) => void,
    /** Tells the host's watchdog that this shard is getting on with its work (`ShardConfig.progress`). */
    private readonly progressed: () => void = () => undefined,
  ) {
    this.store = new SessionStore(
      {
        maxSessionAgeMs: config.maxSessionAgeMs,
        maxMessagesPerSession: config.maxMessagesPerSession,
        maxBytes: config.maxSessionBytes,
        maxBytesPerSession: config.maxBytesPerSession ?? Number.POSITIVE_INFINITY,
        maxFieldBytes: config.maxFieldBytes ?? Number.POSITIVE_INFINITY,
      },
      () => this.now,
    );
    this.persistence =
      config.persistence == null
        ? null
        : new ShardPersistence(
            config.persistence,
            config.shard,
            this.store,
            (time, op, id, arg) => this.replay(time, op, id, arg),
            (time) => {
              this.now = time;
            },
            () => post({ type: 'recovering' }),
          );
    // Recovery runs before the first batch (the start-up ping) is answered; a failure fails the start.
    this.ready =
      this.persistence === null
        ? Promise.resolve()
        : this.persistence.recover().then((figures) => {
            this.recovery = figures;
          });
    // Until the ping awaits it, a failed recovery must not count as an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  /** Starts the cleanup timer; unref'd so that it never keeps a closing worker alive. */
  startCleanupTimer(): void {
    setInterval(() => {
      void this.sweepInSlices().then(() => this.postExpired());
    }, this.config.cleanupIntervalMs).unref();
  }

  readonly handlers: OpHandlers = {
    create: (id, a) => {
      this.store.create(
        id,
        encodeCapabilities(a.capabilities),
        encodeServers(a.servers),
        { cwd: a.cwd, title: a.title, owner: a.owner },
        encodeMetadata(a.metadata),
      );
      return true as const;
    },
    get: (id, a) => {
      const read = this.read(id, a);
      return read === null ? null : (writer) => writeSession(writer, read.session, read.from, read.count);
    },
    getJson: (id, a) => {
      const read = this.read(id, a);
      if (read === null) return null;
      const json = this.json;
      json.begin(this.store.sessionLimitBytes);
      try {
        addMessagesJson(json, read.session, read.from, read.count);
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        fail(
          ErrorCode.LIMIT_EXCEEDED,
          `maxSessionBytes: the JSON text of the ${read.count} messages read from session ${read.session.id} passes what one read returns (${this.store.sessionLimitBytes} bytes); read a smaller window of its messages`,
        );
      }
      // Written out before the next op runs (this backend is sequential), so the reused buffer is safe; a
      // large text is copied out instead, and the buffer given back, so one large read is not kept for good.
      let text = json.finish();
      if (text.length > 1_048_576) {
        text = Buffer.from(text);
        json.shrink();
      }
      return messagesJsonWrite(text, read.session.messageCount);
    },
    append: (id, a) => this.store.append(id, a.record),
    update: (id, a) => {
      this.store.update(
        id,
        a.capabilities === undefined ? null : encodeCapabilities(a.capabilities),
        a.servers === undefined ? null : encodeServers(a.servers),
        { cwd: a.cwd, title: a.title, owner: a.owner },
        a.metadata === undefined ? null : encodeMetadata(a.metadata),
      );
      return true as const;
    },
    touch: (id) => this.store.touch(id),
    appendMany: (id, a) => this.store.appendMany(id, checkedRecords(a.records), a.stamped, a.ifLength),
    pop: (id, a) => {
      const record = this.store.pop(id, a.ifLength);
      return record === null ? null : (writer) => writer.raw(record);
    },
    splice: (id, a) => {
      const { removed, count } = this.store.splice(id, a.start, a.deleteCount, checkedRecords(a.records), a.ifLength);
      return (writer) => {
        writer.arrayHeader(count);
        writer.raw(removed);
      };
    },
    fork: (id, a) => {
      this.forked = this.store.fork(id, a.newId, a.messages, a.setTitle ? a.title : undefined, a.setMetadata ? encodeMetadata(a.metadata) : undefined);
      return true as const;
    },
    remove: (id) => {
      const session = this.store.remove(id);
      if (session === undefined) return null;
      // Removed whatever its size; what is returned is bounded like a read: its newest messages that fit.
      const limit = this.store.sessionLimitBytes;
      const count = sessionBytesOf(session) > limit ? newestMessagesWithin(session, limit) : session.messageCount;
      return (writer) => writeSession(writer, session, session.messageCount - count, count);
    },
    list: (after, a) => this.store.list(after, a.limit, { desc: a.desc, cwd: a.cwd, owner: a.owner }),
    size: () => this.store.size,
    sweep: () => this.sweepInSlices(),
    stats: () => ({
      sessions: this.store.size,
      messages: this.store.messageCount,
      sessionBytes: this.store.heldBytes,
      heapUsedBytes: getHeapStatistics().used_heap_size,
      lastSweepSliceMs: this.lastSweepLongestSliceMs,
      logBytes: this.store.arena.bytesInUse,
      logBytesFree: this.store.arena.bytesFree,
    }),
    ping: () => this.config.shard,
    fault: (_id, kind) => {
      if (!this.config.faultInjection) fail(ErrorCode.INVALID_ARGUMENT, 'faultInjection: not enabled for this engine');
      injectFault(kind, this.config.shard);
      return true as const;
    },
    recovery: () => this.recovery,
    flush: async (_id, a) => {
      await this.persistence?.flush(a.close);
      this.progressed();
      // The engine is closing: the worker is terminated next and must not leave its fd open.
      if (a.close) this.persistence?.close();
      return true as const;
    },
  };

  get size(): number {
    return this.store.size;
  }

  /** Never called: a memory shard is sequential and answers every operation. */
  unanswered(): OperationFailure {
    return new OperationFailure(ErrorCode.PROTOCOL, 'a memory shard answers every operation');
  }

  batchStarted(): void {
    this.batchRunning = true;
  }

  chunkStarted(): void {
    this.progressed();
    this.now = Date.now();
  }

  /** Logs an applied change; a read is logged as the touch it is (it refreshes the idle clock). */
  applied(op: OpCodec<OpName>, wireId: unknown, wireArgs: unknown): void {
    if (this.persistence === null) return;
    if (op === OPS.fork) {
      // The copy is logged whole under its own id (see LOG_FORKED); the source was read, as a touch is.
      const forked = this.forked!;
      this.forked = null;
      this.persistence.record(this.now, OPS.touch.code, wireId as string, null);
      this.persistence.record(this.now, LOG_FORKED, forked.id, serialiseStoredSession(forked));
    } else if (op.logged === 'self') this.persistence.record(this.now, op.code, wireId as string, wireArgs);
    else if (op.logged === 'touch') this.persistence.record(this.now, OPS.touch.code, wireId as string, null);
  }

  drainExpired(): string[] | null {
    const expired = this.store.drainExpired();
    if (expired !== null) this.persistence?.expired(this.now, expired);
    return expired;
  }

  batchEnded(): void {
    this.persistence?.commit();
    this.batchRunning = false;
  }

  /** The session and the window of its messages a read returns (`null`: no such session); refreshes its idle clock. */
  private read(id: SessionId, a: GetArgs): { session: StoredSession; from: number; count: number } | null {
    const session = this.store.get(id);
    if (session === undefined) return null;
    const total = session.messageCount;
    const from = a.lastMessages >= 0 ? total - Math.min(a.lastMessages, total) : Math.min(a.fromMessage, total);
    const count = a.lastMessages >= 0 ? total - from : a.maxMessages < 0 ? total - from : Math.min(a.maxMessages, total - from);
    // Only a session restored past today's limit holds more: a read never hands the host more.
    const limit = this.store.sessionLimitBytes;
    if (sessionBytesOf(session) > limit && readBytesOf(session, from, count) > limit) {
      fail(
        ErrorCode.LIMIT_EXCEEDED,
        `maxSessionBytes: session ${session.id} holds ${sessionBytesOf(session)} bytes, past what one read returns (${limit} bytes); read a window of its messages (lastMessages, or fromMessage and maxMessages)`,
      );
    }
    return { session, from, count };
  }

  private sweepInSlices(): Promise<number> {
    this.sweepChain = this.sweepChain.then(async () => {
      this.store.restartSweep();
      this.longestSliceThisSweep = 0;
      this.now = Date.now();
      while (!this.sweepSlice()) {
        this.progressed();
        this.postExpired();
        await yieldToEventLoop();
        this.now = Date.now();
      }
      this.lastSweepLongestSliceMs = this.longestSliceThisSweep;
      return this.store.takeSweepRemoved();
    });
    return this.sweepChain;
  }

  /** One slice of the sweep in progress; true when the pass is complete. */
  private sweepSlice(): boolean {
    const started = performance.now();
    const done = this.store.sweepStep(SWEEP_SLICE_MS, performance.now.bind(performance));
    this.longestSliceThisSweep = Math.max(this.longestSliceThisSweep, performance.now() - started);
    return done;
  }

  private postExpired(): void {
    const ids = this.store.drainExpired();
    if (ids === null) return;
    if (this.persistence !== null) {
      this.persistence.expired(this.now, ids);
      if (!this.batchRunning) this.persistence.commit();
    }
    this.post({ type: 'expired', ids, seq: this.sequence.next(), size: this.store.size });
  }

  /** Applies one operation of the log again during recovery, at the time it was first applied. */
  private replay(time: number, code: number, id: string | null, wireArgs: unknown): boolean {
    this.now = time;
    try {
      if (code === LOG_EXPIRED) {
        for (const expiredId of wireArgs as string[]) this.store.remove(expiredId);
        return true as const;
      }
      if (code === LOG_FORKED) {
        this.store.restore(restoreStoredSession(wireArgs, this.store.rows, this.store.arena));
        return true as const;
      }
      const op = OP_BY_CODE[code];
      if (op === undefined || op.logged !== 'self') return false;
      const handler = this.handlers[op.name] as (id: unknown, args: unknown) => unknown;
      const args = op.decodeArgs(wireArgs);
      // Fields encoded by an earlier release are encoded again (see `reencodeStoredField`).
      if ((op === OPS.create || op === OPS.update) && (args as CreateArgs).capabilities instanceof Uint8Array) {
        (args as CreateArgs).capabilities = reencodeStoredField((args as CreateArgs).capabilities as Uint8Array);
      }
      handler(expectSessionId(id), args);
      return true as const;
    } catch {
      return false;
    }
  }
}
