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
} as const);

/**
 * The code of the warning (`process.emitWarning`) a recovery gives for each torn or corrupt file tail it
 * skipped. Fixed, so that hosts can route or alert on it.
 */
export const SKIPPED_RECORDS_WARNING = 'SESSION_SHARDS_SKIPPED_RECORDS';

/** One of the stable error codes. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error as it crosses the thread boundary. */
export interface WireError {
  code: ErrorCode;
  message: string;
}
