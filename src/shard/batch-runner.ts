/**
 * The shard side of the batch protocol, shared by every backend: decodes a batch (`protocol/ops.ts`
 * triples), checks each operation's arguments with the op table, applies them through the backend in
 * order, and writes one reply (`protocol/reply.ts`): results in chunks, the error list, the header.
 * It never throws to piscina: every failure becomes a `{ code, message }` in the reply, so a rejected task
 * on the host side can only mean that the worker itself died.
 */
import { move } from 'piscina';
import { decode } from '../protocol/codec.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { MsgpackWriter } from '../protocol/msgpack-writer.js';
import { OperationFailure, fail } from '../protocol/operation-failure.js';
import { OP_BY_CODE, OP_STRIDE, expectSessionId, type OpCodec, type OpName } from '../protocol/ops.js';
import type { StoreBatchTask } from '../protocol/messages.js';
import { RESULTS_PER_CHUNK, writeReplyTail } from '../protocol/reply.js';
import type { ShardBackend } from './backend.js';
import { faultPending } from './fault.js';
import type { IdleSpin } from './idle-spin.js';

/** The reply writer's buffer past which it is given back once the reply is out. */
const SHRINK_WRITER_ABOVE_BYTES = 8 * 1_048_576;

/** Orders a shard's replies and events (they travel on different ports): one counter for both. */
export class ReplySequence {
  private value = 0;
  next(): number {
    return ++this.value;
  }
}

/** What piscina receives: the reply's bytes, moved (not copied) to the host. */
export type MovedReply = ReturnType<typeof move>;

type Handler = (id: unknown, args: unknown) => unknown;
type Outcome = { out: unknown } | { failure: { code: ErrorCode; message: string } };

/** The id slot of an operation, checked as its table entry says. */
function idOf(op: OpCodec<OpName>, wireId: unknown): unknown {
  if (op.id === 'session') return expectSessionId(wireId);
  if (op.id === 'cursor') return wireId === null ? null : expectSessionId(wireId);
  return null;
}

function opOf(code: unknown): OpCodec<OpName> {
  const op = typeof code === 'number' ? OP_BY_CODE[code] : undefined;
  return op ?? fail(ErrorCode.PROTOCOL, `op: unknown operation ${String(code)}`);
}

function asFailure(error: unknown, n: number, backend: ShardBackend, wireId: unknown): { code: ErrorCode; message: string } {
  if (error instanceof OperationFailure) return error;
  if (backend.failureOf !== undefined) return backend.failureOf(error, wireId);
  return { code: ErrorCode.PROTOCOL, message: `op ${n}: ${(error as Error)?.message ?? String(error)}` };
}

export interface BatchRunnerOptions {
  /** Keeps the thread awake briefly after each answer (memory shards). */
  spin?: IdleSpin | null;
  /** Bumped once each reply has been posted, for a host polling for it (`ShardConfig.replies`). */
  replies?: SharedArrayBuffer | null;
}

export class BatchRunner {
  /** The reply under construction; one batch runs at a time, so one writer serves them all. */
  private readonly writer = new MsgpackWriter();
  /** The batch being applied: the next one waits for it. */
  private applying: Promise<unknown> = Promise.resolve();
  private readonly spin: IdleSpin | null;
  private readonly afterReply: () => void;
  /** Why the backend refuses to serve, or `null` (see `run`). */
  private refusal: OperationFailure | null = null;
  /** The backend's handler of each wire code, looked up once. */
  private readonly handlers: readonly (Handler | undefined)[];

  constructor(
    private readonly backend: ShardBackend,
    private readonly sequence: ReplySequence,
    options: BatchRunnerOptions = {},
  ) {
    this.spin = options.spin ?? null;
    const byName = backend.handlers as unknown as Record<OpName, Handler>;
    this.handlers = OP_BY_CODE.map((op) => (op === undefined ? undefined : byName[op.name]));
    const replies = options.replies == null ? null : new Int32Array(options.replies, 0, 1);
    const replyPosted = (): void => {
      Atomics.add(replies!, 0, 1);
    };
    // piscina posts a batch's reply in the microtasks that follow the batch's promise; an immediate runs
    // after them, so the host polling for the bump finds the message already there.
    this.afterReply = replies === null ? () => undefined : () => setImmediate(replyPosted);
  }

  /**
   * The entry piscina calls, with a few batches at once (the engine sends the next while one is applied).
   * In memory they are applied one after another, in the order they came: a batch that waits (a sweep, a
   * flush to disk) must not let the next one's operations overtake its own. Pipelined, each batch's
   * operations are issued as it comes, after those of the batches before.
   */
  readonly handle = (task: unknown): Promise<MovedReply> => {
    if (this.backend.mode === 'pipelined') {
      // Batches wait on the store side by side, each within its own bound; their replies leave in order.
      const sent = task as Partial<StoreBatchTask> | null;
      const fromHost = sent?.batch instanceof Uint8Array && Number.isFinite(sent.sentAt);
      const result = this.runAtOnce(fromHost ? sent.batch : task, fromHost ? sent.sentAt! : Date.now(), this.applying);
      this.applying = result.catch(() => undefined);
      return result;
    }
    const result = this.applying.then(() => this.runInTurn(task));
    this.applying = result.then(this.afterReply, this.afterReply);
    return result;
  };

  /** The batch's operations, or `null` when its bytes are not a batch. */
  private decodeBatch(task: unknown): unknown[] | string {
    try {
      if (!(task instanceof Uint8Array)) throw new TypeError('a batch must be bytes');
      const decoded = decode(task);
      if (!Array.isArray(decoded) || decoded.length % OP_STRIDE !== 0) throw new TypeError('a batch must be a flat array of [op, id, arg] triples');
      return decoded;
    } catch (error) {
      return `batch: undecodable (${(error as Error).message})`;
    }
  }

  private async runInTurn(task: unknown): Promise<MovedReply> {
    if (faultPending()) return new Promise(() => {});
    this.spin?.arrived();
    // A backend that cannot serve (files this version must not read) fails every op of the batch (the
    // start-up ping) with its typed error; any other failure of its start ends the worker.
    this.refusal = await this.backend.ready.then(
      () => null,
      (error: unknown) => {
        if (error instanceof OperationFailure) return error;
        throw error;
      },
    );
    this.writer.reset();
    const batch = this.decodeBatch(task);
    // -1: the whole batch is refused; the shard and its sessions are untouched.
    if (typeof batch === 'string') return this.finish([-1, ErrorCode.PROTOCOL, batch], []);
    this.backend.batchStarted();
    const { errors, chunkEnds } = await this.applyInTurn(batch);
    const reply = this.finish(errors, chunkEnds);
    // Before the reply is released: under fsync 'always' nobody hears of a change before it is on disk. A
    // failed write throws to piscina, so the engine restarts this shard from what the disk holds.
    this.backend.batchEnded();
    this.spin?.answered();
    return reply;
  }

  /** Sequential: applies and writes each operation before the next. */
  private async applyInTurn(batch: unknown[]): Promise<{ errors: (number | string)[] | null; chunkEnds: number[] }> {
    const { writer, backend, handlers } = this;
    const count = batch.length / OP_STRIDE;
    const chunkEnds: number[] = [];
    let errors: (number | string)[] | null = null;
    for (let n = 0, i = 0; n < count; n++, i += OP_STRIDE) {
      if (n % RESULTS_PER_CHUNK === 0) {
        if (n > 0) chunkEnds.push(writer.length);
        writer.arrayHeader(Math.min(RESULTS_PER_CHUNK, count - n));
        backend.chunkStarted();
      }
      try {
        const op = opOf(batch[i]);
        if (this.refusal !== null && op.name !== 'sweep' && op.name !== 'flush') throw this.refusal;
        let out = handlers[op.code]!(idOf(op, batch[i + 1]), op.decodeArgs(batch[i + 2]));
        // Only a few ops are asynchronous (a sweep, a flush); awaiting every op would cost a microtask each.
        if (out instanceof Promise) {
          out = await out;
          backend.chunkStarted();
        }
        (op.writeResult as (writer: MsgpackWriter, out: unknown) => void)(writer, out);
        if (op.logged !== null) backend.applied(op, batch[i + 1], batch[i + 2]);
      } catch (error) {
        writer.nil();
        const failure = asFailure(error, n, backend, batch[i + 1]);
        errors ??= [];
        errors.push(n, failure.code, failure.message);
      }
    }
    if (count > 0) chunkEnds.push(writer.length);
    return { errors, chunkEnds };
  }

  /**
   * Pipelined: starts every operation at once, in order; writes the reply once all have answered or
   * `deadlineMs` has passed since the host sent the batch (this worker may read it late, behind others), and
   * once the reply of the batch before has left.
   */
  private async runAtOnce(task: unknown, sentAt: number, previous: Promise<unknown>): Promise<MovedReply> {
    if (faultPending()) return new Promise(() => {});
    const { writer, backend, handlers } = this;
    const batch = this.decodeBatch(task);
    if (typeof batch === 'string') {
      await previous;
      writer.reset();
      return this.finish([-1, ErrorCode.PROTOCOL, batch], []);
    }
    const count = batch.length / OP_STRIDE;
    const outcomes = new Array<Outcome | undefined>(count);
    const ops = new Array<OpCodec<OpName> | undefined>(count);
    const started: Promise<void>[] = [];
    backend.chunkStarted();
    for (let n = 0, i = 0; n < count; n++, i += OP_STRIDE) {
      try {
        const op = opOf(batch[i]);
        ops[n] = op;
        // Issued in batch order on one connection: the operations on one session apply in call order.
        started.push(
          Promise.resolve(handlers[op.code]!(idOf(op, batch[i + 1]), op.decodeArgs(batch[i + 2]))).then(
            (out) => {
              outcomes[n] = { out };
            },
            (error: unknown) => {
              outcomes[n] = { failure: asFailure(error, n, backend, batch[i + 1]) };
            },
          ),
        );
      } catch (error) {
        outcomes[n] = { failure: asFailure(error, n, backend, batch[i + 1]) };
      }
    }
    // Clamped to the bound, should the wall clock have stepped since the host sent it.
    const waitMs = Math.min(backend.deadlineMs, Math.max(0, sentAt + backend.deadlineMs - Date.now()));
    const issuedAt = performance.now();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(started),
      new Promise((resolve) => {
        timer = setTimeout(resolve, waitMs);
      }),
    ]);
    clearTimeout(timer);
    // The batches before were sent earlier: their own bound ends no later than this one's.
    await previous;
    writer.reset();
    const chunkEnds: number[] = [];
    let errors: (number | string)[] | null = null;
    for (let n = 0; n < count; n++) {
      if (n % RESULTS_PER_CHUNK === 0) {
        if (n > 0) chunkEnds.push(writer.length);
        writer.arrayHeader(Math.min(RESULTS_PER_CHUNK, count - n));
      }
      // A fair chance: not when this worker read the batch too late for the store to answer (its own backlog).
      let outcome = outcomes[n] ?? { failure: backend.unanswered(performance.now() - issuedAt >= backend.deadlineMs / 2) };
      if ('out' in outcome) {
        const at = writer.length;
        try {
          (ops[n]!.writeResult as (writer: MsgpackWriter, out: unknown) => void)(writer, outcome.out);
          continue;
        } catch (error) {
          // A result that cannot be written fails its own op only: what it wrote is taken back.
          writer.advanceTo(at);
          outcome = { failure: asFailure(error, n, backend, batch[n * OP_STRIDE + 1]) };
        }
      }
      writer.nil();
      const failure = asFailure(outcome.failure, n, backend, batch[n * OP_STRIDE + 1]);
      errors ??= [];
      errors.push(n, failure.code, failure.message);
    }
    if (count > 0) chunkEnds.push(writer.length);
    return this.finish(errors, chunkEnds);
  }

  /** Ends the reply: the header after the results, then the trailer locating it. */
  private finish(errors: (number | string)[] | null, chunkEnds: number[]): MovedReply {
    const expired = this.backend.drainExpired();
    writeReplyTail(this.writer, { errors, expired, seq: this.sequence.next(), size: this.backend.size, chunkEnds });
    const reply = this.writer.finish();
    // A large reply (a large session read) must not keep its buffer's size for the shard's life.
    if (this.writer.capacity > SHRINK_WRITER_ABOVE_BYTES) this.writer.shrink();
    return move(reply);
  }
}
