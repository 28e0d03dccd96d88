/**
 * SessionEngine: the public face of session-shards, on the host's (main) thread.
 *
 * It validates every call, picks the owning shard with `shardFor`, and hands the operation to that
 * shard's queue; the sessions themselves live in the shard workers.
 */
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { JsonObject } from '../protocol/content.js';
import type { Message, MessageInput, MessagesJson, Session, SessionId, SessionInit, SessionUpdate } from '../protocol/model.js';
import { LogCode } from '../protocol/error-codes.js';
import { FAULT_KINDS, type FaultKind, type StoreStateEvent } from '../protocol/messages.js';
import { type ArgsOf, type GetArgs, type IdOf, type OpName, type ResultOf, type ShardFigures, WHOLE_HISTORY } from '../protocol/ops.js';
import { AbortedError, CapacityError, EngineClosedError, InvalidArgumentError, LimitExceededError, QueueFullError, ShardCrashedError } from './errors.js';
import { log, resolveOptions, shardSpinConfig, type ResolvedOptions, type SessionEngineOptions } from './options.js';
import { EngineMetrics, type MetricsSnapshot } from './metrics.js';
import { lookPeriodMs } from './overdue.js';
import { acquireLock, commitGeneration, generationToRecover, removeOtherGenerations } from './persistence-dir.js';
import { newSessionId } from './session-ids.js';
import { Reply, Shard, type CallOptions as ShardCall } from './shard.js';
import { shardFor } from './shard-for.js';
import {
  checkCallOptions,
  checkCount,
  readOption,
  checkCwd,
  type CheckedMessageInput,
  checkMessage,
  checkOwner,
  checkSessionFields,
  checkSessionId,
  describeValue,
} from './validation.js';

/** One shard's figures in `stats()`: its own (`ShardFigures`), and the host's counters of it. */
export interface ShardStats extends ShardFigures {
  /** Operations queued or in flight on it when `stats()` was called. */
  pendingOps: number;
  /** Batches sent to it since start. */
  batches: number;
  /** Operations sent to it since start. */
  ops: number;
  /** How many times its worker has been replaced after a crash or hang. */
  restarts: number;
  /** Replies the host's thread caught while polling for them (`replySpinUs`). */
  replySpinsCaught: number;
  /** Polls that reached `replySpinUs` without a reply (the host then slept until it came). */
  replySpinsMissed: number;
}

/** What `stats()` resolves. */
export interface EngineStats {
  shards: ShardStats[];
}

/** The `'shardRestart'` event's payload. */
export interface ShardRestartEvent {
  shard: number;
  /** Sessions the shard held when its worker died; they are gone. */
  lostSessions: number;
}

/** What `engine.recovery` tells about the start. */
export interface RecoveryReport {
  /** Sessions restored, over all shards. */
  sessions: number;
  /** Sessions that had expired while the engine was down; dropped. */
  expired: number;
  /** Torn or corrupt records skipped (each also reported by a `SESSION_SHARDS_SKIPPED_RECORDS` warning). */
  skippedRecords: number;
  /** Milliseconds from the start of `start()` until every shard had recovered and written its snapshot. */
  ms: number;
}

/** The engine's events and their listeners' arguments. */
export interface SessionEngineEvents {
  /** Sessions removed because they stayed idle longer than `maxSessionAgeMs`; each id exactly once. */
  expired: [ids: SessionId[]];
  /** A shard's worker died or hung and a fresh one took over. */
  shardRestart: [event: ShardRestartEvent];
  /** With a Redis store: the first shard lost its connection, or its calls went unanswered past `storeTimeoutMs`. */
  storeDown: [event: StoreDownEvent];
  /** With a Redis store: every shard that was down is connected and answered again. */
  storeUp: [];
}

/** The `'storeDown'` event's payload. */
export interface StoreDownEvent {
  /** The shard that found the store down first. */
  shard: number;
  /** `'connection'`: its connection closed; `'no answer'`: a call went unanswered past `storeTimeoutMs`. */
  reason: 'connection' | 'no answer';
  message: string;
}

/**
 * What every call takes in its options (its last argument): a signal to cancel it. Aborted before the call
 * is sent to its shard, the call never runs and rejects `ERR_ABORTED`; aborted after, it rejects
 * `ERR_ABORTED` at once and its outcome is unknown (the shard may still apply it). An already aborted signal
 * rejects at once. See also the engine's `callTimeoutMs`.
 */
export interface CallOptions {
  signal?: AbortSignal;
}

/**
 * Options of `get()`: which messages of the history to read (all when none is given). `lastMessages`
 * alone, or `fromMessage` and `maxMessages`; `length` on the result says how many the session holds.
 */
export interface GetOptions extends CallOptions {
  /** Only the newest `lastMessages` messages. */
  lastMessages?: number;
  /** The messages from this index on (0 is the oldest). */
  fromMessage?: number;
  /** At most this many messages (from `fromMessage`, or from the oldest). */
  maxMessages?: number;
}

/** Options of the writes that can be made conditional. */
export interface ConditionalOptions extends CallOptions {
  /**
   * Apply only if the session holds exactly this many messages; otherwise reject `ERR_CONFLICT` and change
   * nothing. Two writers that read the same length cannot both append.
   */
  ifLength?: number;
}

/** Options of `fork()`. */
export interface ForkOptions extends CallOptions {
  /** Copy the source's first this many messages (all when omitted). */
  messages?: number;
  /** The new session's title (the source's when omitted; `null` clears it). */
  title?: string | null;
  /** The new session's metadata (the source's when omitted; `null` clears it). */
  metadata?: JsonObject | null;
}

/** Options of `list()`. */
export interface ListOptions extends CallOptions {
  /** The most ids to return (every id when omitted). */
  limit?: number;
  /**
   * Return only ids past this one in the order asked for (greater with `'asc'`, smaller, that is older,
   * with `'desc'`): pass the last id of a page to get the next page.
   */
  after?: SessionId;
  /** Only sessions whose `cwd` is exactly this absolute path. */
  cwd?: string;
  /** Only sessions whose `owner` is exactly this. */
  owner?: string;
  /**
   * `'asc'` (the default): oldest first. `'desc'`: newest first. Ids are ULIDs, so this is the order of
   * creation.
   */
  order?: 'asc' | 'desc';
}

/** The keys `get()` and `list()` take in their options. */
const GET_OPTIONS: readonly (keyof GetOptions)[] = ['lastMessages', 'fromMessage', 'maxMessages', 'signal'];
const CONDITIONAL_OPTIONS: readonly (keyof ConditionalOptions)[] = ['ifLength', 'signal'];
const FORK_OPTIONS: readonly (keyof ForkOptions)[] = ['messages', 'title', 'metadata', 'signal'];
const CALL_OPTIONS: readonly (keyof CallOptions)[] = ['signal'];

/** The most messages one `appendMessages` or `spliceMessages` call takes. */
const MAX_MESSAGES_PER_CALL = 10_000;
const LIST_OPTIONS: readonly (keyof ListOptions)[] = ['limit', 'after', 'cwd', 'owner', 'order', 'signal'];
/** A call without options: no signal, but `callTimeoutMs` applies. */
const NO_SIGNAL: ShardCall = Object.freeze({});

/** The window a read's options ask for (checked; the whole history when none is given). */
function windowOf(options: GetOptions | undefined): GetArgs {
  if (options === undefined) return WHOLE_HISTORY;
  const lastMessages = readOption(options, 'lastMessages');
  const fromMessage = readOption(options, 'fromMessage');
  const maxMessages = readOption(options, 'maxMessages');
  if (lastMessages !== undefined && (fromMessage !== undefined || maxMessages !== undefined)) {
    throw new InvalidArgumentError('options.lastMessages cannot be combined with fromMessage or maxMessages');
  }
  return {
    lastMessages: lastMessages === undefined ? -1 : checkCount(lastMessages, 'options.lastMessages'),
    fromMessage: fromMessage === undefined ? 0 : checkCount(fromMessage, 'options.fromMessage'),
    maxMessages: maxMessages === undefined ? -1 : checkCount(maxMessages, 'options.maxMessages'),
  };
}

/**
 * The signal of a checked options object, as the shard takes it. Anything with AbortSignal's `aborted`,
 * `reason` and listener methods is taken (one from another realm too); anything else is refused.
 */
function callOf(options: CallOptions | undefined): ShardCall {
  if (options === undefined) return NO_SIGNAL;
  const signal = readOption(options, 'signal');
  if (signal === undefined) return NO_SIGNAL;
  const candidate = signal as Partial<AbortSignal> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.aborted !== 'boolean' ||
    typeof candidate.addEventListener !== 'function' ||
    typeof candidate.removeEventListener !== 'function'
  ) {
    throw new InvalidArgumentError(`options.signal must be an AbortSignal, got ${describeValue(signal)}`);
  }
  // Checked here, before the call is routed: an aborted call is not queued (nor refused ERR_QUEUE_FULL).
  if (signal.aborted) throw new AbortedError('the call was aborted before it was sent; it never ran', { cause: signal.reason });
  return { signal };
}

const WORKER_FILE = fileURLToPath(new URL('../shard/memory/worker.js', import.meta.url));
/** The worker of a shard whose sessions live in Redis (the `store` option). */
const REDIS_WORKER_FILE = fileURLToPath(new URL('../shard/redis/worker.js', import.meta.url));

/**
 * Conversation sessions kept in worker-thread shards. Create one with `SessionEngine.start()`.
 *
 * Every method returns a promise and never throws synchronously: bad input rejects with a
 * `SessionEngineError` whose `code` says why.
 */
export class SessionEngine extends EventEmitter<SessionEngineEvents> {
  /** The options in force, every default filled in. */
  readonly options: ResolvedOptions;
  /** What `start()` restored from `persistence.dir`; `null` without persistence. */
  recovery: RecoveryReport | null = null;
  /** Releases `persistence.dir`'s lock. */
  private releaseLock: (() => void) | null = null;

  private readonly shards: Shard[];
  /** The host's counters of calls and batches (`metrics()`), also published on `METRICS_CHANNELS`. */
  private readonly callMetrics = new EngineMetrics(this);
  private sessionsHeld = 0;
  /** The codes of the workers' warnings already given: each once per engine. */
  private readonly warned = new Set<string>();
  /** Redis shards whose store is down (see `'storeDown'`). */
  private readonly storeDownShards = new Set<number>();
  private createsInFlight = 0;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly watchdog: NodeJS.Timeout;

  private constructor(options: ResolvedOptions) {
    super();
    this.options = options;
    const hooks = {
      metrics: this.callMetrics,
      sizeChanged: (delta: number) => {
        this.sessionsHeld += delta;
      },
      createSettled: () => {
        this.createsInFlight--;
      },
      expired: (ids: SessionId[]) => {
        this.emit('expired', ids);
      },
      restarted: (shard: number, lostSessions: number) => {
        this.callMetrics.restarted(shard, lostSessions);
        this.emit('shardRestart', { shard, lostSessions });
        // A fresh Redis shard answered its start-up ping: its store answers.
        this.storeStateOf(shard, true, null);
      },
      warning: (code: string, message: string, shard: number) => {
        if (this.warned.has(code)) return;
        this.warned.add(code);
        log(options.logger, 'warn', message, { code, shard });
      },
      storeState: (shard: number, event: StoreStateEvent) => {
        this.storeStateOf(shard, event.up, event.up ? null : { shard, reason: event.reason, message: event.message });
      },
    };
    const spin = shardSpinConfig(options);
    this.shards = Array.from(
      { length: options.shards },
      (_, index) => new Shard(index, options.store === null ? WORKER_FILE : REDIS_WORKER_FILE, options, hooks, spin),
    );
    let previousTick = performance.now();
    this.watchdog = setInterval(() => {
      const now = performance.now();
      // Overdue at this look and at the one before: see `overdue.ts` for why two.
      for (const shard of this.shards) {
        shard.noteProgress(now);
        if (shard.isHung(previousTick) && shard.isHung(now)) shard.declareHung();
      }
      previousTick = now;
    }, lookPeriodMs(options.shardTimeoutMs)).unref();
  }

  /**
   * Starts the shard workers; resolves once every shard has answered that it is ready.
   * Rejects `ERR_INVALID_ARGUMENT` for a bad option (the message names it and the value).
   */
  static async start(options?: SessionEngineOptions): Promise<SessionEngine> {
    const engine = new SessionEngine(resolveOptions(options));
    try {
      const started = performance.now();
      const commit = engine.preparePersistence();
      await Promise.all(engine.shards.map((shard) => shard.start()));
      commit?.(started);
    } catch (error) {
      await engine.close();
      throw error;
    }
    return engine;
  }

  /**
   * Creates a session and resolves its id. Rejects `ERR_CAPACITY` when `maxSessions` are held.
   * `options.signal` cancels it (see `CallOptions`).
   */
  create(init?: SessionInit, options?: CallOptions): Promise<SessionId> {
    try {
      this.assertOpen();
      const fields = checkSessionFields(init, 'init', this.options);
      const call = callOf(checkCallOptions(options, CALL_OPTIONS));
      // With a store, the sessions are not counted here: Redis's maxmemory bounds them.
      if (this.options.store === null && this.sessionsHeld + this.createsInFlight >= this.options.maxSessions) {
        throw new CapacityError(`maxSessions (${this.options.maxSessions}) sessions are held; remove or let some expire first`);
      }
      const id = newSessionId();
      const shard = this.route(id);
      const created = shard.submit(
        'create',
        id,
        { capabilities: fields.capabilities, servers: fields.servers, cwd: fields.cwd, title: fields.title, owner: fields.owner, metadata: fields.metadata },
        Reply.Created,
        call,
      );
      // Counted once queued: a submit that throws reserves nothing.
      this.createsInFlight++;
      return created;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The session, or `undefined` if it is unknown or expired; refreshes its idle clock.
   * A window of the history is read with `lastMessages` (the newest that many) or `fromMessage` and
   * `maxMessages`: only those messages are read, copied and sent; `length` says how many the session holds.
   * A read never returns more than `maxSessionBytes`: a session holding more (one restored from disk
   * written under a larger limit) rejects `ERR_LIMIT_EXCEEDED` unless a window brings the read within it.
   * Unknown option keys reject `ERR_INVALID_ARGUMENT`.
   */
  get(id: SessionId, options?: GetOptions): Promise<Session | undefined> {
    try {
      this.assertOpen();
      checkSessionId(id);
      const call = callOf(checkCallOptions(options, GET_OPTIONS));
      return this.route(id).submit('get', id, windowOf(options), Reply.Optional, call);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The session's messages as JSON text, and how many it holds; `undefined` if it is unknown or expired.
   * The text is exactly `JSON.stringify(session.context)` of what `get(id, options)` returns, built by the
   * shard: the host's thread neither decodes the messages nor serialises them again, so a host that sends
   * a window to a model puts the text into the request body as it is. Refreshes the idle clock; the same
   * options as `get()`. Rejects `ERR_LIMIT_EXCEEDED` when the text would pass `maxSessionBytes` (read a
   * smaller window), and `ERR_CORRUPT_DATA` when a Redis store holds bytes that are not JSON text.
   */
  getMessagesJson(id: SessionId, options?: GetOptions): Promise<MessagesJson | undefined> {
    try {
      this.assertOpen();
      checkSessionId(id);
      const call = callOf(checkCallOptions(options, GET_OPTIONS));
      return this.route(id).submit('getJson', id, windowOf(options), Reply.Optional, call);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Appends a message and resolves the session's new length. The message is a role and a string, or
   * structured (`id`, content parts, `metadata`); an unknown field rejects `ERR_INVALID_ARGUMENT`.
   * With `ifLength`, or with a caller's `id` (a retried append resolves the length and appends nothing),
   * it is `appendMessages` with one message. Rejects `ERR_SESSION_NOT_FOUND` (unknown or expired id),
   * `ERR_LIMIT_EXCEEDED` (`maxMessagesPerSession`, `maxMessageBytes`, `maxSessionBytes`), `ERR_CONFLICT`.
   */
  appendMessage(id: SessionId, message: MessageInput, options?: ConditionalOptions): Promise<number> {
    try {
      this.assertOpen();
      checkSessionId(id);
      const checked = checkMessage(message, this.options.maxMessageBytes);
      const call = callOf(checkCallOptions(options, CONDITIONAL_OPTIONS));
      const ifLength = this.ifLengthOf(options);
      if (ifLength < 0 && checked.minted && checked.metadata === null && typeof checked.content === 'string') {
        return this.route(id).submitAppend(id, checked.id, checked.role, checked.content, checked.timestamp, call);
      }
      return this.route(id).submitMessages('appendMany', id, [[checked], [checked.stamped], ifLength], call);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Appends messages all or none, and resolves the session's new length. If the session's newest
   * messages already are exactly these (same ids, roles, content and metadata, and timestamps where
   * given), the call is a retry: it resolves the length and appends nothing (checked before `ifLength`).
   * An id already in the session, or twice in the call, rejects `ERR_CONFLICT`; so does `ifLength` when the
   * session holds another number of messages. A limit passed rejects `ERR_LIMIT_EXCEEDED`, appending none.
   */
  appendMessages(id: SessionId, messages: readonly MessageInput[], options?: ConditionalOptions): Promise<number> {
    try {
      this.assertOpen();
      checkSessionId(id);
      const checked = this.checkMessages(messages, 'messages');
      const call = callOf(checkCallOptions(options, CONDITIONAL_OPTIONS));
      const stamped = checked.map((message) => message.stamped);
      return this.route(id).submitMessages('appendMany', id, [checked, stamped, this.ifLengthOf(options)], call);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Removes the newest message and resolves it (`undefined` when the session has none). With `ifLength`,
   * only if the session holds exactly that many. Rejects `ERR_SESSION_NOT_FOUND`, `ERR_CONFLICT`.
   */
  popMessage(id: SessionId, options?: ConditionalOptions): Promise<Message | undefined> {
    try {
      this.assertOpen();
      checkSessionId(id);
      const call = callOf(checkCallOptions(options, CONDITIONAL_OPTIONS));
      return this.route(id).submit('pop', id, { ifLength: this.ifLengthOf(options) }, Reply.Optional, call);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Edits the history as `Array.prototype.splice` edits an array, atomically: removes `deleteCount`
   * messages from `start` (negative counts from the end; `Infinity` or more than there are: all to the
   * end), inserts `insert` there, and resolves the removed messages. Compaction is
   * `spliceMessages(id, 0, k, [summary])`; rewinding to message k, `spliceMessages(id, k, Infinity)`.
   * Inserted ids must be new to what remains (`ERR_CONFLICT`); limits apply to the result.
   */
  spliceMessages(id: SessionId, start: number, deleteCount: number, insert: readonly MessageInput[] = [], options?: ConditionalOptions): Promise<Message[]> {
    try {
      this.assertOpen();
      checkSessionId(id);
      if (!Number.isSafeInteger(start)) throw new InvalidArgumentError(`start must be an integer, got ${describeValue(start)}`);
      if (deleteCount !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(deleteCount) || deleteCount < 0)) {
        throw new InvalidArgumentError(`deleteCount must be an integer >= 0 or Infinity, got ${describeValue(deleteCount)}`);
      }
      const checked = this.checkMessages(insert, 'insert');
      const call = callOf(checkCallOptions(options, CONDITIONAL_OPTIONS));
      const removing = deleteCount === Number.POSITIVE_INFINITY ? -1 : deleteCount;
      return this.route(id).submitMessages('splice', id, [start, removing, checked, this.ifLengthOf(options)], call);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A new session with the source's fields (owner, cwd, capabilities, servers, title, metadata) and a copy
   * of its first `messages` messages (all by default), independent of the source from then on; resolves
   * its id. `title` and `metadata` replace the source's. Rejects `ERR_SESSION_NOT_FOUND` for the source.
   */
  fork(id: SessionId, options?: ForkOptions): Promise<SessionId> {
    try {
      this.assertOpen();
      checkSessionId(id);
      const given = checkCallOptions(options, FORK_OPTIONS);
      const call = callOf(given);
      const messages = given === undefined ? undefined : readOption(given, 'messages');
      const title = given === undefined ? undefined : readOption(given, 'title');
      const metadata = given === undefined ? undefined : readOption(given, 'metadata');
      const fields = checkSessionFields(
        { ...(title === undefined ? {} : { title }), ...(metadata === undefined ? {} : { metadata }) },
        'options',
        this.options,
      );
      if (this.options.store === null && this.sessionsHeld + this.createsInFlight >= this.options.maxSessions) {
        throw new CapacityError(`maxSessions (${this.options.maxSessions}) sessions are held; remove or let some expire first`);
      }
      // The copy is made by the source's shard in one step: the new id is drawn until it belongs there too.
      const shard = shardFor(id, this.shards.length);
      let newId = newSessionId();
      while (shardFor(newId, this.shards.length) !== shard) newId = newSessionId();
      // Reserved like a create's, until the shard answers (not until the caller is answered: an abort
      // answers the caller first, and the session may still be made).
      const forked = this.route(id).submit(
        'fork',
        id,
        {
          newId,
          messages: messages === undefined ? -1 : checkCount(messages, 'options.messages'),
          setTitle: fields.hasTitle,
          title: fields.title,
          setMetadata: fields.hasMetadata,
          metadata: fields.metadata,
        },
        Reply.Created,
        call,
        newId,
      );
      this.createsInFlight++;
      return forked;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** `options.ifLength`, of options already checked by `checkCallOptions`. */
  /** Tracks which shards find the store down; the engine's events mark the first down and the last up. */
  private storeStateOf(shard: number, up: boolean, down: StoreDownEvent | null): void {
    if (up) {
      if (!this.storeDownShards.delete(shard) || this.storeDownShards.size > 0) return;
      log(this.options.logger, 'info', 'the store is back: every shard that lost it answers again', { code: LogCode.STORE_UP });
      this.emit('storeUp');
      return;
    }
    if (this.storeDownShards.has(shard)) return;
    this.storeDownShards.add(shard);
    if (this.storeDownShards.size > 1) return;
    log(this.options.logger, 'error', `the store is down (shard ${shard}: ${down!.message})`, { code: LogCode.STORE_DOWN, shard });
    this.emit('storeDown', down!);
  }

  private ifLengthOf(options: ConditionalOptions | undefined): number {
    if (options === undefined) return -1;
    const ifLength = readOption(options, 'ifLength');
    return ifLength === undefined ? -1 : checkCount(ifLength, 'options.ifLength');
  }

  private checkMessages(messages: readonly MessageInput[], field: string): CheckedMessageInput[] {
    if (!Array.isArray(messages)) throw new InvalidArgumentError(`${field} must be an array of messages, got ${describeValue(messages)}`);
    if (messages.length > MAX_MESSAGES_PER_CALL)
      throw new LimitExceededError(`${field} holds ${messages.length} messages, over the ${MAX_MESSAGES_PER_CALL} one call takes`);
    const checked: CheckedMessageInput[] = [];
    for (let i = 0; i < messages.length; i++) checked.push(checkMessage(messages[i], this.options.maxMessageBytes, `${field}[${i}]`));
    return checked;
  }

  /**
   * Replaces the fields given. Rejects `ERR_SESSION_NOT_FOUND` for an unknown or expired id.
   * `options.signal` cancels it (see `CallOptions`).
   */
  update(id: SessionId, fields: SessionUpdate, options?: CallOptions): Promise<void> {
    try {
      this.assertOpen();
      checkSessionId(id);
      const checked = checkSessionFields(fields, 'update', this.options);
      const call = callOf(checkCallOptions(options, CALL_OPTIONS));
      const args: ArgsOf<'update'> = {};
      if (checked.hasCapabilities) args.capabilities = checked.capabilities;
      if (checked.hasServers) args.servers = checked.servers;
      if (checked.hasCwd) args.cwd = checked.cwd;
      if (checked.hasTitle) args.title = checked.title;
      if (checked.hasOwner) args.owner = checked.owner;
      if (checked.hasMetadata) args.metadata = checked.metadata;
      return this.route(id)
        .submit('update', id, args, Reply.Value, call)
        .then(() => undefined);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Refreshes the session's idle clock; resolves whether the session exists. */
  touch(id: SessionId, options?: CallOptions): Promise<boolean> {
    try {
      this.assertOpen();
      checkSessionId(id);
      const call = callOf(checkCallOptions(options, CALL_OPTIONS));
      return this.route(id).submit('touch', id, null, Reply.Value, call);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Removes the session (always); resolves it as it was, or `undefined` if it was unknown or expired. What
   * it resolves is bounded like a read: a session within `maxSessionBytes` comes back whole, one restored
   * past it (see `get()`) with only its newest messages that fit within `maxSessionBytes`.
   */
  remove(id: SessionId, options?: CallOptions): Promise<Session | undefined> {
    try {
      this.assertOpen();
      checkSessionId(id);
      const call = callOf(checkCallOptions(options, CALL_OPTIONS));
      return this.route(id).submit('remove', id, null, Reply.Optional, call);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Session ids in ascending order over all shards (ULIDs sort by creation time), or descending with
   * `order: 'desc'`. Filter with `cwd` and `owner`; page with `limit` and `after`. Each shard scans its
   * whole map, so this costs O(sessions): meant for paging and administration, not for every request.
   */
  async list(options?: ListOptions): Promise<SessionId[]> {
    this.assertOpen();
    let limit = -1;
    let after: string | null = null;
    let cwd: string | null = null;
    let owner: string | null = null;
    let desc = false;
    const checked = checkCallOptions(options, LIST_OPTIONS);
    const call = callOf(checked);
    if (checked !== undefined) {
      // Each option read once: what is checked is what is sent.
      const given = Object.fromEntries(LIST_OPTIONS.filter((key) => key !== 'signal').map((key) => [key, readOption(checked, key)])) as ListOptions;
      if (given.limit !== undefined) limit = checkCount(given.limit, 'options.limit');
      if (given.after !== undefined) {
        checkSessionId(given.after, 'options.after');
        after = given.after;
      }
      if (given.cwd !== undefined) cwd = checkCwd(given.cwd, 'options.cwd');
      if (given.owner !== undefined) owner = checkOwner(given.owner, 'options.owner');
      if (given.order !== undefined) {
        if (given.order !== 'asc' && given.order !== 'desc') {
          throw new InvalidArgumentError(`options.order must be 'asc' or 'desc', got ${describeValue(given.order)}`);
        }
        desc = given.order === 'desc';
      }
    }
    const pages = await this.everyShard('list', after, { limit, desc, cwd, owner }, call);
    return mergeSorted(pages, limit, desc);
  }

  /** The number of sessions held, over all shards (expired ones count until they are removed). */
  async size(options?: CallOptions): Promise<number> {
    this.assertOpen();
    const sizes = await this.everyShard('size', null, null, callOf(checkCallOptions(options, CALL_OPTIONS)));
    return sizes.reduce((sum, n) => sum + n, 0);
  }

  /** Runs every shard's cleanup now; resolves how many sessions it removed. */
  async sweep(options?: CallOptions): Promise<number> {
    this.assertOpen();
    const removed = await this.everyShard('sweep', null, null, callOf(checkCallOptions(options, CALL_OPTIONS)));
    return removed.reduce((sum, n) => sum + n, 0);
  }

  /** Per-shard figures. */
  async stats(options?: CallOptions): Promise<EngineStats> {
    this.assertOpen();
    const call = callOf(checkCallOptions(options, CALL_OPTIONS));
    const pendingOps = this.shards.map((shard) => shard.pendingOps);
    const figures = await this.everyShard('stats', null, null, call);
    return {
      shards: this.shards.map((shard, i) => ({
        ...figures[i]!,
        pendingOps: pendingOps[i]!,
        batches: shard.batches,
        ops: shard.ops,
        restarts: shard.restarts,
        replySpinsCaught: shard.replySpin.caught,
        replySpinsMissed: shard.replySpin.missed,
      })),
    };
  }

  /**
   * What a host wires to its dashboards: per operation, the calls, the errors by code and a latency
   * histogram (from the call to its promise settling, on the host's thread), the sizes of the batches
   * sent, all since start; and each shard's figures now (`stats()`: queue depth, worker heap and log bytes,
   * restarts). The same events stream on `METRICS_CHANNELS` (`node:diagnostics_channel`) while someone
   * listens; `session-shards/otel` turns them into OpenTelemetry instruments.
   */
  async metrics(): Promise<MetricsSnapshot & EngineStats> {
    const host = this.callMetrics.snapshot();
    return { ...host, ...(await this.stats()) };
  }

  /**
   * Makes a shard fail on purpose, for tests and drills; needs `faultInjection: true` at start.
   * Kinds: `'throw'` (an uncaught exception in the worker), `'exit'` (`process.exit` in the worker),
   * `'oom'` (allocates until the `shardHeapMb` limit kills it), `'hang'` (a busy loop; the watchdog
   * finds it after `shardTimeoutMs`). Resolves once the order is given (also when the worker dies before its answer is read); the fault strikes
   * right after, and the shard's restart is announced by `'shardRestart'`.
   */
  async injectFault(shard: number, kind: FaultKind): Promise<void> {
    this.assertOpen();
    if (!this.options.faultInjection) {
      throw new InvalidArgumentError('injectFault needs the engine started with faultInjection: true');
    }
    if (!Number.isInteger(shard) || shard < 0 || shard >= this.shards.length) {
      throw new InvalidArgumentError(`shard must be an integer from 0 to ${this.shards.length - 1}, got ${describeValue(shard)}`);
    }
    if (!FAULT_KINDS.includes(kind)) {
      throw new InvalidArgumentError(`kind must be one of ${FAULT_KINDS.join(', ')}, got ${describeValue(kind)}`);
    }
    try {
      await this.submitTo(this.shards[shard]!, 'fault', null, kind);
    } catch (error) {
      // The worker may die before its answer is read: the fault struck, which is what was asked for.
      if (!(error instanceof ShardCrashedError)) throw error;
    }
  }

  /**
   * Finishes the operations already submitted, then stops every worker. Later calls reject
   * `ERR_ENGINE_CLOSED`. Safe to call more than once, and after a crash.
   */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      // The watchdog runs until every shard has closed: a hung shard must not hold close() forever.
      if (this.recovery !== null) {
        // Behind everything already submitted: fsync it all and close the logs. A shard that crashed
        // meanwhile has nothing more to flush, and one still restarting (a disk that keeps failing, say)
        // must not hold close() forever: only serving shards are asked.
        const serving = this.shards.filter((shard) => shard.serving);
        await Promise.allSettled(serving.map((shard) => shard.submit('flush', null, { close: true })));
      }
      await Promise.all(this.shards.map((shard) => shard.close()));
      clearInterval(this.watchdog);
      this.releaseLock?.();
    })();
    return this.closing;
  }

  /**
   * Takes the directory's lock and points every shard at the generation to recover from (every shard's
   * files: the shard count may have changed) and the new one to write. Returns what to do once every shard
   * has recovered and written its snapshot: switch the manifest to the new generation.
   */
  private preparePersistence(): ((started: number) => void) | null {
    const persistence = this.options.persistence;
    if (persistence === null) return null;
    this.releaseLock = acquireLock(persistence.dir);
    const recoverGeneration = generationToRecover(persistence.dir);
    // Leftovers of a start that died before its switch (never authoritative), and older generations.
    removeOtherGenerations(persistence.dir, recoverGeneration);
    const generation = (recoverGeneration ?? 0) + 1;
    const shards = this.shards.length;
    for (const shard of this.shards) {
      shard.persistence = { ...persistence, generation, recoverGeneration, recoverAll: true, shards };
    }
    return (started) => {
      commitGeneration(persistence.dir, { generation, shards });
      // From now on a restarted shard recovers from its own files of the new generation.
      for (const shard of this.shards) shard.persistence = { ...persistence, generation, recoverGeneration: generation, recoverAll: false, shards };
      const report: RecoveryReport = { sessions: 0, expired: 0, skippedRecords: 0, ms: 0 };
      for (const shard of this.shards) {
        report.sessions += shard.recovery?.sessions ?? 0;
        report.expired += shard.recovery?.expired ?? 0;
        report.skippedRecords += shard.recovery?.skippedRecords ?? 0;
      }
      report.ms = performance.now() - started;
      this.recovery = report;
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new EngineClosedError();
  }

  private route(id: string): Shard {
    const shard = this.shards[shardFor(id, this.shards.length)]!;
    if (shard.pendingOps >= this.options.maxPendingOpsPerShard) {
      throw new QueueFullError(
        `shard ${shard.index} already has maxPendingOpsPerShard (${this.options.maxPendingOpsPerShard}) operations pending; retry later`,
      );
    }
    return shard;
  }

  /** `call`: a caller's call (with its signal, and `callTimeoutMs`); none for the engine's own. */
  private submitTo<K extends OpName>(shard: Shard, name: K, id: IdOf<K>, args: ArgsOf<K>, call?: ShardCall): Promise<ResultOf<K>> {
    if (shard.pendingOps >= this.options.maxPendingOpsPerShard) {
      return Promise.reject(
        new QueueFullError(`shard ${shard.index} already has maxPendingOpsPerShard (${this.options.maxPendingOpsPerShard}) operations pending; retry later`),
      );
    }
    try {
      return shard.submit(name, id, args, Reply.Value, call);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private everyShard<K extends OpName>(name: K, id: IdOf<K>, args: ArgsOf<K>, call: ShardCall): Promise<ResultOf<K>[]> {
    return Promise.all(this.shards.map((shard) => this.submitTo(shard, name, id, args, call)));
  }
}

/** Merges ascending (with `desc`, descending) lists into one such list of at most `limit` (all when negative). */
function mergeSorted(lists: string[][], limit: number, desc = false): string[] {
  const nonEmpty = lists.filter((list) => list.length > 0);
  if (nonEmpty.length <= 1) {
    const only = nonEmpty[0] ?? [];
    return limit >= 0 ? only.slice(0, limit) : only;
  }
  const total = nonEmpty.reduce((sum, list) => sum + list.length, 0);
  const want = limit >= 0 ? Math.min(limit, total) : total;
  const merged = new Array<string>(want);
  const heads = new Array<number>(nonEmpty.length).fill(0);
  for (let out = 0; out < want; out++) {
    let best = -1;
    for (let k = 0; k < nonEmpty.length; k++) {
      const list = nonEmpty[k]!;
      if (heads[k]! >= list.length) continue;
      if (best < 0) {
        best = k;
        continue;
      }
      const candidate = list[heads[k]!]!;
      const leader = nonEmpty[best]![heads[best]!]!;
      if (desc ? candidate > leader : candidate < leader) best = k;
    }
    merged[out] = nonEmpty[best]![heads[best]!++]!;
  }
  return merged;
}
