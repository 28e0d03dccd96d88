/**
 * What a shard's store offers the batch runner (`batch-runner.ts`). The memory store (`memory/`) and the
 * Redis store (`redis/`) each implement it; the runner owns everything else a worker does with a batch.
 */
import type { OperationFailure } from '../protocol/operation-failure.js';
import type { ArgsOf, IdOf, OpCodec, OpName, OutOf } from '../protocol/ops.js';

/** One handler per operation of the table: the compiler lists what a new operation needs. */
export type OpHandlers = { readonly [K in OpName]: (id: IdOf<K>, args: ArgsOf<K>) => OutOf<K> | Promise<OutOf<K>> };

export interface ShardBackend {
  /**
   * `'sequential'`: each operation is applied before the next starts (the few asynchronous ones are awaited
   * in turn). `'pipelined'`: every operation of a batch is started at once, in order, and the reply waits
   * for all of them or `deadlineMs` from when the host sent it, whichever comes first; several batches may
   * wait side by side, their replies leave in the order they came.
   */
  readonly mode: 'sequential' | 'pipelined';
  readonly handlers: OpHandlers;
  /** Settles once the backend serves (recovery done); the first batch (the start-up ping) waits for it. */
  readonly ready: Promise<void>;
  /** Pipelined: how long a batch waits for its operations before the unanswered ones fail. */
  readonly deadlineMs: number;
  /**
   * An error thrown by the store (not an `OperationFailure`) as the failure of the operation on `wireId`;
   * without this, `ERR_PROTOCOL`.
   */
  failureOf?(error: unknown, wireId: unknown): OperationFailure;
  /**
   * The failure of an operation still unanswered at the deadline; `fairChance`: the store had most of the
   * bound to answer (not a batch this worker read late).
   */
  unanswered(fairChance: boolean): OperationFailure;
  /** A batch starts. */
  batchStarted(): void;
  /** A run of operations starts (every chunk of results, and after an await): the store reads its clock. */
  chunkStarted(): void;
  /** An operation was applied without error (persistence logs what changed). */
  applied(op: OpCodec<OpName>, wireId: unknown, wireArgs: unknown): void;
  /** Ids found expired since the last reply (`null`: none); they go into the reply's header. */
  drainExpired(): string[] | null;
  /** Sessions held, for the reply's header (0 where the sessions are not the shard's own). */
  readonly size: number;
  /** The reply is written and about to be released: make the batch durable (a throw ends the worker). */
  batchEnded(): void;
}
