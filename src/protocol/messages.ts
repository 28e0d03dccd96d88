/**
 * The wire protocol between the main thread and a shard worker.
 *
 * A batch is one msgpack-encoded flat array of `[op, id, arg]` triples (see `Op`), applied by the worker
 * in order; the host writes it op by op (`batch-writer.ts`). The reply's layout is in `reply.ts`.
 * Worker-initiated events (the timer's sweep) arrive as `ShardEvent` messages on the worker's parent port.
 */
import type { WireError } from './error-codes.js';

/** Operation codes. The numbers are part of the wire format: never renumber one. */
export const Op = Object.freeze({
  /** id, arg: `[clientCapabilities, mcpServers, cwd, title, owner]` (the last three `string | null`); result: `true`. */
  CREATE: 1,
  /** id, arg: lastMessages (-1: all); result: a Session or `null`. */
  GET: 2,
  /**
   * id, arg: a message record as bin (`message-record.ts`); result: the new context length. A shard also
   * takes a `{ role, content, timestamp }` object: its persistence logs from before records carry those.
   */
  APPEND: 3,
  /**
   * id, arg: `[setCapabilities, clientCapabilities, setServers, mcpServers, setCwd, cwd, setTitle, title, setOwner, owner]`;
   * result: `true`.
   */
  UPDATE: 4,
  /** id, arg: `null`; result: whether the session exists. */
  TOUCH: 5,
  /** id, arg: `null`; result: the removed Session or `null`. */
  REMOVE: 6,
  /**
   * id: `after` or `null`, arg: `[limit (-1: all), desc, cwd, owner]` (`cwd`, `owner`: `null` for any);
   * result: ids, ascending (descending when `desc`).
   */
  LIST: 7,
  /** id: `null`, arg: `null`; result: the number of sessions held. */
  SIZE: 8,
  /** id: `null`, arg: `null`; result: the number of sessions removed. */
  SWEEP: 9,
  /** id: `null`, arg: `null`; result: `[sessions, messages]`. */
  STATS: 10,
  /** id: `null`, arg: `null`; result: the shard index. The start-up handshake. */
  PING: 11,
  /** id: `null`, arg: a `FaultKind`; result: `true`, then the worker fails as asked. */
  FAULT: 12,
  /** id: `null`, arg: `null`; result: `RecoveryFigures` of the worker's start (zeros without persistence). */
  RECOVERY: 13,
  /**
   * id: `null`, arg: whether to close the log too (the engine is closing); result: `true` once every record
   * written so far is fsynced (and a compaction in progress has ended).
   */
  FLUSH: 14,
} as const);

/** An operation code. */
export type Op = (typeof Op)[keyof typeof Op];

/** Every slot of a batch triple, in order. */
export const OP_STRIDE = 3;

/** The faults a shard can be told to commit (only when the engine runs with `faultInjection`). */
export type FaultKind = 'throw' | 'exit' | 'oom' | 'hang';

/** The fault kinds, for validation. */
export const FAULT_KINDS: readonly FaultKind[] = Object.freeze(['throw', 'exit', 'oom', 'hang'] as const);

/** A message a worker posts on its own, outside any batch. */
export interface ShardEvent {
  type: 'expired';
  ids: string[];
  seq: number;
  size: number;
}

/** What a shard worker is started with (its `workerData`). All values are already validated. */
export interface ShardConfig {
  shard: number;
  maxSessionAgeMs: number;
  cleanupIntervalMs: number;
  maxMessagesPerSession: number;
  /** The most bytes of sessions a memory shard takes (its share of `shardHeapMb`). */
  maxSessionBytes: number;
  faultInjection: boolean;
  /** How the worker polls for its next batch after answering one (see `shard/idle-spin.ts`). */
  spin: ShardSpinConfig;
  /**
   * A counter (4 bytes, an `Int32Array`) the worker bumps once each reply has been posted; the host polls
   * it while it waits for a small batch's reply (`replySpinUs`, see `main/reply-spin.ts`).
   */
  replies: SharedArrayBuffer;
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
export type ShardRedisConfig =
  | { kind: 'single'; url: string | null; options: Record<string, unknown> }
  | { kind: 'cluster'; nodes: ({ host: string; port: number } | string)[]; options: Record<string, unknown> };

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
