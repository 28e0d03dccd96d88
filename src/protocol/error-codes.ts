/**
 * The stable error codes. Both sides use them: a worker reports a failure as `{ code, message }`
 * and the main thread rebuilds the matching `SessionEngineError` subclass from the code.
 */
export const ErrorCode = Object.freeze({
  SESSION_NOT_FOUND: 'ERR_SESSION_NOT_FOUND',
  INVALID_SESSION_ID: 'ERR_INVALID_SESSION_ID',
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  LIMIT_EXCEEDED: 'ERR_LIMIT_EXCEEDED',
  CAPACITY: 'ERR_CAPACITY',
  QUEUE_FULL: 'ERR_QUEUE_FULL',
  SHARD_CRASHED: 'ERR_SHARD_CRASHED',
  ENGINE_CLOSED: 'ERR_ENGINE_CLOSED',
  PROTOCOL: 'ERR_PROTOCOL',
  PERSISTENCE_LOCKED: 'ERR_PERSISTENCE_LOCKED',
  PERSISTENCE_CORRUPT: 'ERR_PERSISTENCE_CORRUPT',
  STORE_UNAVAILABLE: 'ERR_STORE_UNAVAILABLE',
  CORRUPT_DATA: 'ERR_CORRUPT_DATA',
  CONFLICT: 'ERR_CONFLICT',
  ABORTED: 'ERR_ABORTED',
  TIMEOUT: 'ERR_TIMEOUT',
} as const);

/**
 * The code of the warning (`process.emitWarning`) a recovery gives for each torn or corrupt file tail it
 * skipped. Fixed, so that hosts can route or alert on it.
 */
export const SKIPPED_RECORDS_WARNING = 'SESSION_SHARDS_SKIPPED_RECORDS';

/**
 * The codes of what the engine tells the `logger` option (and, for warnings without a logger's `warn`,
 * `process.emitWarning`). Fixed, so that hosts can route or alert on them; messages are for people.
 */
export const LogCode = Object.freeze({
  /** warn: a recovery skipped a torn or corrupt file tail, or kept a copy of a damaged file. */
  SKIPPED_RECORDS: SKIPPED_RECORDS_WARNING,
  /** error: a shard's worker died or hung; its pending calls reject `ERR_SHARD_CRASHED`. */
  SHARD_CRASHED: 'SESSION_SHARDS_SHARD_CRASHED',
  /** error: a fresh worker for a crashed shard could not start; it is tried again after a back-off. */
  RESTART_FAILED: 'SESSION_SHARDS_RESTART_FAILED',
  /** info: a fresh worker took over a crashed shard (the `'shardRestart'` event). */
  SHARD_RESTARTED: 'SESSION_SHARDS_SHARD_RESTARTED',
  /** warn, once per engine: the Redis server does not send the keyspace notifications behind `'expired'`. */
  KEYSPACE_EVENTS: 'SESSION_SHARDS_KEYSPACE_EVENTS',
  /** error: the Redis store went down (the `'storeDown'` event). */
  STORE_DOWN: 'SESSION_SHARDS_STORE_DOWN',
  /** info: the Redis store is back (the `'storeUp'` event). */
  STORE_UP: 'SESSION_SHARDS_STORE_UP',
} as const);

/** One of the `LogCode`s. */
export type LogCode = (typeof LogCode)[keyof typeof LogCode];

/** One of the stable error codes. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error as it crosses the thread boundary. */
export interface WireError {
  code: ErrorCode;
  message: string;
}
