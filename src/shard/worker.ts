/**
 * The shard worker's entry: piscina calls the default export with one encoded batch at a time.
 * It decodes the batch, applies its operations in order to this shard's store, and answers with one
 * encoded reply. It never throws to piscina: every failure becomes a `{ code, message }` in the reply,
 * so a rejected task on the main side can only mean that the worker itself died.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { move } from 'piscina';
import { decode } from '../protocol/codec.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { FAULT_KINDS, Op, OP_STRIDE, type FaultKind, type RecoveryFigures, type ShardConfig, type ShardEvent } from '../protocol/messages.js';
import { checkMessageRecord, encodeMessageRecord } from '../protocol/message-record.js';
import { MsgpackWriter } from '../protocol/msgpack-writer.js';
import { RESULTS_PER_CHUNK, writeReplyTail } from '../protocol/reply.js';
import { ROLES, type ClientCapabilities, type Role } from '../protocol/model.js';
import { faultPending, injectFault } from './fault.js';
import { IdleSpin } from './idle-spin.js';
import { LOG_EXPIRED } from './persistence/recovery.js';
import { ShardPersistence } from './persistence/shard-persistence.js';
import { newestMessagesWithin, OperationFailure, readBytesOf, sessionBytesOf, SessionStore } from './session-store.js';
import { encodeCapabilities, encodeServers, writeSession } from './stored-session.js';

/** The longest a sweep runs before it lets batches in (the target is under 10 ms per slice). */
const SWEEP_SLICE_MS = 4;

const config = workerData as ShardConfig;
/**
 * The store's clock, read once per operation. A variable rather than `Date.now` so that each logged
 * operation carries the time it was applied at, and recovery replays it at that time.
 */
let clockNow = Date.now();
const store = new SessionStore(
  {
    maxSessionAgeMs: config.maxSessionAgeMs,
    maxMessagesPerSession: config.maxMessagesPerSession,
    maxBytes: config.maxSessionBytes,
    maxBytesPerSession: config.maxBytesPerSession ?? Infinity,
    maxFieldBytes: config.maxFieldBytes ?? Infinity,
  },
  () => clockNow,
);
/** What this worker writes to disk; `null` when the engine keeps sessions in memory only. */
const persistence =
  config.persistence == null
    ? null
    : new ShardPersistence(config.persistence, config.shard, store, replayLogged, (time) => {
        clockNow = time;
      });
let recovery: RecoveryFigures = { sessions: 0, expired: 0, skippedRecords: 0, ms: 0, warnings: [] };
/** While a batch is applied, expiry records join its log record instead of being written on their own. */
let batchRunning = false;
let seq = 0;
const spin = new IdleSpin(config.spin.us / 1_000, config.spin.board, config.spin.spinners, performance.now.bind(performance));
const replies = new Int32Array(config.replies, 0, 1);
const progress = new Int32Array(config.progress ?? new SharedArrayBuffer(4), 0, 1);
/** Tells the host's watchdog that this shard is getting on with its batch (see `ShardConfig.progress`). */
const progressed = (): void => {
  Atomics.add(progress, 0, 1);
};
/** Tells a host polling for a reply that it has been posted (see `ShardConfig.replies`). */
const replyPosted = (): void => {
  Atomics.add(replies, 0, 1);
};
/**
 * piscina posts a batch's reply (or its error) in the microtasks that follow the batch's promise; an
 * immediate runs after them. Bumping before the post measured worse: the host stopped polling and slept
 * before the message came.
 */
const afterReply = (): void => {
  setImmediate(replyPosted);
};
/** Sweeps run one after another: a timer pass and an explicit `sweep()` must not share a cursor. */
let sweepChain: Promise<number> = Promise.resolve(0);

function sweepInSlices(): Promise<number> {
  sweepChain = sweepChain.then(async () => {
    store.restartSweep();
    longestSliceThisSweep = 0;
    clockNow = Date.now();
    while (!sweepSlice()) {
      progressed();
      postExpired();
      await yieldToEventLoop();
      clockNow = Date.now();
    }
    lastSweepLongestSliceMs = longestSliceThisSweep;
    return store.takeSweepRemoved();
  });
  return sweepChain;
}

/** The longest a slice of the sweep in progress has held this shard, in milliseconds (GC during it included). */
let longestSliceThisSweep = 0;
/** The same figure for the last complete sweep. */
let lastSweepLongestSliceMs = 0;

/** One slice of the sweep in progress; true when the pass is complete. */
function sweepSlice(): boolean {
  const started = performance.now();
  const done = store.sweepStep(SWEEP_SLICE_MS, performance.now.bind(performance));
  longestSliceThisSweep = Math.max(longestSliceThisSweep, performance.now() - started);
  return done;
}

function postExpired(): void {
  const ids = store.drainExpired();
  if (ids === null) return;
  if (persistence !== null) {
    persistence.expired(clockNow, ids);
    if (!batchRunning) persistence.commit();
  }
  const event: ShardEvent = { type: 'expired', ids, seq: ++seq, size: store.size };
  parentPort?.postMessage(event);
}

// The cleanup timer is this worker's own; unref'd so that it never keeps a closing worker alive.
setInterval(() => {
  void sweepInSlices().then(postExpired);
}, config.cleanupIntervalMs).unref();

function fail(code: ErrorCode, message: string): never {
  throw new OperationFailure(code, message);
}

function expectId(id: unknown): string {
  if (typeof id !== 'string' || id.length !== 26) fail(ErrorCode.INVALID_SESSION_ID, `id: not a session id: ${String(id).slice(0, 40)}`);
  return id;
}

function expectCapabilities(value: unknown): ClientCapabilities | Uint8Array | null {
  if (value === null) return null;
  if (value instanceof Uint8Array) return expectFieldBytes(value, 'clientCapabilities');
  if (typeof value !== 'object' || Array.isArray(value)) fail(ErrorCode.INVALID_ARGUMENT, 'clientCapabilities: not an object');
  return value as ClientCapabilities;
}

function expectServers(value: unknown): string[] | Uint8Array {
  if (value instanceof Uint8Array) return expectFieldBytes(value, 'mcpServers');
  if (!Array.isArray(value) || !value.every((name) => typeof name === 'string')) {
    fail(ErrorCode.INVALID_ARGUMENT, 'mcpServers: not an array of strings');
  }
  return value as string[];
}

/** An encoded field as the host sends it (the host checked it against `maxFieldBytes`). */
function expectFieldBytes(bytes: Uint8Array, field: string): Uint8Array {
  if (bytes.length === 0) fail(ErrorCode.INVALID_ARGUMENT, `${field}: empty bytes`);
  return bytes;
}

function expectOptionalString(value: unknown, field: string): string | null {
  if (value !== null && typeof value !== 'string') fail(ErrorCode.INVALID_ARGUMENT, `${field}: not a string or null`);
  return value as string | null;
}

/** An UPDATE's `[set, value]` pair of a plain field: `undefined` when the field is left as it is. */
function optionalUpdate(set: unknown, value: unknown, field: string): string | null | undefined {
  return set === true ? expectOptionalString(value, field) : undefined;
}

/**
 * The record an APPEND carries. Logs written before records travelled whole carry a message object:
 * it is checked as the worker checked it then, and encoded.
 */
function messageRecordOf(arg: unknown): Uint8Array {
  if (arg instanceof Uint8Array) {
    if (checkMessageRecord(arg) < 0) fail(ErrorCode.INVALID_ARGUMENT, 'message: not a well-formed message record');
    return arg;
  }
  const message = arg as { role?: unknown; content?: unknown; timestamp?: unknown } | null;
  if (message === null || typeof message !== 'object') fail(ErrorCode.INVALID_ARGUMENT, 'message: not an object');
  if (!ROLES.includes(message.role as Role)) fail(ErrorCode.INVALID_ARGUMENT, 'role: unknown');
  if (typeof message.content !== 'string') fail(ErrorCode.INVALID_ARGUMENT, 'content: not a string');
  if (typeof message.timestamp !== 'number') fail(ErrorCode.INVALID_ARGUMENT, 'timestamp: not a number');
  return encodeMessageRecord(message.role as Role, message.content, message.timestamp);
}

function expectInt(value: unknown, field: string): number {
  if (!Number.isSafeInteger(value)) fail(ErrorCode.INVALID_ARGUMENT, `${field}: not an integer`);
  return value as number;
}

function expectArray(value: unknown, length: number, field: string): unknown[] {
  if (!Array.isArray(value) || value.length !== length) fail(ErrorCode.INVALID_ARGUMENT, `${field}: malformed`);
  return value;
}

/** The reply under construction; one batch runs at a time, so one writer serves them all. */
const writer = new MsgpackWriter();
/** The reply writer's buffer past which it is given back once the reply is out. */
const SHRINK_WRITER_ABOVE_BYTES = 8 * 1_048_576;

function writeStrings(values: readonly string[]): void {
  writer.arrayHeader(values.length);
  for (const value of values) writer.string(value);
}

/**
 * Applies one synchronous operation and writes its result into the reply (nothing when it throws).
 * A sweep is handled by the batch loop: it yields between slices.
 */
function apply(op: unknown, id: unknown, arg: unknown): void {
  switch (op) {
    case Op.GET: {
      const lastMessages = expectInt(arg, 'lastMessages');
      const session = store.get(expectId(id));
      if (session === undefined) writer.nil();
      else {
        // Only a session restored past today's limit holds more: a read never hands the host more.
        const limit = store.sessionLimitBytes;
        if (sessionBytesOf(session) > limit && readBytesOf(session, lastMessages) > limit) {
          fail(
            ErrorCode.LIMIT_EXCEEDED,
            `maxSessionBytes: session ${session.id} holds ${sessionBytesOf(session)} bytes, past what one read returns (${limit} bytes); read its newest messages with lastMessages`,
          );
        }
        writeSession(writer, session, lastMessages);
      }
      return;
    }
    case Op.APPEND:
      writer.number(store.append(expectId(id), messageRecordOf(arg)));
      return;
    case Op.CREATE: {
      const [capabilities, servers, cwd, title, owner] = expectArray(arg, 5, 'init');
      store.create(expectId(id), encodeCapabilities(expectCapabilities(capabilities)), encodeServers(expectServers(servers)), {
        cwd: expectOptionalString(cwd, 'cwd'),
        title: expectOptionalString(title, 'title'),
        owner: expectOptionalString(owner, 'owner'),
      });
      writer.boolean(true);
      return;
    }
    case Op.UPDATE: {
      const [setCapabilities, capabilities, setServers, servers, setCwd, cwd, setTitle, title, setOwner, owner] = expectArray(arg, 10, 'update');
      store.update(
        expectId(id),
        setCapabilities === true ? encodeCapabilities(expectCapabilities(capabilities)) : null,
        setServers === true ? encodeServers(expectServers(servers)) : null,
        { cwd: optionalUpdate(setCwd, cwd, 'cwd'), title: optionalUpdate(setTitle, title, 'title'), owner: optionalUpdate(setOwner, owner, 'owner') },
      );
      writer.boolean(true);
      return;
    }
    case Op.TOUCH:
      writer.boolean(store.touch(expectId(id)));
      return;
    case Op.REMOVE: {
      const session = store.remove(expectId(id));
      if (session === undefined) writer.nil();
      // Removed whatever its size; what is returned is bounded like a read: its newest messages that fit.
      else writeSession(writer, session, sessionBytesOf(session) > store.sessionLimitBytes ? newestMessagesWithin(session, store.sessionLimitBytes) : -1);
      return;
    }
    case Op.LIST: {
      const [limit, desc, cwd, owner] = expectArray(arg, 4, 'list');
      writeStrings(
        store.list(id === null ? null : expectId(id), expectInt(limit, 'limit'), {
          desc: desc === true,
          cwd: expectOptionalString(cwd, 'cwd'),
          owner: expectOptionalString(owner, 'owner'),
        }),
      );
      return;
    }
    case Op.SIZE:
      writer.number(store.size);
      return;
    case Op.STATS:
      writer.arrayHeader(7);
      writer.number(store.size);
      writer.number(store.messageCount);
      writer.number(store.heldBytes);
      writer.number(getHeapStatistics().used_heap_size);
      writer.number(lastSweepLongestSliceMs);
      writer.number(store.arena.bytesInUse);
      writer.number(store.arena.bytesFree);
      return;
    case Op.PING:
      writer.number(config.shard);
      return;
    case Op.RECOVERY:
      writer.arrayHeader(5);
      writer.number(recovery.sessions);
      writer.number(recovery.expired);
      writer.number(recovery.skippedRecords);
      writer.number(recovery.ms);
      writeStrings(recovery.warnings);
      return;
    case Op.FAULT:
      if (!config.faultInjection) fail(ErrorCode.INVALID_ARGUMENT, 'faultInjection: not enabled for this engine');
      if (!FAULT_KINDS.includes(arg as FaultKind)) fail(ErrorCode.INVALID_ARGUMENT, `kind: unknown fault ${String(arg)}`);
      injectFault(arg as FaultKind, config.shard);
      writer.boolean(true);
      return;
    default:
      fail(ErrorCode.PROTOCOL, `op: unknown operation ${String(op)}`);
  }
}

/** Ends the reply (see `protocol/reply.ts`): the header after the results, then the trailer locating it. */
function finishReply(errors: (number | string)[] | null, chunkEnds: number[]): ReturnType<typeof move> {
  const expired = store.drainExpired();
  if (expired !== null) persistence?.expired(clockNow, expired);
  writeReplyTail(writer, { errors, expired, seq: ++seq, size: store.size, chunkEnds });
  const reply = writer.finish();
  // A large reply (a large session read) must not keep its buffer's size for the shard's life.
  if (writer.capacity > SHRINK_WRITER_ABOVE_BYTES) writer.shrink();
  return move(reply);
}

/** The batch being applied: the next one waits for it. */
let applying: Promise<unknown> = Promise.resolve();

/**
 * The entry piscina calls, with up to two batches at once (the engine sends the next while this one is
 * applied). They are applied one after another, in the order they came: a batch that waits (a sweep, a
 * flush to disk) must not let the next one's operations overtake its own.
 */
export default function handleBatch(task: unknown): Promise<ReturnType<typeof move>> {
  const result = applying.then(() => applyBatch(task));
  applying = result.then(afterReply, afterReply);
  return result;
}

/** Applies one encoded batch; see `protocol/messages.ts` for its shape. */
async function applyBatch(task: unknown): Promise<ReturnType<typeof move>> {
  if (faultPending()) return new Promise(() => {});
  spin.arrived();
  await ready;
  let batch: unknown;
  writer.reset();
  try {
    if (!(task instanceof Uint8Array)) throw new TypeError('a batch must be bytes');
    batch = decode(task);
    if (!Array.isArray(batch) || batch.length % OP_STRIDE !== 0) throw new TypeError('a batch must be a flat array of [op, id, arg] triples');
  } catch (error) {
    // -1: the whole batch is refused; the shard and its sessions are untouched.
    return finishReply([-1, ErrorCode.PROTOCOL, `batch: undecodable (${(error as Error).message})`], []);
  }
  const count = batch.length / OP_STRIDE;
  batchRunning = true;
  const chunkEnds: number[] = [];
  let errors: (number | string)[] | null = null;
  for (let n = 0, i = 0; n < count; n++, i += OP_STRIDE) {
    if (n % RESULTS_PER_CHUNK === 0) {
      if (n > 0) chunkEnds.push(writer.length);
      writer.arrayHeader(Math.min(RESULTS_PER_CHUNK, count - n));
      progressed();
      // Read once per chunk, not per op: a chunk is applied in well under a millisecond, and reading the
      // clock for each op took ~3% of a shard's time in an append workload.
      clockNow = Date.now();
    }
    try {
      // Only a sweep and a flush are asynchronous; awaiting every op would cost a microtask turn each.
      if (batch[i] === Op.SWEEP) {
        writer.number(await sweepInSlices());
        clockNow = Date.now();
      } else if (batch[i] === Op.FLUSH) {
        await persistence?.flush();
        progressed();
        clockNow = Date.now();
        // true: the engine is closing; the worker is terminated next and must not leave its fd open.
        if (batch[i + 2] === true) persistence?.close();
        writer.boolean(true);
      } else {
        apply(batch[i], batch[i + 1], batch[i + 2]);
        if (persistence !== null) logApplied(batch[i], batch[i + 1], batch[i + 2]);
      }
    } catch (error) {
      writer.nil();
      errors ??= [];
      if (error instanceof OperationFailure) errors.push(n, error.code, error.message);
      else errors.push(n, ErrorCode.PROTOCOL, `op ${n}: ${(error as Error)?.message ?? String(error)}`);
    }
  }
  if (count > 0) chunkEnds.push(writer.length);
  const reply = finishReply(errors, chunkEnds);
  // Before the reply is released: under 'always' nobody hears of a change before it is on disk. A failed
  // write throws to piscina, so the engine restarts this shard from what the disk holds.
  persistence?.commit();
  batchRunning = false;
  spin.answered();
  return reply;
}

/** How an applied operation is logged: a read is logged as the touch it is (it refreshes the idle clock). */
const LOGGED_AS = new Map<unknown, number>([
  [Op.CREATE, Op.CREATE],
  [Op.APPEND, Op.APPEND],
  [Op.UPDATE, Op.UPDATE],
  [Op.TOUCH, Op.TOUCH],
  [Op.GET, Op.TOUCH],
  [Op.REMOVE, Op.REMOVE],
]);

function logApplied(op: unknown, id: unknown, arg: unknown): void {
  const logged = LOGGED_AS.get(op);
  if (logged === undefined) return;
  persistence!.record(clockNow, logged, id as string, logged === op ? arg : null);
}

/** Applies one operation of the log again during recovery, at the time it was first applied. */
function replayLogged(time: number, op: number, id: string | null, arg: unknown): boolean {
  clockNow = time;
  try {
    if (op === LOG_EXPIRED) for (const expiredId of arg as string[]) store.remove(expiredId);
    else if (LOGGED_AS.has(op)) apply(op, id, arg);
    else return false;
    return true;
  } catch {
    return false;
  } finally {
    writer.reset();
  }
}

/** Recovery runs before the first batch (the start-up ping) is answered; a failure fails the start. */
const ready: Promise<void> =
  persistence === null
    ? Promise.resolve()
    : persistence.recover().then((figures) => {
        recovery = figures;
      });
// Until the ping awaits it, a failed recovery must not count as an unhandled rejection.
ready.catch(() => undefined);
