/**
 * The one table of the engine's options: each one's default, its bounds, and its validation.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { FSYNC_POLICIES, type FsyncPolicy, type ShardSpinConfig } from '../protocol/messages.js';
import { InvalidArgumentError } from './errors.js';
import { resolveStore, type ResolvedStore, type StoreOptions } from './store-options.js';

/** What `SessionEngine.start()` accepts. Every field is optional. */
export interface SessionEngineOptions {
  /**
   * How many shards (worker threads) hold the sessions.
   * @default `defaultShardCount(store)`: in memory, one per core but one (`os.availableParallelism() - 1`,
   * at least 1), which leaves a core to the host's own thread: it encodes the batches and decodes the
   * replies, and a shard on every core competes with it (docs/performance.md). With a `store`, one per
   * core: its shards mostly wait on Redis, each on its own connection, and more connections carry more at once
   */
  shards?: number;
  /**
   * How long a session may stay idle before it expires, in milliseconds: an idle timeout, not a maximum
   * age. Every access (a read, a write, `touch()`) restarts the session's clock; a session in use never
   * expires. `idleTimeoutMs` is the same option under a clearer name (give one or the other).
   * @default 3_600_000 (1 hour)
   */
  maxSessionAgeMs?: number;
  /**
   * `maxSessionAgeMs` under a name that says what it is: how long a session may stay idle before it
   * expires. Giving both rejects `ERR_INVALID_ARGUMENT`; `engine.options` shows it as `maxSessionAgeMs`.
   */
  idleTimeoutMs?: number;
  /**
   * The longest a call may wait for its shard, in milliseconds; past it the call rejects `ERR_TIMEOUT`
   * (`TimeoutError`). A call still waiting to be sent is dropped (it never runs); one already with its
   * shard may still take effect (its outcome is unknown). The watchdog (`shardTimeoutMs`) still decides
   * when a shard is hung. `0`: no bound.
   * @default 0
   */
  callTimeoutMs?: number;
  /**
   * Where the engine reports what a host wants in its own logs: `warn` (a recovery skipped damaged
   * records), `error` (a shard crashed; a restart failed), `info` (a shard restarted). Each is called as
   * `(message, { code, shard })`, `code` one of `LogCode`. Without `warn`, warnings go to
   * `process.emitWarning` (with their code); without `error` or `info`, those are not reported (the
   * `'shardRestart'` event still is). A logger that throws is ignored.
   * @default null
   */
  logger?: EngineLogger | null;
  /**
   * How often each shard sweeps its expired sessions, in milliseconds. Expiry is also checked on every
   * access, so an expired session is never returned; the sweep frees the memory of those nobody asks for.
   * @default 300_000 (5 minutes)
   */
  cleanupIntervalMs?: number;
  /**
   * The most sessions the engine holds, over all shards; `create()` beyond it rejects `ERR_CAPACITY`.
   * Expired sessions count until a sweep or an access removes them.
   * @default 1_000_000
   */
  maxSessions?: number;
  /**
   * The most messages one session holds; an append beyond it rejects `ERR_LIMIT_EXCEEDED` (never trims).
   * @default 10_000
   */
  maxMessagesPerSession?: number;
  /**
   * The largest message content, in UTF-8 bytes; a larger append rejects `ERR_LIMIT_EXCEEDED`.
   * @default 1_048_576 (1 MiB)
   */
  maxMessageBytes?: number;
  /**
   * The most bytes one session holds: its messages (as encoded, about their UTF-8 bytes plus 16 each), its
   * encoded `clientCapabilities` and `mcpServers`, and its `cwd`, `title` and `owner`. A create, append or
   * update that would pass it rejects `ERR_LIMIT_EXCEEDED` naming it (nothing is trimmed). It also bounds
   * what one read returns, so that the host can always hold a session it reads: a `get()` of a session
   * that holds more (one restored from disk written under a larger limit) rejects `ERR_LIMIT_EXCEEDED`
   * unless `lastMessages` brings it within the limit, and `remove()` of one removes it and resolves it
   * with only its newest messages that fit within the limit.
   * @default 67_108_864 (64 MiB)
   */
  maxSessionBytes?: number;
  /**
   * The largest `clientCapabilities`, and the largest `mcpServers`, of a session, in encoded (msgpack)
   * bytes; a create or update past it rejects `ERR_LIMIT_EXCEEDED` naming it. They are metadata, checked
   * and encoded on the host's thread before anything is sent.
   * @default 1_048_576 (1 MiB)
   */
  maxFieldBytes?: number;
  /**
   * The largest `metadata` of a session, as JSON text in UTF-8 bytes; a create, update or fork past it
   * rejects `ERR_LIMIT_EXCEEDED` naming it. (A message's metadata counts against `maxMessageBytes`.)
   * @default 65_536 (64 KiB)
   */
  maxMetadataBytes?: number;
  /**
   * The most operations waiting on one shard (queued and in flight); more reject `ERR_QUEUE_FULL`.
   * @default 100_000
   */
  maxPendingOpsPerShard?: number;
  /**
   * The most operations sent to a shard in one batch; the rest wait for the next one. A batch is also
   * closed at 4 MiB (`MAX_BATCH_BYTES`), a larger operation going alone, so that a shard applies each
   * batch in a bounded time.
   * @default 2_048
   */
  maxBatchOps?: number;
  /**
   * The size of each shard's memory, in MiB: its worker's V8 heap limit (old generation), and, at
   * `SESSION_HEAP_SHARE` (3/4) of it, the most bytes of sessions it takes by its own count (message logs,
   * which live outside the V8 heap, included); creates and appends beyond that reject `ERR_CAPACITY`
   * instead of growing the process until the OS kills it. A worker that exceeds its heap limit dies and is
   * restarted empty, like any crashed shard.
   * @default `defaultShardHeapMb(shards, availableMemoryBytes())`: 3/4 of the memory the process may use
   * (its cgroup or OS limit, else the machine's), shared among the shards, within 64 to 8 192 MiB
   */
  shardHeapMb?: number;
  /**
   * How long a shard may take to answer a batch before the watchdog declares it hung, terminates its
   * worker and restarts it (its pending calls reject `ERR_SHARD_CRASHED`). The watchdog looks every
   * quarter of it (at most every second) and acts on a batch found overdue twice in a row, so that a host
   * thread held past it (a long collection) does not end a shard whose answer is waiting to be read. A
   * starting worker has as long to answer its start-up ping, judged the same way; one that does not fails
   * `start()` (or its restart is tried again) with `ERR_SHARD_CRASHED`.
   * @default 30_000
   */
  shardTimeoutMs?: number;
  /**
   * How long, in microseconds, a memory shard's thread keeps polling for its next batch after answering
   * one, instead of sleeping until it arrives (Redis shards never do): on a virtual machine waking a sleeping
   * thread is a large part of a one-operation round trip. The spin adapts: after a batch
   * that came later than this window, the shard sleeps at once, so sparse traffic costs no CPU; traffic
   * whose batches follow each other within the window costs the shard's thread the gaps between them.
   * `0` never spins.
   * @default 200
   */
  shardSpinUs?: number;
  /**
   * How long, in microseconds, the host's thread polls for the reply to a small batch (at most
   * four operations, the only batch in flight to its shard) instead of sleeping until it
   * arrives: on a virtual machine waking the host's thread costs more than the round trip itself, and no
   * less CPU (docs/performance.md). The poll runs after the host's event
   * loop has handled whatever else was ready, ends as soon as the reply is posted, and never lasts longer
   * than this window, which is the most it can delay the host's other work. Polls that reach the window
   * make the shard skip the next ones (see `main/reply-spin.ts`). The window is wide enough to catch replies
   * that a busy moment delays.
   * Memory shards only. `0` never polls.
   * @default 200
   */
  replySpinUs?: number;
  /**
   * Enables `engine.injectFault()`, for tests and failure drills. Never enable it in production.
   * @default false
   */
  faultInjection?: boolean;
  /**
   * Keeps the sessions on disk, in `dir`, so that they survive a restart of the host or of a shard.
   * Each shard logs every change it applies (one write per batch), compacts its log into a snapshot when
   * it grows, and recovers from its files when it starts. `null` or omitted: memory only.
   * @default null
   */
  persistence?: PersistenceOptions | null;
  /**
   * Keeps the sessions in Redis (`{ redis: url | options }`) or Redis Cluster (`{ redis: { cluster: nodes } }`)
   * instead of the shards' memory, so that several hosts share them; needs the `ioredis` package. Idle expiry
   * is Redis's own; `maxSessions` is not enforced (Redis's `maxmemory` is the bound); refused together with
   * `persistence` (Redis keeps its own). `null` or omitted: the shards' memory.
   * @default null
   */
  store?: StoreOptions | null;
  /**
   * With a `store`: how long a batch may wait for the store before its calls reject `ERR_STORE_UNAVAILABLE`
   * (whether a write took effect is then unknown). The engine reconnects by itself.
   * @default 5_000
   */
  storeTimeoutMs?: number;
}

/** The `persistence` option. */
export interface PersistenceOptions {
  /** The directory of the files; created (mode 0700) if missing. One engine at a time may use it. */
  dir: string;
  /**
   * When the log is fsynced: `'always'` before a batch's results are released (no acknowledged write is
   * ever lost), `'everysec'` once a second (about a second of acknowledged writes may be lost to a power
   * failure or an OS crash, none to a crash of the process), `'no'` when the OS decides.
   * @default 'everysec'
   */
  fsync?: FsyncPolicy;
  /**
   * A shard's log size, in bytes, past which it writes a snapshot and starts a new log.
   * @default 67_108_864 (64 MiB)
   */
  compactAfterBytes?: number;
  /**
   * How soon, in milliseconds, the content of a removed or expired session leaves every file of `dir`:
   * that long after a removal (or the sweep or access that found a session expired), the shard compacts
   * its log and snapshot, even when quiet; `close()` compacts a shard with such content at once. An
   * expired session no one accesses is found by the next sweep (`cleanupIntervalMs`).
   * @default 300_000 (5 minutes)
   */
  eraseWithinMs?: number;
}

/** What the engine's log entries carry besides their message. */
export interface LogFields {
  /** Stable: one of `LogCode`. */
  code: string;
  /** The shard concerned, when there is one. */
  shard?: number;
}

/** A log function of the `logger` option. */
export type LogFunction = (message: string, fields: LogFields) => void;

/** The `logger` option: any of the three, for instance a pino or winston logger's methods bound to it. */
export interface EngineLogger {
  warn?: LogFunction;
  error?: LogFunction;
  info?: LogFunction;
}

/**
 * Hands one entry to the `logger` option: to its function of that level, else, for a warning, to
 * `process.emitWarning` (with the entry's code). A logger that throws is ignored: logging must never break
 * the engine's bookkeeping.
 */
export function log(logger: Readonly<EngineLogger> | null, level: keyof EngineLogger, message: string, fields: LogFields): void {
  const fn = logger?.[level];
  if (fn === undefined) {
    if (level === 'warn') process.emitWarning(message, { code: fields.code });
    return;
  }
  try {
    fn(message, fields);
  } catch {
    // ignored, as documented
  }
}

/** The `persistence` option with its defaults filled in. */
export type ResolvedPersistence = Readonly<Required<PersistenceOptions>>;

/** The options with every default filled in, as `engine.options` shows them. */
export type ResolvedOptions = Readonly<
  Required<Omit<SessionEngineOptions, 'persistence' | 'store' | 'idleTimeoutMs' | 'logger'>> & {
    persistence: ResolvedPersistence | null;
    store: ResolvedStore | null;
    logger: Readonly<EngineLogger> | null;
  }
>;

/**
 * The default `shards`: in memory, one per core but the one the host's thread needs, at least 1; with a
 * Redis `store`, one per core (see the `shards` option).
 */
export function defaultShardCount(store = false): number {
  return store ? availableParallelism() : Math.max(1, availableParallelism() - 1);
}

/**
 * The idle spin shared by the shards of one engine (`shardSpinUs`). At most one shard fewer than the cores
 * spins at a time, so that a core stays free for the host's thread: on 2 cores, two spinning shards kept
 * the host's wake-up waiting and made one-operation latency no better.
 */
export function shardSpinConfig(options: ResolvedOptions): ShardSpinConfig {
  return { us: options.shardSpinUs, board: new SharedArrayBuffer(4), spinners: Math.max(0, availableParallelism() - 1) };
}

/** The share of `shardHeapMb` a memory shard fills with sessions before it refuses more (`ERR_CAPACITY`). */
export const SESSION_HEAP_SHARE = 0.75;

/** The bytes of sessions each memory shard takes: `SESSION_HEAP_SHARE` of its heap limit. */
export function shardSessionBudgetBytes(options: ResolvedOptions): number {
  return Math.floor(options.shardHeapMb * 1_048_576 * SESSION_HEAP_SHARE);
}

/** The bounds of the default `shardHeapMb`, in MiB. */
export const DEFAULT_SHARD_HEAP_MIN_MB = 64;
export const DEFAULT_SHARD_HEAP_MAX_MB = 8_192;

/** The share of the memory the process may use that the default `shardHeapMb` gives the shards together. */
export const SHARDS_MEMORY_SHARE = 0.75;

/**
 * The default `shardHeapMb` for `shards` shards in a process that may use `availableBytes`: the shards
 * together get `SHARDS_MEMORY_SHARE` (3/4) of it, the rest is the host's (its own heap, the replies it
 * decodes, the message logs a shard keeps outside its heap); each shard's share is clamped to 64-8 192 MiB.
 * At the floor, many shards in a small container can together exceed the memory: give fewer `shards`.
 */
export function defaultShardHeapMb(shards: number, availableBytes: number): number {
  const share = Math.floor((availableBytes * SHARDS_MEMORY_SHARE) / Math.max(1, shards) / 1_048_576);
  return Math.min(DEFAULT_SHARD_HEAP_MAX_MB, Math.max(DEFAULT_SHARD_HEAP_MIN_MB, share));
}

/** Where `availableMemoryBytes` looks; each source returns bytes, or nothing when it does not know. */
export interface MemorySources {
  /** `process.constrainedMemory()`, where Node has it (0 or absent: no constraint known). */
  constrained(): number | undefined;
  /** The cgroup's limit (`/sys/fs/cgroup/memory.max`, v2; `memory.limit_in_bytes`, v1). */
  cgroup(): number | undefined;
  /** The machine's memory (`os.totalmem()`). */
  total(): number;
}

/** The cgroup memory limits Linux may show, v2 first. */
const CGROUP_LIMIT_FILES = ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'];

/** Reads the first cgroup memory limit found; `max` (v2) or an absurd v1 value means none. */
function cgroupLimitBytes(): number | undefined {
  for (const file of CGROUP_LIMIT_FILES) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch {
      continue;
    }
    const bytes = Number(text);
    return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
  }
  return undefined;
}

/** The sources of this process. */
export const PROCESS_MEMORY_SOURCES: MemorySources = Object.freeze({
  constrained: () => (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.(),
  cgroup: cgroupLimitBytes,
  total: totalmem,
});

/**
 * The memory the process may use, in bytes: the smallest of `process.constrainedMemory()` (when Node has
 * it and it is non-zero), the cgroup's limit (when readable and set) and the machine's memory. The
 * smallest, because some Nodes report an unconstrained process as a huge number, and a cgroup limit above
 * the machine's memory means no limit.
 */
export function availableMemoryBytes(sources: MemorySources = PROCESS_MEMORY_SOURCES): number {
  let bytes = sources.total();
  for (const limit of [sources.constrained(), sources.cgroup()]) {
    if (typeof limit === 'number' && Number.isFinite(limit) && limit > 0 && limit < bytes) bytes = limit;
  }
  return bytes;
}

/** Node's timers overflow above this (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;

interface IntegerRule {
  default: () => number;
  min: number;
  max: number;
}

const integerRules: Record<Exclude<keyof SessionEngineOptions, 'faultInjection' | 'persistence' | 'store' | 'logger' | 'idleTimeoutMs'>, IntegerRule> = {
  shards: { default: defaultShardCount, min: 1, max: 256 },
  maxSessionAgeMs: { default: () => 3_600_000, min: 1, max: Number.MAX_SAFE_INTEGER },
  cleanupIntervalMs: { default: () => 300_000, min: 1, max: MAX_TIMER_MS },
  maxSessions: { default: () => 1_000_000, min: 1, max: 2 ** 32 },
  maxMessagesPerSession: { default: () => 10_000, min: 1, max: 2 ** 32 },
  maxMessageBytes: { default: () => 1_048_576, min: 1, max: 512 * 1_048_576 },
  maxSessionBytes: { default: () => 64 * 1_048_576, min: 1_024, max: 2 ** 32 },
  maxFieldBytes: { default: () => 1_048_576, min: 64, max: 64 * 1_048_576 },
  maxMetadataBytes: { default: () => 65_536, min: 2, max: 64 * 1_048_576 },
  maxPendingOpsPerShard: { default: () => 100_000, min: 1, max: 2 ** 32 },
  maxBatchOps: { default: () => 2_048, min: 1, max: 1_000_000 },
  // The real default depends on the shards resolved: see `resolveOptions`.
  shardHeapMb: { default: () => DEFAULT_SHARD_HEAP_MAX_MB, min: 16, max: 1_048_576 },
  shardTimeoutMs: { default: () => 30_000, min: 100, max: MAX_TIMER_MS },
  shardSpinUs: { default: () => 200, min: 0, max: 10_000 },
  replySpinUs: { default: () => 200, min: 0, max: 10_000 },
  storeTimeoutMs: { default: () => 5_000, min: 10, max: MAX_TIMER_MS },
  callTimeoutMs: { default: () => 0, min: 0, max: MAX_TIMER_MS },
};

/** The option names, for messages. */
const KNOWN = [...Object.keys(integerRules), 'idleTimeoutMs', 'faultInjection', 'persistence', 'store', 'logger'];
const LOGGER_KNOWN = ['warn', 'error', 'info'];

function resolveLogger(value: unknown): Readonly<EngineLogger> | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(`options.logger must be an object with warn, error or info functions, or null, got ${describe(value)}`);
  }
  const logger: EngineLogger = {};
  // Any other own key is refused (a typo such as `warning` must not pass silently); a library logger
  // (pino, winston) has many, so a host passes an adapter: `{ warn: (message, fields) => log.warn(fields, message) }`.
  for (const key of Object.keys(value)) {
    if (!LOGGER_KNOWN.includes(key)) throw new InvalidArgumentError(`options.logger.${key} is not a logger function (known: ${LOGGER_KNOWN.join(', ')})`);
  }
  for (const key of LOGGER_KNOWN as (keyof EngineLogger)[]) {
    const fn = (value as Record<string, unknown>)[key];
    if (fn === undefined) continue;
    if (typeof fn !== 'function') throw new InvalidArgumentError(`options.logger.${key} must be a function, got ${describe(fn)}`);
    // Called with the object as `this`, as `logger.warn(...)` would be.
    logger[key] = (fn as LogFunction).bind(value);
  }
  return Object.freeze(logger);
}
const PERSISTENCE_KNOWN = ['dir', 'fsync', 'compactAfterBytes', 'eraseWithinMs'];
const ERASE_MIN = 10;
const COMPACT_MIN = 4_096;
const COMPACT_MAX = 2 ** 40;

function resolvePersistence(value: unknown): ResolvedPersistence | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(`options.persistence must be an object or null, got ${describe(value)}`);
  }
  const given = value as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!PERSISTENCE_KNOWN.includes(key)) {
      throw new InvalidArgumentError(`options.persistence.${key} is not an option (known: ${PERSISTENCE_KNOWN.join(', ')})`);
    }
  }
  const { dir, fsync = 'everysec', compactAfterBytes = 67_108_864, eraseWithinMs = 300_000 } = given;
  if (typeof dir !== 'string' || dir.length === 0 || dir.includes('\0')) {
    throw new InvalidArgumentError(`options.persistence.dir must be a non-empty path, got ${describe(dir)}`);
  }
  if (!FSYNC_POLICIES.includes(fsync as FsyncPolicy)) {
    throw new InvalidArgumentError(`options.persistence.fsync must be one of ${FSYNC_POLICIES.map((p) => `'${p}'`).join(', ')}, got ${describe(fsync)}`);
  }
  if (typeof compactAfterBytes !== 'number' || !Number.isInteger(compactAfterBytes) || compactAfterBytes < COMPACT_MIN || compactAfterBytes > COMPACT_MAX) {
    throw new InvalidArgumentError(
      `options.persistence.compactAfterBytes must be an integer from ${COMPACT_MIN} to ${COMPACT_MAX}, got ${describe(compactAfterBytes)}`,
    );
  }
  if (typeof eraseWithinMs !== 'number' || !Number.isInteger(eraseWithinMs) || eraseWithinMs < ERASE_MIN || eraseWithinMs > MAX_TIMER_MS) {
    throw new InvalidArgumentError(`options.persistence.eraseWithinMs must be an integer from ${ERASE_MIN} to ${MAX_TIMER_MS}, got ${describe(eraseWithinMs)}`);
  }
  return Object.freeze({ dir, fsync: fsync as FsyncPolicy, compactAfterBytes, eraseWithinMs });
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/**
 * Fills in defaults and validates every option; throws `InvalidArgumentError` (`ERR_INVALID_ARGUMENT`)
 * naming the option and the value given. Unknown options are refused too: a typo must not pass silently.
 */
export function resolveOptions(options: unknown = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError(`options must be an object, got ${describe(options)}`);
  }
  const given = options as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!KNOWN.includes(key)) throw new InvalidArgumentError(`options.${key} is not an option (known: ${KNOWN.join(', ')})`);
  }
  const resolved: Record<string, unknown> = {};
  if (given.idleTimeoutMs !== undefined && given.maxSessionAgeMs !== undefined) {
    throw new InvalidArgumentError('options.idleTimeoutMs and options.maxSessionAgeMs are the same option: give one of them');
  }
  for (const [name, rule] of Object.entries(integerRules)) {
    const alias = name === 'maxSessionAgeMs' && given.idleTimeoutMs !== undefined ? 'idleTimeoutMs' : name;
    const value = given[alias];
    if (value === undefined) {
      resolved[name] = rule.default();
      continue;
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value < rule.min || value > rule.max) {
      throw new InvalidArgumentError(`options.${alias} must be an integer from ${rule.min} to ${rule.max}, got ${describe(value)}`);
    }
    resolved[name] = value;
  }
  const faultInjection = given.faultInjection ?? false;
  if (typeof faultInjection !== 'boolean') {
    throw new InvalidArgumentError(`options.faultInjection must be a boolean, got ${describe(faultInjection)}`);
  }
  resolved.faultInjection = faultInjection;
  resolved.persistence = resolvePersistence(given.persistence);
  resolved.store = resolveStore(given.store);
  resolved.logger = resolveLogger(given.logger);
  if (given.shards === undefined) resolved.shards = defaultShardCount(resolved.store !== null);
  if (given.shardHeapMb === undefined) resolved.shardHeapMb = defaultShardHeapMb(resolved.shards as number, availableMemoryBytes());
  if (resolved.store !== null && resolved.persistence !== null) {
    throw new InvalidArgumentError('options.persistence cannot be used with options.store: Redis keeps (and persists) the sessions itself');
  }
  // A batch waits up to storeTimeoutMs for Redis; the watchdog must not declare the shard hung first.
  if (resolved.store !== null && (resolved.storeTimeoutMs as number) >= (resolved.shardTimeoutMs as number)) {
    throw new InvalidArgumentError(
      `options.storeTimeoutMs (${String(resolved.storeTimeoutMs)}) must be below options.shardTimeoutMs (${String(resolved.shardTimeoutMs)})`,
    );
  }
  return Object.freeze(resolved) as ResolvedOptions;
}
