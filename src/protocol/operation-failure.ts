/**
 * A failure of one operation inside a shard, carried to its caller as `{ code, message }` in the reply and
 * rebuilt there as the matching `SessionEngineError`. Neutral ground: the op table, both backends and the
 * batch runner throw it.
 */
import type { ErrorCode } from './error-codes.js';

export class OperationFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Throws an `OperationFailure`. */
export function fail(code: ErrorCode, message: string): never {
  throw new OperationFailure(code, message);
}
