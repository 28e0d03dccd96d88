/**
 * The wire protocol between the main thread and a shard worker.
 *
 * A batch is one msgpack-encoded flat array of `[code, id, arg]` triples (the operations are in `ops.ts`),
 * applied by the worker in order; the host writes it op by op (`batch-writer.ts`). The reply's layout is in
 * `reply.ts`.
 * Worker-initiated events (the timer's sweep) arrive as `ShardEvent` messages on the worker's parent port.
 */
import type { WireError } from './error-codes.js';

/** The faults a shard can be told to commit (only when the engine runs with `faultInjection`). */
export type FaultKind = 'throw' | 'exit' | 'oom' | 'hang';

/** The fault kinds, for validation. */
export const FAULT_KINDS: readonly FaultKind[] = Object.freeze(['throw', 'exit', 'oom', 'hang'] as const);

/** A message a worker posts on its own, outside any batch. */
export type ShardEvent = ExpiredEvent | ShardWarning | StoreStateEvent;

/** Sessions the worker found expired (its sweep, or a Redis store's keyspace notifications). */
export interface ExpiredEvent {
  type: 'expired';
  ids: string[];
  seq: number;
  size: number;
}

/**
 * Something the operator should know that fails no call, for the host to emit as a process warning
 * (`process.emitWarning(message, { code })`): a worker's own warnings would reach neither the host's
 * `process.on('warning')` listeners nor its logger. `code` is stable; a worker posts each code at most once.
 */
export interface ShardWarning {
  type: 'warning';
  code: string;
  message: string;
}

/**
 * A Redis shard's store went down or came back (for the engine's `storeDown` / `storeUp` events). Each shard
 * worker has its own connection and posts its own transitions, never the same state twice in a row; a worker
 * starts up (its start-up ping reached Redis). Down: its connection closed (`'connection'`), or Redis left a
 * call unanswered for `storeTimeoutMs` (`'no answer'`: a frozen or overloaded server). Up: both are over. On
 * a cluster, down means the cluster client lost every node, not one master (its sessions fail alone).
 */
export type StoreStateEvent = { type: 'store'; up: false; reason: 'connection' | 'no answer'; message: string } | { type: 'store'; up: true };

/**
 * The code of the warning (`process.emitWarning`) an engine on Redis gives, once, when the server does not
 * send the keyspace notifications behind the `'expired'` events (and the engine was not allowed to, or
 * could not, turn them on: see `store.configureKeyspaceEvents`). Fixed, so that hosts can route or alert on it.
 */
export const KEYSPACE_EVENTS_WARNING = 'SESSION_SHARDS_KEYSPACE_EVENTS';

/**
 * Posted every few milliseconds while a shard recovers: the host's bound on its start-up (`shardTimeoutMs`)
 * then runs from the last one, so that a large recovery that advances is not taken for a hung worker.
 */
export interface RecoveryProgress {
  type: 'recovering';
}

/** What a shard worker is started with (its `workerData`). All values are already validated. */
export interface ShardConfig {
  shard: number;
  maxSessionAgeMs: number;
  cleanupIntervalMs: number;
  maxMessagesPerSession: number;
  /** The most bytes of sessions a memory shard takes (its share of `shardHeapMb`): its budget, not one session's. */
  maxSessionBytes: number;
  /** The most bytes one session holds (the `maxSessionBytes` option); unbounded when absent. */
  maxBytesPerSession?: number;
  /** The `maxFieldBytes` option: the largest encoded `clientCapabilities` or `mcpServers`; unbounded when absent. */
  maxFieldBytes?: number;
  faultInjection: boolean;
  /** How the worker polls for its next batch after answering one (see `shard/idle-spin.ts`). */
  spin: ShardSpinConfig;
  /**
   * A counter (4 bytes, an `Int32Array`) the worker bumps once each reply has been posted; the host polls
   * it while it waits for a small batch's reply (`replySpinUs`, see `main/reply-spin.ts`).
   */
  replies: SharedArrayBuffer;
  /**
   * A counter (4 bytes, an `Int32Array`) the worker bumps as it gets on with a batch (every chunk of
   * results, every slice of a sweep): the watchdog tells a shard busy with a long batch from a hung one by
   * it. Optional: a worker without it is judged by its replies alone.
   */
  progress?: SharedArrayBuffer;
  /** `null`: memory only. */
  persistence?: ShardPersistenceConfig | null;
  /** Where a Redis shard keeps its sessions (only the Redis worker reads it). */
  redis?: ShardRedisConfig | null;
  /** A Redis shard's bound on a batch's round trips before its ops reject `ERR_STORE_UNAVAILABLE`. */
  storeTimeoutMs?: number;
  /** A Redis shard enforces it again on the server: another host may run with other limits. */
  maxMessageBytes?: number;
}

/** The idle spin of an engine's shards: one board shared by all of them. */
export interface ShardSpinConfig {
  /** How long to poll after an answer, in microseconds; 0 never polls. */
  us: number;
  /** An `Int32Array` counter of answers over the engine's shards (4 bytes). */
  board: SharedArrayBuffer;
  /** How many of the engine's shards may poll at once. */
  spinners: number;
}

/**
 * A Redis shard's connection, as plain data (it crosses into the worker): a `redis://` URL, ioredis
 * connection options without functions, or a cluster's seed nodes with the options of each node's connection.
 */
export type ShardRedisConfig = (
  | { kind: 'single'; url: string | null; options: Record<string, unknown> }
  | { kind: 'cluster'; nodes: ({ host: string; port: number } | string)[]; options: Record<string, unknown> }
) & {
  /** Put in front of every key (`''`: none); taken out of `options`, as the engine prefixes the keys itself. */
  keyPrefix: string;
  /** Whether the worker may `CONFIG SET notify-keyspace-events` (the `store.configureKeyspaceEvents` option). */
  configureKeyspaceEvents: boolean;
};

/** How `fsync` is called on a shard's log (see the `persistence` option). */
export type FsyncPolicy = 'always' | 'everysec' | 'no';

/** The persistence fsync policies, for validation. */
export const FSYNC_POLICIES: readonly FsyncPolicy[] = Object.freeze(['always', 'everysec', 'no'] as const);

/** A shard's persistence settings (see `persistence-files.ts` for the directory's layout). */
export interface ShardPersistenceConfig {
  dir: string;
  fsync: FsyncPolicy;
  /** The generation this shard writes. */
  generation: number;
  /** The generation it recovers from, `null` for none. */
  recoverGeneration: number | null;
  /** Read every shard's files of `recoverGeneration` (a new start) or only its own (a restart after a crash). */
  recoverAll: boolean;
  /** The engine's shard count: a recovered session is kept by the shard `shardFor` gives it. */
  shards: number;
  /** Log size that triggers a compaction, in bytes. */
  compactAfterBytes: number;
  /** How soon after a session is removed or expires a compaction erases its content from the files, in ms. */
  eraseWithinMs: number;
}

/** What a shard's recovery restored. */
export interface RecoveryFigures {
  /** Sessions restored (and not expired). */
  sessions: number;
  /** Sessions found expired (idle past `maxSessionAgeMs`) when recovery ended; dropped. */
  expired: number;
  /** Torn or corrupt records skipped (a file's bad tail counts once). */
  skippedRecords: number;
  /** Milliseconds the recovery took. */
  ms: number;
  /** Why records were skipped, one line each; the engine emits them as warnings. */
  warnings: string[];
}

/**
 * A batch as the host hands it to a Redis shard: with when it was sent (`Date.now()`), so that the worker
 * bounds its calls by `storeTimeoutMs` from then, not from when it got round to reading it. Memory shards
 * (and a Redis shard's start-up ping) get the bytes alone.
 */
export interface StoreBatchTask {
  batch: Uint8Array;
  sentAt: number;
}

export type { WireError };
