/**
 * The main thread's side of one shard: its pinned worker (a one-thread piscina pool), the queue of
 * operations waiting for it, and its restarts.
 *
 * Ordering is owned here, not by piscina: a few batches are in flight at most (two on memory, eight on
 * Redis, more while Redis is slow: see `slowStoreMs`), the worker answers them in the order sent, and operations that arrive meanwhile are sent together as the
 * next batch, in call order. A worker that dies or hangs is never replaced silently: every operation
 * pending on it rejects `ShardCrashedError`, the old pool is destroyed, and a fresh one must answer a ping
 * before the shard serves again. A call cut short (its signal, `callTimeoutMs`) before its batch is sent is
 * left out of that batch; after, only its caller is answered early (see `watch`, `send`).
 */
import { Piscina } from 'piscina';
import { BatchWriter, type MessagesArgs } from '../protocol/batch-writer.js';
import { decode, encode } from '../protocol/codec.js';
import { LogCode, type WireError } from '../protocol/error-codes.js';
import type {
  RecoveryFigures,
  RecoveryProgress,
  ShardConfig,
  ShardEvent,
  StoreStateEvent,
  ShardPersistenceConfig,
  ShardSpinConfig,
  StoreBatchTask,
} from '../protocol/messages.js';
import type { Role, SessionId } from '../protocol/model.js';
import { OP_STRIDE, OPS, type ArgsOf, type IdOf, type OpName, type ResultOf } from '../protocol/ops.js';
import { decodeReply, decodeReplyChunk, decodeReplyHeader, RESULTS_PER_CHUNK, type ReplyHeader } from '../protocol/reply.js';
import {
  AbortedError,
  CapacityError,
  CorruptDataError,
  EngineClosedError,
  fromWire,
  ProtocolError,
  SessionEngineError,
  ShardCrashedError,
  TimeoutError,
} from './errors.js';
import { log, shardSessionBudgetBytes, type ResolvedOptions } from './options.js';
import { abortWhenOverdue } from './overdue.js';
import type { EngineMetrics } from './metrics.js';
import { ReplySpin, REPLY_SPIN_MAX_OPS } from './reply-spin.js';

/** How an op's result is handed to its caller. */
export enum Reply {
  /** The result as decoded. */
  Value,
  /** `null` becomes `undefined`. */
  Optional,
  /** A create: resolves the id it was sent with. */
  Created,
}

/** What a call resolves, given how its result is handed over. */
export type Delivered<K extends OpName, R extends Reply> = R extends Reply.Optional
  ? NonNullable<ResultOf<K>> | undefined
  : R extends Reply.Created
    ? SessionId
    : ResultOf<K>;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  reply: Reply;
  /** Turns the decoded result into what the caller receives (`OpCodec.readResult`); absent: as decoded. */
  read: ((wire: unknown) => unknown) | undefined;
  /** The op's session id: what a create resolves to. */
  id: string | null;
  /** The op's name and when it was called (`performance.now()`), for the engine's metrics. */
  op: string;
  at: number;
  /** Set for a call that can be cut short (its `signal`, `callTimeoutMs`); `null` for most. */
  watch: Watch | null;
}

/**
 * What lets a call end before its reply: its signal and its timer. A call still queued when it is cut short
 * is `dropped` (it never runs: see `send`); one already sent is only answered early, and its reply, when it
 * comes, settles nothing (a promise settles once).
 */
interface Watch {
  signal: AbortSignal | null;
  timer: NodeJS.Timeout | null;
  /** Handed to the worker (in a batch sent). */
  sent: boolean;
  /** Cut short before it was sent: still in `queued` (and the writer) until `send` leaves it out. */
  dropped: boolean;
  /** Settled (by its reply, a failure, or cut short): its listener and timer are gone. */
  done: boolean;
}

/**
 * The calls of one shard pending on one signal, and the one listener they share: a signal a host passes to
 * every call (its shutdown signal, say) holds one listener per shard, not one per call, so Node's
 * listener-leak warning stays quiet, and a settled call leaves nothing behind.
 */
interface SignalCalls {
  ops: Set<Pending>;
  onAbort: () => void;
}

/** What a shard tells its engine. */
export interface ShardHooks {
  /** The engine's counters of calls and batches. */
  readonly metrics: EngineMetrics;
  /** A worker's warning (each code once per engine: a restarted worker may post it again). */
  warning(code: string, message: string, shard: number): void;
  /** A Redis shard's store went down or came back. */
  storeState(shard: number, event: StoreStateEvent): void;
  /** The shard's session count changed by `delta` (creates, removals, expiry, a crash). */
  sizeChanged(delta: number): void;
  /**
   * A create op was answered or failed (whatever its outcome): its capacity reservation ends. Called when
   * the reply that counts its session arrives, not when the caller is handed it, so that the session is
   * never counted twice (held and reserved) while a long reply is handed out.
   */
  createSettled(): void;
  expired(ids: string[]): void;
  restarted(shard: number, lostSessions: number): void;
}

/** A batch sent to the worker and not yet answered. */
interface InFlightBatch {
  pending: Pending[];
}

/** A reply being handed to its callers. */
interface Delivery {
  bytes: Uint8Array;
  header: ReplyHeader;
  pending: Pending[];
  /** The next chunk to decode. */
  chunk: number;
  /** Where the next error of `header.errors` starts. */
  errorAt: number;
}

type State = 'starting' | 'ready' | 'restarting' | 'closing' | 'closed';

/**
 * How many result chunks are handed out before the host's event loop gets a turn: two (128 results) kept
 * the event-loop delay at scale about half of what four did, at the same throughput.
 */
const CHUNKS_PER_TURN = 2;

/** While a reply is being handed out, send the next batch early once this many ops wait. */
const EARLY_FLUSH_OPS = 256;

/**
 * Batches a memory shard may have in flight. Two: the worker finds the next batch waiting when it answers
 * one, instead of idling while the host hands out the reply and sends again. Order still holds: the worker
 * applies its batches one after another, in the order sent, and piscina answers them in that order.
 */
const MEMORY_BATCHES_IN_FLIGHT = 2;

/**
 * Batches a Redis shard may have in flight while Redis answers promptly. Several, so that the host, the
 * worker and Redis each have a batch to work on at once: with one, each waited for the others in turn.
 * Not many more: while a reply is handed out, ops still gather into the next batch (see `queue`), and
 * batches small enough to cost more than they overlap made the 80/20 read/write mix slower. Order holds
 * as on memory: the worker issues each batch's commands on its one connection as the batch arrives.
 */
const STORE_BATCHES_IN_FLIGHT = 8;

/**
 * How long a Redis shard's oldest batch may wait before every batch queued behind those in flight is sent
 * too, and then again every as long while it waits. A Redis worker waits on its batches side by side, each within
 * storeTimeoutMs of being sent, and answers them in order: held back until the oldest answers, a queued
 * batch would wait out the bound of those ahead before its own. Not sooner: meanwhile ops gather into large
 * batches, as they do while Redis answers promptly.
 */
function slowStoreMs(storeTimeoutMs: number): number {
  return Math.min(100, storeTimeoutMs / 10);
}

const RESTART_BACKOFF_MS = [0, 50, 200, 1_000, 5_000];

/**
 * The typed error of a call the host could not write into its batch (the batch is left as it was, so the
 * other calls of the tick go on): the buffer it needs could not be allocated.
 */
function encodeFailure(error: unknown): SessionEngineError {
  if (error instanceof SessionEngineError) return error;
  return new CapacityError(`the host could not encode this call into a batch (${(error as Error)?.message ?? String(error)}); nothing was queued`);
}

export class Shard {
  /** Sessions held, as of the worker's latest report. */
  sessions = 0;
  batches = 0;
  ops = 0;
  restarts = 0;
  /** Set by the engine: where the next worker recovers from and writes to (`null`: memory only). */
  persistence: ShardPersistenceConfig | null = null;
  /** What the current worker recovered when it started (`null`: memory only). */
  recovery: RecoveryFigures | null = null;

  private state: State = 'starting';
  private pool: Piscina | null = null;
  private lastSeq = 0;
  /** The ops of `queued`, already written as batches. */
  private readonly batch: BatchWriter;
  private queued: Pending[] = [];
  /** Ops of `queued` that were cut short before they were sent: no longer pending, left out at `send`. */
  private droppedQueued = 0;
  /** Ops of `queued` with a `Watch`, neither sent nor dropped: `send` marks them sent. */
  private watchedQueued = 0;
  /** The calls pending on each signal; a signal leaves the map with its last call. */
  private readonly signals = new Map<AbortSignal, SignalCalls>();
  /** Batches sent and not yet answered, oldest first (at most `maxInFlight`; a Redis shard: see `slowStoreMs`). */
  private inFlight: InFlightBatch[] = [];
  private readonly maxInFlight: number;
  /** Set while a Redis shard sends what is queued behind a batch that has waited `slowStoreMs`. */
  private releasing = false;
  /** Set while a Redis shard has batches in flight: checks whether the oldest has waited `slowStoreMs`. */
  private slowTimer: NodeJS.Timeout | null = null;
  /** Since when the oldest batch in flight has been the worker's to answer (for the watchdog). */
  private inFlightSince = 0;
  /** The ping reply of the latest worker launched. */
  private launched = { seq: 0, size: 0 };
  /** The exit of the latest crashed worker. */
  private dying: Promise<void> = Promise.resolve();
  /** Each pool's worker's exit. */
  private readonly exits = new WeakMap<Piscina, Promise<void>>();
  /** Ops of replies being handed out chunk by chunk, or waiting for their turn. */
  private delivering = 0;
  /** Replies to hand out, oldest first; the first is being handed out. */
  private readonly deliveries: Delivery[] = [];
  private flushScheduled = false;
  private drained: (() => void) | null = null;
  /** Bumped by the worker after each reply it posts (`ShardConfig.replies`); kept across restarts. */
  private readonly replies = new SharedArrayBuffer(4);
  /** Bumped by the worker as it gets on with a batch (`ShardConfig.progress`); kept across restarts. */
  private readonly progress = new Int32Array(new SharedArrayBuffer(4));
  /** `progress` as the watchdog last saw it. */
  private progressSeen = 0;
  /** Polls for small batches' replies (`replySpinUs`); its figures show in `stats()`. */
  readonly replySpin: ReplySpin;
  private readonly flushTask = (): void => {
    this.flushScheduled = false;
    this.flush();
  };
  private readonly checkSlowTask = (): void => this.checkSlow();

  constructor(
    readonly index: number,
    private readonly workerFile: string,
    private readonly options: ResolvedOptions,
    private readonly hooks: ShardHooks,
    private readonly spin: ShardSpinConfig,
  ) {
    // Each batch holds an op: no limit that a Redis shard's pending ops could reach (see `slowStoreMs`).
    this.maxInFlight = options.store === null ? MEMORY_BATCHES_IN_FLIGHT : options.maxPendingOpsPerShard;
    this.batch = new BatchWriter(options.maxBatchOps);
    // A Redis shard's reply waits on Redis: not worth holding the host's thread for.
    this.replySpin = new ReplySpin(options.store === null ? options.replySpinUs / 1_000 : 0, this.replies, performance.now.bind(performance));
  }

  /** Whether the shard's worker is up and taking batches (not starting, restarting or closed). */
  get serving(): boolean {
    return this.state === 'ready';
  }

  /** Operations queued, in flight, or answered but not yet handed to their callers. */
  get pendingOps(): number {
    let inFlight = 0;
    for (const batch of this.inFlight) inFlight += batch.pending.length;
    return this.queued.length - this.droppedQueued + inFlight + this.delivering;
  }

  /** Starts the worker; resolves once it has answered the start-up ping. */
  async start(): Promise<void> {
    this.pool = await this.launch();
    this.state = 'ready';
    this.reportLaunch();
  }

  /**
   * Queues one operation. The caller has validated its arguments and checked `pendingOps` against
   * `maxPendingOpsPerShard`. Throws (queueing nothing) if its arguments cannot be encoded, or
   * `AbortedError` if `call.signal` is already aborted.
   * `call`: a caller's call (internal ones pass none): its signal, and `callTimeoutMs` applies to it;
   * `created`, for a `Reply.Created` op, the id it resolves (the op's own by default).
   */
  submit<K extends OpName, R extends Reply = Reply.Value>(
    name: K,
    id: IdOf<K>,
    args: ArgsOf<K>,
    reply?: R,
    call?: CallOptions,
    created?: string,
  ): Promise<Delivered<K, R>> {
    const op = OPS[name];
    this.checkNotAborted(call);
    try {
      this.batch.add(op.code, id, (op.encodeArgs as (args: ArgsOf<K>) => unknown)(args));
    } catch (error) {
      throw encodeFailure(error);
    }
    return this.queue(created ?? id, reply ?? Reply.Value, op.readResult as Pending['read'], name, call) as Promise<Delivered<K, R>>;
  }

  /** Queues an APPEND of a checked message, written straight into the batch (see `BatchWriter.addAppend`). */
  submitAppend(id: string, messageId: string, role: Role, content: string, timestamp: number, call?: CallOptions): Promise<number> {
    this.checkNotAborted(call);
    try {
      this.batch.addAppend(id, messageId, role, content, timestamp);
    } catch (error) {
      throw encodeFailure(error);
    }
    return this.queue(id, Reply.Value, undefined, 'append', call) as Promise<number>;
  }

  /**
   * Queues an op that carries new messages (`appendMany`, `splice`), its records written straight into the
   * batch (see `BatchWriter.addMessages`); `args` as the op's `encodeArgs` lays them out.
   */
  submitMessages<K extends 'appendMany' | 'splice'>(name: K, id: string, args: MessagesArgs, call?: CallOptions): Promise<ResultOf<K>> {
    const op = OPS[name];
    this.checkNotAborted(call);
    try {
      this.batch.addMessages(op.code, id, args);
    } catch (error) {
      throw encodeFailure(error);
    }
    return this.queue(id, Reply.Value, op.readResult as Pending['read'], name, call) as Promise<ResultOf<K>>;
  }

  private checkNotAborted(call: CallOptions | undefined): void {
    const signal = call?.signal;
    if (signal?.aborted) throw new AbortedError(`the call was aborted before it was sent to shard ${this.index}; it never ran`, { cause: signal.reason });
  }

  /** The caller's promise of the op just written into the batch. */
  private queue(id: string | null, reply: Reply, read: Pending['read'], name: string, call: CallOptions | undefined): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const op: Pending = { resolve, reject, reply, read, id, op: name, at: performance.now(), watch: null };
      if (call !== undefined && (call.signal != null || this.options.callTimeoutMs > 0)) this.watch(op, call.signal ?? null);
      this.queued.push(op);
      // A microtask, not now: every op issued in the same tick of the caller goes in one batch. While a
      // reply is still being handed out, wait for more ops (or its end) so batches stay large.
      if (this.canSend() && !this.flushScheduled && this.state === 'ready' && (this.delivering === 0 || this.queued.length >= EARLY_FLUSH_OPS)) {
        this.flushScheduled = true;
        queueMicrotask(this.flushTask);
      }
    });
  }

  /**
   * Lets `op` end early: when `signal` aborts, or after `callTimeoutMs`. Its settling functions are wrapped
   * so that whatever settles it first (its reply, a crash, the signal, the timer) lets go of the signal and
   * clears the timer: a long-lived signal shared by many calls keeps nothing of a settled one.
   */
  private watch(op: Pending, signal: AbortSignal | null): void {
    const watch: Watch = { signal, timer: null, sent: false, dropped: false, done: false };
    op.watch = watch;
    const { resolve, reject } = op;
    op.resolve = (value) => {
      this.unwatch(op);
      resolve(value);
    };
    op.reject = (error) => {
      this.unwatch(op);
      reject(error);
    };
    if (signal !== null) {
      let calls = this.signals.get(signal);
      if (calls === undefined) {
        const ops = new Set<Pending>();
        const onAbort = (): void => {
          // Each cut short leaves the set (see `unwatch`): iterate a copy.
          for (const aborted of [...ops]) {
            this.cutShort(aborted, (sent) =>
              sent
                ? new AbortedError(`the call was aborted after it was sent to shard ${this.index}; its outcome is unknown`, { cause: signal.reason })
                : new AbortedError(`the call was aborted before it was sent to shard ${this.index}; it never ran`, { cause: signal.reason }),
            );
          }
        };
        calls = { ops, onAbort };
        this.signals.set(signal, calls);
        signal.addEventListener('abort', onAbort, { once: true });
      }
      calls.ops.add(op);
    }
    const timeoutMs = this.options.callTimeoutMs;
    if (timeoutMs > 0) {
      watch.timer = setTimeout(
        () =>
          this.cutShort(op, (sent) =>
            sent
              ? new TimeoutError(`shard ${this.index} did not answer the call within callTimeoutMs (${timeoutMs} ms); its outcome is unknown`)
              : new TimeoutError(`the call was not sent to shard ${this.index} within callTimeoutMs (${timeoutMs} ms); it never ran`),
          ),
        timeoutMs,
      );
    }
    this.watchedQueued++;
  }

  private unwatch(op: Pending): void {
    const watch = op.watch!;
    if (watch.done) return;
    watch.done = true;
    if (watch.timer !== null) clearTimeout(watch.timer);
    watch.timer = null;
    const signal = watch.signal;
    if (signal === null) return;
    const calls = this.signals.get(signal)!;
    calls.ops.delete(op);
    if (calls.ops.size === 0) {
      signal.removeEventListener('abort', calls.onAbort);
      this.signals.delete(signal);
    }
  }

  /**
   * Ends a call before its reply. Not yet sent: it is dropped from the queue (its bytes are left out of its
   * batch when that is sent) and never runs. Sent: only its caller is answered; the shard goes on with it.
   */
  private cutShort(op: Pending, makeError: (sent: boolean) => SessionEngineError): void {
    const watch = op.watch!;
    if (watch.done) return;
    if (watch.sent) {
      this.reject(op, makeError(true), performance.now());
      return;
    }
    watch.dropped = true;
    this.droppedQueued++;
    this.watchedQueued--;
    // No reply will end its capacity reservation.
    if (op.reply === Reply.Created) this.hooks.createSettled();
    this.reject(op, makeError(false), performance.now());
    if (this.state === 'closing' && this.pendingOps === 0) this.drained?.();
  }

  /**
   * Called by the watchdog at each look, before `isHung`: a worker that got on with its batch since the
   * last look (a long batch: a burst of large writes, a sweep) is busy, not hung, and its clock restarts.
   */
  noteProgress(now: number): void {
    const seen = Atomics.load(this.progress, 0);
    if (seen === this.progressSeen) return;
    this.progressSeen = seen;
    if (this.inFlight.length > 0) this.inFlightSince = Math.max(this.inFlightSince, now);
  }

  /** Whether the batch in flight has been waiting longer than `shardTimeoutMs` (called by the watchdog). */
  isHung(now: number): boolean {
    return this.inFlight.length > 0 && now - this.inFlightSince > this.options.shardTimeoutMs;
  }

  /** Declares the worker hung: it is terminated and restarted like a crashed one. */
  declareHung(): void {
    if (this.pool !== null) this.crashed(this.pool, new Error(`no reply within shardTimeoutMs (${this.options.shardTimeoutMs} ms)`));
  }

  /** Finishes the work already submitted, then stops the worker. Idempotent. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'ready' && this.pendingOps > 0) {
      this.state = 'closing';
      await new Promise<void>((resolve) => {
        this.drained = resolve;
      });
    }
    const stillQueued = this.takeQueued();
    this.state = 'closed';
    this.rejectAll(stillQueued, () => new EngineClosedError('the engine closed before this operation was sent'));
    const pool = this.pool;
    this.pool = null;
    await pool?.destroy().catch(() => undefined);
  }

  private flush(): void {
    // A Redis shard releasing its queue sends every batch of it (see `slowStoreMs`).
    while (this.send() && this.releasing);
  }

  /** Whether a batch may go now: memory, up to two in flight; Redis, up to eight, or any while releasing its queue. */
  private canSend(): boolean {
    if (this.options.store === null) return this.inFlight.length < MEMORY_BATCHES_IN_FLIGHT;
    return this.inFlight.length < STORE_BATCHES_IN_FLIGHT || this.releasing;
  }

  /** A Redis shard's oldest batch may have waited `slowStoreMs`: if so, sends what is queued behind it. */
  private checkSlow(): void {
    this.slowTimer = null;
    if (this.inFlight.length === 0 || this.pool === null) return;
    const waited = performance.now() - this.inFlightSince;
    const slowMs = slowStoreMs(this.options.storeTimeoutMs);
    if (waited >= slowMs) {
      this.releasing = true;
      this.flush();
      this.releasing = false;
    }
    this.slowTimer = setTimeout(this.checkSlowTask, waited >= slowMs ? slowMs : slowMs - waited).unref();
  }

  /** Sends the oldest batch written, if a slot is free; returns whether it did. */
  private send(): boolean {
    if (!this.canSend() || (this.state !== 'ready' && this.state !== 'closing')) return false;
    let bytes: Uint8Array;
    let pending: Pending[];
    for (;;) {
      if (this.queued.length === 0) return false;
      // The writer seals batches in the order of `queued`, each of at most maxBatchOps.
      const taken = this.batch.take()!;
      bytes = taken.bytes;
      if (taken.ops === this.queued.length) {
        pending = this.queued;
        this.queued = [];
      } else {
        pending = this.queued.splice(0, taken.ops);
      }
      if (this.watchedQueued === 0 && this.droppedQueued === 0) break;
      let dropped = 0;
      for (const op of pending) {
        const watch = op.watch;
        if (watch === null) continue;
        if (watch.dropped) dropped++;
        else {
          watch.sent = true;
          this.watchedQueued--;
        }
      }
      if (dropped === 0) break;
      this.droppedQueued -= dropped;
      const kept = pending.filter((op) => op.watch === null || !op.watch.dropped);
      if (kept.length === 0) continue;
      try {
        bytes = leaveOut(bytes, pending);
      } catch (error) {
        // Rewriting could only fail to allocate: the ops it held fail alone, as if they could not be encoded.
        this.rejectAll(kept, () => encodeFailure(error));
        continue;
      }
      pending = kept;
      break;
    }
    if (this.inFlight.length === 0) this.inFlightSince = performance.now();
    this.inFlight.push({ pending });
    if (this.options.store !== null && this.slowTimer === null)
      this.slowTimer = setTimeout(this.checkSlowTask, slowStoreMs(this.options.storeTimeoutMs)).unref();
    this.batches++;
    this.ops += pending.length;
    this.hooks.metrics.batchSent(this.index, pending.length, bytes.length);
    const pool = this.pool!;
    const task: Uint8Array | StoreBatchTask = this.options.store === null ? bytes : { batch: bytes, sentAt: Date.now() };
    pool.run(task, { transferList: [bytes.buffer as ArrayBuffer] }).then(
      (reply: Uint8Array) => this.replied(pool, reply),
      (error: unknown) => this.crashed(pool, error),
    );
    // A caller waiting on a few operations, and nothing else of this shard's to do meanwhile.
    if (pending.length <= REPLY_SPIN_MAX_OPS && this.inFlight.length === 1 && this.delivering === 0) this.replySpin.expect();
    return true;
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled && this.queued.length > 0) {
      this.flushScheduled = true;
      queueMicrotask(this.flushTask);
    }
  }

  private replied(pool: Piscina, bytes: Uint8Array): void {
    if (pool !== this.pool) return;
    let header: ReplyHeader;
    try {
      header = decodeReplyHeader(bytes);
    } catch (error) {
      this.crashed(pool, new Error(`undecodable reply: ${(error as Error).message}`));
      return;
    }
    // Replies come in the order the batches were sent (see MEMORY_BATCHES_IN_FLIGHT).
    const batch = this.inFlight.shift()!;
    // The next batch in flight is the worker's from now on.
    this.inFlightSince = performance.now();
    const delivery: Delivery = { bytes, header, pending: batch.pending, chunk: 0, errorAt: 0 };
    // A slot is free again: what callers issue while this reply is delivered may go out at once.
    this.delivering += delivery.pending.length;
    this.report(header.seq, header.size, header.expired);
    for (const op of batch.pending) if (op.reply === Reply.Created) this.hooks.createSettled();
    // One reply is handed out at a time, in the order sent: callers are answered in call order, and two
    // replies never share the host's turns between event-loop turns.
    this.deliveries.push(delivery);
    if (this.deliveries.length === 1) this.deliver(delivery);
  }

  /**
   * Hands one chunk of results to their callers, then queues the next chunk behind the callers'
   * continuations, so that only one chunk of decoded sessions is alive at a time.
   */
  private deliver(delivery: Delivery): void {
    const { header, pending } = delivery;
    const { errors } = header;
    const total = pending.length;
    const now = performance.now();
    if (errors !== null && errors[0] === -1) {
      for (const op of pending) this.reject(op, fromWire({ code: errors[1], message: errors[2] } as WireError), now);
      this.delivered(total);
      return;
    }
    const first = delivery.chunk * RESULTS_PER_CHUNK;
    const last = Math.min(first + RESULTS_PER_CHUNK, total);
    let results: unknown[];
    try {
      results = decodeReplyChunk(delivery.bytes, header, delivery.chunk);
      if (results.length !== last - first) throw new RangeError(`a chunk of ${results.length} results where ${last - first} were due`);
    } catch (error) {
      const failure = new ProtocolError(`undecodable reply from shard ${this.index}: ${(error as Error).message}`);
      this.rejectAll(pending.slice(first), () => failure, true);
      this.delivered(total - first);
      return;
    }
    let nextError = errors === null || delivery.errorAt >= errors.length ? -1 : (errors[delivery.errorAt] as number);
    for (let n = first; n < last; n++) {
      const op = pending[n]!;
      // A settled op must not stay reachable from this delivery: its resolving functions hold its promise,
      // and the promise its value (a decoded session). Kept, they would live as long as the whole reply and
      // be promoted to the old generation; released, they die young.
      pending[n] = undefined!;
      if (n === nextError) {
        this.reject(op, fromWire({ code: errors![delivery.errorAt + 1], message: errors![delivery.errorAt + 2] } as WireError), now);
        delivery.errorAt += 3;
        nextError = delivery.errorAt < errors!.length ? (errors![delivery.errorAt] as number) : -1;
        continue;
      }
      const settledBefore = op.watch?.done === true;
      let result: unknown;
      try {
        result = op.read === undefined ? results[n - first] : op.read(results[n - first]);
      } catch (error) {
        // Stored text the host cannot parse (bytes in Redis this version did not write): this call fails,
        // typed; the calls answered beside it settle, and the delivery goes on.
        const applied = op.op === 'get' ? '' : ' (the call itself was applied)';
        this.reject(
          op,
          new CorruptDataError(`${op.op}: what the store returned for session ${op.id} cannot be read${applied}: ${(error as Error).message}`),
          now,
        );
        continue;
      }
      if (op.reply === Reply.Value) op.resolve(result);
      else if (op.reply === Reply.Optional) op.resolve(result === null ? undefined : result);
      else op.resolve(op.id);
      // A call cut short earlier was counted then; its late reply settles nothing.
      if (!settledBefore) this.hooks.metrics.callSettled(op.op, this.index, now - op.at, null);
    }
    this.delivering -= last - first;
    if (last < total) {
      delivery.chunk++;
      // Every few chunks the host's event loop gets a turn (its timers and I/O), so that a large reply
      // never holds it for long; in between, a microtask keeps delivery cheap.
      if (delivery.chunk % CHUNKS_PER_TURN === 0) setImmediate(() => this.deliver(delivery));
      else queueMicrotask(() => this.deliver(delivery));
      return;
    }
    this.delivered(0);
  }

  /** A delivery ended (`undelivered` of its ops were settled in bulk). */
  private delivered(undelivered: number): void {
    this.delivering -= undelivered;
    this.deliveries.shift();
    const next = this.deliveries[0];
    if (next !== undefined) setImmediate(() => this.deliver(next));
    if (this.state === 'closing' && this.pendingOps === 0) {
      this.drained?.();
      return;
    }
    // Sent after the callers' continuations have run, so that what they issue joins this next batch.
    this.scheduleFlush();
  }

  /** A worker event: sessions its timer expired. */
  private event(pool: Piscina, message: unknown): void {
    const event = message as ShardEvent;
    // A warning may come while the worker starts (it checks its store's settings as it connects).
    if (event?.type === 'warning') {
      this.hooks.warning(event.code, `shard ${this.index}: ${event.message}`, this.index);
      return;
    }
    if (pool !== this.pool) return;
    if (event?.type === 'expired') this.report(event.seq, event.size, event.ids);
    else if (event?.type === 'store') this.hooks.storeState(this.index, event);
  }

  private report(seq: number, size: number, expired: string[] | null): void {
    // Replies and events travel on different ports; the sequence number says which is newer.
    if (seq > this.lastSeq) {
      this.lastSeq = seq;
      const delta = size - this.sessions;
      this.sessions = size;
      if (delta !== 0) this.hooks.sizeChanged(delta);
    }
    if (expired !== null && expired.length > 0) this.hooks.expired(expired);
  }

  /** The worker of `pool` died or hung. Only the current pool of a serving shard can crash. */
  private crashed(pool: Piscina, cause: unknown): void {
    if (pool !== this.pool || (this.state !== 'ready' && this.state !== 'closing')) return;
    this.pool = null;
    // Terminates the worker even when it is stuck in a busy loop.
    void pool.destroy().catch(() => undefined);
    // The replacement waits for its exit: it must not recover from files the old worker may still write.
    this.dying = this.exits.get(pool) ?? Promise.resolve();
    const lostSessions = this.sessions;
    this.lastSeq = 0;
    this.sessions = 0;
    if (lostSessions !== 0) this.hooks.sizeChanged(-lostSessions);
    const reason = cause instanceof Error ? cause.message : String(cause);
    const fate =
      this.options.store !== null
        ? 'its sessions are in the store, untouched'
        : this.persistence === null
          ? `the shard's ${lostSessions} sessions are lost`
          : 'the shard recovers its sessions from disk';
    const message = `shard ${this.index} crashed (${reason}); the outcome of this operation is unknown and ${fate}`;
    log(this.options.logger, 'error', `shard ${this.index} crashed (${reason}); ${fate}`, { code: LogCode.SHARD_CRASHED, shard: this.index });
    const inFlight = this.inFlight.flatMap((batch) => batch.pending);
    this.inFlight = [];
    this.rejectAll(inFlight, () => new ShardCrashedError(message));
    this.rejectAll(this.takeQueued(), () => new ShardCrashedError(message));
    if (this.state === 'closing') {
      this.drained?.();
      return;
    }
    this.state = 'restarting';
    void this.restart(lostSessions);
  }

  private async restart(lostSessions: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const delay = RESTART_BACKOFF_MS[Math.min(attempt, RESTART_BACKOFF_MS.length - 1)]!;
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay).unref());
      if (this.state !== 'restarting') return;
      let pool: Piscina;
      try {
        if (this.persistence !== null) await this.dying;
        pool = await this.launch();
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        log(this.options.logger, 'error', `shard ${this.index} could not restart (attempt ${attempt + 1}: ${reason}); trying again`, {
          code: LogCode.RESTART_FAILED,
          shard: this.index,
        });
        continue;
      }
      if (this.state !== 'restarting') {
        // closed while the new worker was starting
        await pool.destroy().catch(() => undefined);
        return;
      }
      this.pool = pool;
      this.restarts++;
      this.state = 'ready';
      this.reportLaunch();
      const recovered = this.recovery === null ? 0 : this.recovery.sessions + this.recovery.expired;
      const lost = Math.max(0, lostSessions - recovered);
      log(this.options.logger, 'info', `shard ${this.index} restarted; ${lost} sessions lost`, { code: LogCode.SHARD_RESTARTED, shard: this.index });
      this.hooks.restarted(this.index, lost);
      this.scheduleFlush();
      return;
    }
  }

  /** Starts a fresh pool and waits for its ping. Throws (and leaves nothing running) if it cannot start. */
  private async launch(): Promise<Piscina> {
    const config: ShardConfig = {
      shard: this.index,
      maxSessionAgeMs: this.options.maxSessionAgeMs,
      cleanupIntervalMs: this.options.cleanupIntervalMs,
      maxMessagesPerSession: this.options.maxMessagesPerSession,
      maxSessionBytes: shardSessionBudgetBytes(this.options),
      maxBytesPerSession: this.options.maxSessionBytes,
      maxFieldBytes: this.options.maxFieldBytes,
      faultInjection: this.options.faultInjection,
      spin: this.spin,
      replies: this.replies,
      progress: this.progress.buffer as SharedArrayBuffer,
      persistence: this.persistence,
      redis: this.options.store?.redis ?? null,
      storeTimeoutMs: this.options.storeTimeoutMs,
      maxMessageBytes: this.options.maxMessageBytes,
    };
    const pool = new Piscina({
      filename: this.workerFile,
      // One thread, pinned for the shard's life: its Map lives there.
      minThreads: 1,
      maxThreads: 1,
      // The worker applies them one after another (see MEMORY_BATCHES_IN_FLIGHT and the worker's entry).
      concurrentTasksPerWorker: this.maxInFlight,
      idleTimeout: Infinity,
      // Atomics waiting would freeze the worker's event loop, and its cleanup timer with it.
      atomics: 'disabled',
      recordTiming: false,
      workerData: config,
      resourceLimits: { maxOldGenerationSizeMb: this.options.shardHeapMb },
    });
    // A dead idle worker is reported as a pool 'error' (unhandled, it would kill the host), and a worker
    // that exits without one only as 'workerDestroy'. Either is a crash once the pool serves.
    pool.on('error', (error: unknown) => this.crashed(pool, error));
    pool.on('workerDestroy', () => this.crashed(pool, new Error('its worker exited')));
    let progressAt = 0;
    pool.on('message', (message: unknown) => {
      if ((message as RecoveryProgress | null)?.type === 'recovering') progressAt = performance.now();
      else this.event(pool, message);
    });
    const worker = pool.threads[0];
    this.exits.set(pool, worker === undefined ? Promise.resolve() : new Promise((resolve) => worker.once('exit', () => resolve())));
    try {
      const ping = [OPS.ping.code, null, null];
      const bytes = encode(this.persistence === null ? ping : [...ping, OPS.recovery.code, null, null]);
      // A worker that dies while starting leaves the ping queued forever in piscina: bound the wait.
      const timeout = new AbortController();
      // A recovery that reports progress is not hung, however long it takes.
      const stopLooking = abortWhenOverdue(timeout, this.options.shardTimeoutMs, () => progressAt);
      let answer: Uint8Array;
      try {
        answer = await pool.run(bytes, { transferList: [bytes.buffer as ArrayBuffer], signal: timeout.signal });
      } catch (error) {
        if (!timeout.signal.aborted) throw error;
        throw new ShardCrashedError(`shard ${this.index} did not answer its start-up ping within shardTimeoutMs (${this.options.shardTimeoutMs} ms)`);
      } finally {
        stopLooking();
      }
      const reply = decodeReply(answer);
      // A Redis shard refuses its ping when Redis is unreachable: start() rejects ERR_STORE_UNAVAILABLE.
      if (reply.errors !== null && reply.errors[0] === 0) throw fromWire({ code: reply.errors[1], message: reply.errors[2] } as WireError);
      if (reply.results[0] !== this.index) throw new Error(`the worker answered the ping as shard ${String(reply.results[0])}`);
      this.launched = { seq: reply.seq, size: reply.size };
      if (this.persistence !== null) {
        this.recovery = OPS.recovery.readResult!(reply.results[1]);
        for (const warning of this.recovery.warnings) {
          log(this.options.logger, 'warn', `shard ${this.index}: ${warning}`, { code: LogCode.SKIPPED_RECORDS, shard: this.index });
        }
      }
    } catch (error) {
      await pool.destroy().catch(() => undefined);
      throw error;
    }
    return pool;
  }

  /** Counts the sessions a fresh worker starts with (recovered ones) as the shard's. */
  private reportLaunch(): void {
    this.lastSeq = 0;
    this.report(this.launched.seq, this.launched.size, null);
  }

  private takeQueued(): Pending[] {
    const queued = this.queued;
    this.queued = [];
    this.droppedQueued = 0;
    this.watchedQueued = 0;
    this.batch.clear();
    return queued;
  }

  /** Rejects `pending` (but those dropped: settled already); `answered`: their reply has arrived, so their creates were settled then. */
  private rejectAll(pending: Pending[], makeError: () => SessionEngineError, answered = false): void {
    const now = performance.now();
    for (const op of pending) {
      if (op.watch?.dropped) continue;
      if (op.reply === Reply.Created && !answered) this.hooks.createSettled();
      this.reject(op, makeError(), now);
    }
  }

  /** Rejects one op, and counts it in the engine's metrics (once: a call cut short earlier was counted then). */
  private reject(op: Pending, error: SessionEngineError, now: number): void {
    if (op.watch?.done === true) return;
    op.reject(error);
    this.hooks.metrics.callSettled(op.op, this.index, now - op.at, error.code);
  }
}

/** What a caller may give any call: see `CallOptions` of the engine. */
export interface CallOptions {
  signal?: AbortSignal | undefined;
}

/**
 * The batch `bytes` without the ops of `pending` that were dropped: decoded and encoded again with the
 * shared codec, which is what the worker decodes it with, so the ops kept reach it as they were written,
 * in the same order. Runs only for a batch holding a dropped op: the bytes of a batch cannot be cut in
 * place, since an op's end is known only by decoding it.
 */
function leaveOut(bytes: Uint8Array, pending: readonly Pending[]): Uint8Array {
  const ops = decode(bytes) as unknown[];
  const kept: unknown[] = [];
  for (let n = 0; n < pending.length; n++) {
    if (pending[n]!.watch?.dropped) continue;
    const at = n * OP_STRIDE;
    for (let k = 0; k < OP_STRIDE; k++) kept.push(ops[at + k]);
  }
  return encode(kept);
}
