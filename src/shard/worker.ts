/**
 * The shard worker's entry: piscina calls the default export with one encoded batch at a time.
 * It decodes the batch, applies its operations in order to this shard's store, and answers with one
 * encoded reply. It never throws to piscina: every failure becomes a `{ code, message }` in the reply,
 * so a rejected task on the main side can only mean that the worker itself died.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { move } from 'piscina';
import { decode, encode } from '../protocol/codec.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { FAULT_KINDS, Op, OP_STRIDE, type BatchReply, type FaultKind, type ShardConfig, type ShardEvent } from '../protocol/messages.js';
import { ROLES, type ClientCapabilities, type Role } from '../protocol/model.js';
import { OperationFailure, SessionStore } from './session-store.js';

/** The longest a sweep runs before it lets batches in (the target is under 10 ms per slice). */
const SWEEP_SLICE_MS = 4;

const config = workerData as ShardConfig;
const store = new SessionStore({
  maxSessionAgeMs: config.maxSessionAgeMs,
  maxMessagesPerSession: config.maxMessagesPerSession,
});
let seq = 0;
/** Sweeps run one after another: a timer pass and an explicit `sweep()` must not share a cursor. */
let sweepChain: Promise<number> = Promise.resolve(0);

function sweepInSlices(): Promise<number> {
  sweepChain = sweepChain.then(async () => {
    store.restartSweep();
    while (!store.sweepStep(SWEEP_SLICE_MS, performance.now.bind(performance))) {
      postExpired();
      await yieldToEventLoop();
    }
    return store.takeSweepRemoved();
  });
  return sweepChain;
}

function postExpired(): void {
  const ids = store.drainExpired();
  if (ids === null) return;
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

function expectCapabilities(value: unknown): ClientCapabilities | null {
  if (value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) fail(ErrorCode.INVALID_ARGUMENT, 'clientCapabilities: not an object');
  return value as ClientCapabilities;
}

function expectServers(value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((name) => typeof name === 'string')) {
    fail(ErrorCode.INVALID_ARGUMENT, 'mcpServers: not an array of strings');
  }
  return value as string[];
}

function expectInt(value: unknown, field: string): number {
  if (!Number.isSafeInteger(value)) fail(ErrorCode.INVALID_ARGUMENT, `${field}: not an integer`);
  return value as number;
}

function expectArray(value: unknown, length: number, field: string): unknown[] {
  if (!Array.isArray(value) || value.length !== length) fail(ErrorCode.INVALID_ARGUMENT, `${field}: malformed`);
  return value;
}

function injectFault(kind: FaultKind): void {
  // Each fault strikes after the reply has been posted, outside any task, as a real failure would.
  setTimeout(() => {
    switch (kind) {
      case 'throw':
        throw new Error(`injected fault 'throw' in shard ${config.shard}`);
      case 'exit':
        process.exit(1);
        break;
      case 'oom': {
        const hoard: number[][] = [];
        for (;;) hoard.push(new Array<number>(1 << 20).fill(hoard.length + 0.5));
      }
      case 'hang':
        for (;;) {
          // a busy loop: the event loop never turns again
        }
    }
  }, 1);
}

/** Applies one synchronous operation (a sweep is handled by the batch loop: it yields between slices). */
function apply(op: unknown, id: unknown, arg: unknown): unknown {
  switch (op) {
    case Op.GET:
      return store.get(expectId(id), expectInt(arg, 'lastMessages')) ?? null;
    case Op.APPEND: {
      const message = arg as { role?: unknown; content?: unknown; timestamp?: unknown } | null;
      if (message === null || typeof message !== 'object') fail(ErrorCode.INVALID_ARGUMENT, 'message: not an object');
      if (!ROLES.includes(message.role as Role)) fail(ErrorCode.INVALID_ARGUMENT, 'role: unknown');
      if (typeof message.content !== 'string') fail(ErrorCode.INVALID_ARGUMENT, 'content: not a string');
      if (typeof message.timestamp !== 'number') fail(ErrorCode.INVALID_ARGUMENT, 'timestamp: not a number');
      return store.append(expectId(id), message.role as Role, message.content, message.timestamp);
    }
    case Op.CREATE: {
      const [capabilities, servers] = expectArray(arg, 2, 'init');
      store.create(expectId(id), expectCapabilities(capabilities), expectServers(servers));
      return true;
    }
    case Op.UPDATE: {
      const [setCapabilities, capabilities, setServers, servers] = expectArray(arg, 4, 'update');
      store.update(
        expectId(id),
        setCapabilities === true,
        setCapabilities === true ? expectCapabilities(capabilities) : null,
        setServers === true,
        setServers === true ? expectServers(servers) : [],
      );
      return true;
    }
    case Op.TOUCH:
      return store.touch(expectId(id));
    case Op.REMOVE:
      return store.remove(expectId(id)) ?? null;
    case Op.LIST:
      return store.list(id === null ? null : expectId(id), expectInt(arg, 'limit'));
    case Op.SIZE:
      return store.size;
    case Op.STATS:
      return [store.size, store.messageCount];
    case Op.PING:
      return config.shard;
    case Op.FAULT:
      if (!config.faultInjection) fail(ErrorCode.INVALID_ARGUMENT, 'faultInjection: not enabled for this engine');
      if (!FAULT_KINDS.includes(arg as FaultKind)) fail(ErrorCode.INVALID_ARGUMENT, `kind: unknown fault ${String(arg)}`);
      injectFault(arg as FaultKind);
      return true;
    default:
      return fail(ErrorCode.PROTOCOL, `op: unknown operation ${String(op)}`);
  }
}

function reply(results: unknown[], errors: (number | string)[] | null): ReturnType<typeof move> {
  const message: BatchReply = [results, errors, store.drainExpired(), ++seq, store.size];
  return move(encode(message));
}

/** Applies one encoded batch; see `protocol/messages.ts` for its shape. */
export default async function handleBatch(task: unknown): Promise<ReturnType<typeof move>> {
  let batch: unknown;
  try {
    if (!(task instanceof Uint8Array)) throw new TypeError('a batch must be bytes');
    batch = decode(task);
    if (!Array.isArray(batch) || batch.length % OP_STRIDE !== 0) throw new TypeError('a batch must be a flat array of [op, id, arg] triples');
  } catch (error) {
    // -1: the whole batch is refused; the shard and its sessions are untouched.
    return reply([], [-1, ErrorCode.PROTOCOL, `batch: undecodable (${(error as Error).message})`]);
  }
  const count = batch.length / OP_STRIDE;
  const results = new Array<unknown>(count);
  let errors: (number | string)[] | null = null;
  for (let n = 0, i = 0; n < count; n++, i += OP_STRIDE) {
    try {
      // Only a sweep is asynchronous; awaiting every op would cost a microtask turn each.
      results[n] = batch[i] === Op.SWEEP ? await sweepInSlices() : apply(batch[i], batch[i + 1], batch[i + 2]);
    } catch (error) {
      results[n] = null;
      errors ??= [];
      if (error instanceof OperationFailure) errors.push(n, error.code, error.message);
      else errors.push(n, ErrorCode.PROTOCOL, `op ${n}: ${(error as Error)?.message ?? String(error)}`);
    }
  }
  return reply(results, errors);
}
