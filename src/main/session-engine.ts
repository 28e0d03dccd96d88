/**
 * SessionEngine: the public face of session-shards, on the host's (main) thread.
 *
 * It validates every call, picks the owning shard with `shardFor`, and hands the operation to that
 * shard's queue; the sessions themselves live in the shard workers.
 */
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { MessageInput, Session, SessionId, SessionInit, SessionUpdate } from '../protocol/model.js';
import { FAULT_KINDS, type FaultKind } from '../protocol/messages.js';
import type { ArgsOf, IdOf, OpName, ResultOf, ShardFigures } from '../protocol/ops.js';
import { CapacityError, EngineClosedError, InvalidArgumentError, QueueFullError, ShardCrashedError } from './errors.js';
import { resolveOptions, shardSpinConfig, type ResolvedOptions, type SessionEngineOptions } from './options.js';
import { lookPeriodMs } from './overdue.js';
import { acquireLock, commitGeneration, generationToRecover, removeOtherGenerations } from './persistence-dir.js';
import { newSessionId } from './session-ids.js';
import { Reply, Shard } from './shard.js';
import { shardFor } from './shard-for.js';
import {
  checkCallOptions,
  checkCount,
  readOption,
  checkCwd,
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
}

/** Options of `get()`. */
export interface GetOptions {
  /** Return only the newest `lastMessages` messages of the context (the whole context when omitted). */
  lastMessages?: number;
}

/** Options of `list()`. */
export interface ListOptions {
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
const GET_OPTIONS: readonly (keyof GetOptions)[] = ['lastMessages'];
const LIST_OPTIONS: readonly (keyof ListOptions)[] = ['limit', 'after', 'cwd', 'owner', 'order'];

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
  private sessionsHeld = 0;
  private createsInFlight = 0;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly watchdog: NodeJS.Timeout;

  private constructor(options: ResolvedOptions) {
    super();
    this.options = options;
    const hooks = {
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
        this.emit('shardRestart', { shard, lostSessions });
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

  /** Creates a session and resolves its id. Rejects `ERR_CAPACITY` when `maxSessions` are held. */
  create(init?: SessionInit): Promise<SessionId> {
    try {
      this.assertOpen();
      const fields = checkSessionFields(init, 'init', this.options);
      // With a store, the sessions are not counted here: Redis's maxmemory bounds them.
      if (this.options.store === null && this.sessionsHeld + this.createsInFlight >= this.options.maxSessions) {
        throw new CapacityError(`maxSessions (${this.options.maxSessions}) sessions are held; remove or let some expire first`);
      }
      const id = newSessionId();
      const shard = this.route(id);
      const created = shard.submit(
        'create',
        id,
        { capabilities: fields.capabilities, servers: fields.servers, cwd: fields.cwd, title: fields.title, owner: fields.owner },
        Reply.Created,
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
   * With `lastMessages`, only the newest that many messages are read, copied and sent. A read never returns
   * more than `maxSessionBytes`: a session holding more (one restored from disk written under a larger
   * limit) rejects `ERR_LIMIT_EXCEEDED` unless `lastMessages` brings the read within it. Unknown option
   * keys reject `ERR_INVALID_ARGUMENT`.
   */
  get(id: SessionId, options?: GetOptions): Promise<Session | undefined> {
    try {
      this.assertOpen();
      checkSessionId(id);
      let lastMessages = -1;
      if (options !== undefined) {
        const given = readOption(checkCallOptions(options, GET_OPTIONS)!, 'lastMessages');
        if (given !== undefined) lastMessages = checkCount(given, 'options.lastMessages');
      }
      return this.route(id).submit('get', id, { lastMessages }, Reply.Optional);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Appends a message to the session's context and resolves the new context length.
   * Rejects `ERR_SESSION_NOT_FOUND` (unknown or expired id) or `ERR_LIMIT_EXCEEDED`
   * (`maxMessagesPerSession`, `maxMessageBytes`).
   */
  appendMessage(id: SessionId, message: MessageInput): Promise<number> {
    try {
      this.assertOpen();
      checkSessionId(id);
      const { role, content, timestamp } = checkMessage(message, this.options.maxMessageBytes);
      return this.route(id).submitAppend(id, role, content, timestamp);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Replaces the fields given. Rejects `ERR_SESSION_NOT_FOUND` for an unknown or expired id. */
  update(id: SessionId, fields: SessionUpdate): Promise<void> {
    try {
      this.assertOpen();
      checkSessionId(id);
      const checked = checkSessionFields(fields, 'update', this.options);
      const args: ArgsOf<'update'> = {};
      if (checked.hasCapabilities) args.capabilities = checked.capabilities;
      if (checked.hasServers) args.servers = checked.servers;
      if (checked.hasCwd) args.cwd = checked.cwd;
      if (checked.hasTitle) args.title = checked.title;
      if (checked.hasOwner) args.owner = checked.owner;
      return this.route(id)
        .submit('update', id, args)
        .then(() => undefined);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Refreshes the session's idle clock; resolves whether the session exists. */
  touch(id: SessionId): Promise<boolean> {
    try {
      this.assertOpen();
      checkSessionId(id);
      return this.route(id).submit('touch', id, null);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Removes the session (always); resolves it as it was, or `undefined` if it was unknown or expired. What
   * it resolves is bounded like a read: a session within `maxSessionBytes` comes back whole, one restored
   * past it (see `get()`) with only its newest messages that fit within `maxSessionBytes`.
   */
  remove(id: SessionId): Promise<Session | undefined> {
    try {
      this.assertOpen();
      checkSessionId(id);
      return this.route(id).submit('remove', id, null, Reply.Optional);
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
    if (checked !== undefined) {
      // Each option read once: what is checked is what is sent.
      const given = Object.fromEntries(LIST_OPTIONS.map((key) => [key, readOption(checked, key)])) as ListOptions;
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
    const pages = await this.everyShard('list', after, { limit, desc, cwd, owner });
    return mergeSorted(pages, limit, desc);
  }

  /** The number of sessions held, over all shards (expired ones count until they are removed). */
  async size(): Promise<number> {
    this.assertOpen();
    const sizes = await this.everyShard('size', null, null);
    return sizes.reduce((sum, n) => sum + n, 0);
  }

  /** Runs every shard's cleanup now; resolves how many sessions it removed. */
  async sweep(): Promise<number> {
    this.assertOpen();
    const removed = await this.everyShard('sweep', null, null);
    return removed.reduce((sum, n) => sum + n, 0);
  }

  /** Per-shard figures. */
  async stats(): Promise<EngineStats> {
    this.assertOpen();
    const pendingOps = this.shards.map((shard) => shard.pendingOps);
    const figures = await this.everyShard('stats', null, null);
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

  private submitTo<K extends OpName>(shard: Shard, name: K, id: IdOf<K>, args: ArgsOf<K>): Promise<ResultOf<K>> {
    if (shard.pendingOps >= this.options.maxPendingOpsPerShard) {
      return Promise.reject(
        new QueueFullError(`shard ${shard.index} already has maxPendingOpsPerShard (${this.options.maxPendingOpsPerShard}) operations pending; retry later`),
      );
    }
    try {
      return shard.submit(name, id, args);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private everyShard<K extends OpName>(name: K, id: IdOf<K>, args: ArgsOf<K>): Promise<ResultOf<K>[]> {
    return Promise.all(this.shards.map((shard) => this.submitTo(shard, name, id, args)));
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
