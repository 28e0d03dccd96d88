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
} as const);

/** One of the stable error codes. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error as it crosses the thread boundary. */
export interface WireError {
  code: ErrorCode;
  message: string;
}
