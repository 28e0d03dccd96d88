/**
 * The engine's errors: one base class with a stable `code`, and one subclass per failure.
 * Match on `code` (or `instanceof`): messages are for people and may change.
 */
import { ErrorCode, type WireError } from '../protocol/error-codes.js';

export { ErrorCode };

const kSessionEngineError = Symbol.for('session-shards.error');

/** The base class of every error the engine raises. */
export class SessionEngineError extends Error {
  /** Set on every instance, also across copies of this module: `SessionEngineError[Symbol.hasInstance]` uses it. */
  readonly [kSessionEngineError] = true;

  constructor(
    /** A stable code, one of `ErrorCode`. */
    readonly code: ErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  static override [Symbol.hasInstance](instance: unknown): boolean {
    // Two copies of this package in one process (a bundled and an installed one) still recognise each other.
    // `this` is the class `instanceof` asks about (a subclass inherits this method), not SessionEngineError.
    // biome-ignore lint/complexity/noThisInStatic: the receiver is the subclass; naming the class here would be wrong
    if (this !== SessionEngineError) return Function.prototype[Symbol.hasInstance].call(this, instance);
    return typeof instance === 'object' && instance !== null && (instance as Record<symbol, unknown>)[kSessionEngineError] === true;
  }
}

/** `appendMessage` or `update` on an id that is unknown or expired. */
export class SessionNotFoundError extends SessionEngineError {
  constructor(message: string) {
    super(ErrorCode.SESSION_NOT_FOUND, message);
  }
}

/** An id that is not a canonical ULID string. */
export class InvalidSessionIdError extends SessionEngineError {
  constructor(message: string) {
    super(ErrorCode.INVALID_SESSION_ID, message);
  }
}

/** An argument or option of the wrong type or range; the message names it and the value. */
export class InvalidArgumentError extends SessionEngineError {
  constructor(message: string) {
    super(ErrorCode.INVALID_ARGUMENT, message);
  }
}

/** A per-session limit (`maxMessagesPerSession`, `maxMessageBytes`) would be exceeded. Nothing is trimmed. */
export class LimitExceededError extends SessionEngineError {
  constructor(message: string) {
    super(ErrorCode.LIMIT_EXCEEDED, message);
  }
}

/** `create()` when the engine already holds `maxSessions`. */
export class CapacityError extends SessionEngineError {
  constructor(message: string) {
    super(ErrorCode.CAPACITY, message);
  }
}

/** A shard already holds `maxPendingOpsPerShard` operations: back off and retry. */
export class QueueFullError extends SessionEngineError {
  constructor(message: string) {
    super(ErrorCode.QUEUE_FULL, message);
  }
}

/**
 * The shard's worker died (or hung) while the operation was pending. Whether the operation took effect is
 * unknown; the sessions the shard held are lost (see the `'shardRestart'` event).
 */
export class ShardCrashedError extends SessionEngineError {
  constructor(message: string) {
    super(ErrorCode.SHARD_CRASHED, message);
  }
}

/** A call after `close()`. */
export class EngineClosedError extends SessionEngineError {
  constructor(message = 'the engine is closed') {
    super(ErrorCode.ENGINE_CLOSED, message);
  }
}

/** A batch or reply that could not be decoded: a bug or corrupted bytes, never a user's mistake. */
export class ProtocolError extends SessionEngineError {
  constructor(message: string) {
    super(ErrorCode.PROTOCOL, message);
  }
}

/** Another live engine (this process or another) holds the persistence directory's lock. */
export class PersistenceLockedError extends SessionEngineError {
  constructor(message: string) {
    super(ErrorCode.PERSISTENCE_LOCKED, message);
  }
}

/**
 * The persistence directory's files do not say what to recover (a damaged or missing `manifest.json`
 * beside data files, a file of a newer format, a record this process cannot hold). Nothing was deleted;
 * the message names the file and what to do.
 */
export class PersistenceCorruptError extends SessionEngineError {
  constructor(message: string) {
    super(ErrorCode.PERSISTENCE_CORRUPT, message);
  }
}

/**
 * The external store (Redis) did not answer within `storeTimeoutMs`, or the connection is down. Whether a
 * write took effect is unknown; the engine reconnects by itself, so retry later.
 */
export class StoreUnavailableError extends SessionEngineError {
  constructor(message: string) {
    super(ErrorCode.STORE_UNAVAILABLE, message);
  }
}

/**
 * A session's data in the store (Redis) cannot be read: a field or message that this engine never wrote
 * so. Only that session's calls fail; repair or remove it (`remove()` deletes it, and rejects this too).
 */
export class CorruptDataError extends SessionEngineError {
  constructor(message: string) {
    super(ErrorCode.CORRUPT_DATA, message);
  }
}

/**
 * A conditional write found the session otherwise than the call assumed, and changed nothing: `ifLength`
 * did not match the messages held, or a message id is already in the session (with other content) or
 * twice in the call. Read the session again and decide.
 */
export class ConflictError extends SessionEngineError {
  constructor(message: string) {
    super(ErrorCode.CONFLICT, message);
  }
}

/**
 * A call cancelled by its `signal` (`ERR_ABORTED`; `name` is `'AbortError'`, as for `fetch`, so that code
 * that checks for an abort by name recognises it). The message says whether the call was never sent (it did
 * not run) or was already with its shard (its outcome is unknown). `cause` is the signal's `reason`.
 */
export class AbortedError extends SessionEngineError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.ABORTED, message, options);
    this.name = 'AbortError';
  }
}

/**
 * A call not settled within the engine's `callTimeoutMs` (`ERR_TIMEOUT`). The message says whether the call
 * was never sent (it did not run) or was already with its shard (its outcome is unknown).
 */
export class TimeoutError extends SessionEngineError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.TIMEOUT, message, options);
  }
}

const byCode: Record<ErrorCode, new (message: string) => SessionEngineError> = {
  [ErrorCode.SESSION_NOT_FOUND]: SessionNotFoundError,
  [ErrorCode.INVALID_SESSION_ID]: InvalidSessionIdError,
  [ErrorCode.INVALID_ARGUMENT]: InvalidArgumentError,
  [ErrorCode.LIMIT_EXCEEDED]: LimitExceededError,
  [ErrorCode.CAPACITY]: CapacityError,
  [ErrorCode.QUEUE_FULL]: QueueFullError,
  [ErrorCode.SHARD_CRASHED]: ShardCrashedError,
  [ErrorCode.ENGINE_CLOSED]: EngineClosedError,
  [ErrorCode.PROTOCOL]: ProtocolError,
  [ErrorCode.PERSISTENCE_LOCKED]: PersistenceLockedError,
  [ErrorCode.PERSISTENCE_CORRUPT]: PersistenceCorruptError,
  [ErrorCode.STORE_UNAVAILABLE]: StoreUnavailableError,
  [ErrorCode.CORRUPT_DATA]: CorruptDataError,
  [ErrorCode.CONFLICT]: ConflictError,
  [ErrorCode.ABORTED]: AbortedError,
  [ErrorCode.TIMEOUT]: TimeoutError,
};

/** Rebuilds the typed error of a `{ code, message }` that crossed the thread boundary. */
export function fromWire(wire: WireError): SessionEngineError {
  const ErrorClass = byCode[wire.code] ?? ProtocolError;
  return new ErrorClass(String(wire.message));
}
