/**
 * The entry of a shard worker whose sessions live in Redis. It speaks the in-memory worker's batch
 * protocol (`protocol/messages.ts` in, `protocol/reply.ts` out), so the main thread routes and batches
 * exactly as it does for memory shards: this worker decodes a batch, sends every operation at once as
 * pipelined script calls on its own connection, and writes the reply once they have all answered or
 * `storeTimeoutMs` has passed since the host sent the batch, whichever comes first. Once a batch is slow,
 * the host sends those queued behind it too (`slowStoreMs` in `main/shard.ts`): they wait on Redis side
 * by side, each against its own bound, and their replies leave in the order the batches came.
 *
 * Every shard sees the whole keyspace, so the operations that span all sessions (`list`, `size`) are
 * answered by shard 0 alone, and the other shards answer empty: the engine's merge stays correct. Shard 0
 * also owns the keyspace-notification subscription behind the `'expired'` events.
 */
import { isUtf8 } from 'node:buffer';
import { parentPort, workerData } from 'node:worker_threads';
import { move } from 'piscina';
import { decode, decodeForeign, encode, SESSION_V2_STRUCTURE, FORMAT_VERSION } from '../../protocol/codec.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { FAULT_KINDS, Op, OP_STRIDE, type FaultKind, type ShardConfig, type ShardEvent, type StoreBatchTask } from '../../protocol/messages.js';
import type { ClientCapabilities, SessionId } from '../../protocol/model.js';
import { checkMessageRecord } from '../../protocol/message-record.js';
import { MsgpackWriter } from '../../protocol/msgpack-writer.js';
import { RESULTS_PER_CHUNK, writeReplyTail } from '../../protocol/reply.js';
import { faultPending, injectFault } from '../fault.js';
import { OperationFailure } from '../session-store.js';
import { encodeCapabilities, encodeServers } from '../stored-session.js';
import { ExpiryListener } from './expiry-listener.js';
import { connect, isNoAnswer, noAnswer, RedisSessionStore, storeFailure, whenReady, type PlainFields, type SessionReply } from './redis-store.js';

const config = workerData as ShardConfig;
if (config.redis == null) throw new Error('the Redis shard worker needs ShardConfig.redis');
const timeoutMs = config.storeTimeoutMs ?? 5_000;
const store = new RedisSessionStore(
  connect(config.redis, timeoutMs),
  {
    maxSessionAgeMs: config.maxSessionAgeMs,
    maxMessagesPerSession: config.maxMessagesPerSession,
    maxMessageBytes: config.maxMessageBytes ?? Number.MAX_SAFE_INTEGER,
  },
  timeoutMs,
);
let seq = 0;
const listener =
  config.shard === 0
    ? new ExpiryListener(store.client, (ids) => {
        // size 0: a Redis shard holds nothing itself (see `Op.SIZE` for the real count).
        const event: ShardEvent = { type: 'expired', ids, seq: ++seq, size: 0 };
        parentPort?.postMessage(event);
      })
    : null;
// A worker that is terminated (engine closed, shard restarted) must not leave sockets behind.
process.once('exit', () => {
  listener?.close();
  store.close();
});

/** What one operation leaves to write into the reply, once every operation of the batch has answered. */
type Writes = (writer: MsgpackWriter) => void;

function fail(code: ErrorCode, message: string): never {
  throw new OperationFailure(code, message);
}

function expectId(id: unknown): SessionId {
  if (typeof id !== 'string' || id.length !== 26) fail(ErrorCode.INVALID_SESSION_ID, `id: not a session id: ${String(id).slice(0, 40)}`);
  return id;
}

function expectArray(value: unknown, length: number, field: string): unknown[] {
  if (!Array.isArray(value) || value.length !== length) fail(ErrorCode.INVALID_ARGUMENT, `${field}: malformed`);
  return value;
}

function optionalString(value: unknown, field: string): string | null {
  if (value !== null && typeof value !== 'string') fail(ErrorCode.INVALID_ARGUMENT, `${field}: not a string or null`);
  return value as string | null;
}

/** The message record an APPEND carries (see `protocol/message-record.ts`), checked, and its content's size. */
function messageRecordOf(arg: unknown): { record: Uint8Array; contentBytes: number } {
  const contentBytes = arg instanceof Uint8Array ? checkMessageRecord(arg) : -1;
  if (contentBytes < 0) fail(ErrorCode.INVALID_ARGUMENT, 'message: not a well-formed message record');
  return { record: arg as Uint8Array, contentBytes };
}

function corrupt(id: SessionId, what: string): never {
  fail(ErrorCode.CORRUPT_DATA, `store: session ${id} cannot be read: ${what}`);
}

/** A stored integer field as the scripts write it: decimal digits, nothing else. */
const INTEGER = /^(0|-?[1-9][0-9]{0,15})$/;

/** Checked values by their stored bytes, per field: sessions share a few capabilities and server lists. */
const checkedValues = { cap: new Map<string, Uint8Array>(), srv: new Map<string, Uint8Array>() };
const MAX_CHECKED_VALUES = 256;
const NIL = 0xc0;
const EMPTY_ARRAY = 0x90;

/**
 * The bytes to write for an encoded field, once they are known to be exactly one value of the right kind.
 * Written as this worker encodes the value again, not as stored: stored bytes may decode alone and still
 * corrupt the reply around them (a record definition over a shared structure id, a reference to a record
 * defined by another session's field), so none reach the reply (or the shared codec) unchecked.
 */
function encodedField(id: SessionId, name: 'cap' | 'srv', stored: Buffer): Uint8Array {
  // The common values: no capabilities, no servers.
  if (stored.length === 1 && stored[0] === (name === 'cap' ? NIL : EMPTY_ARRAY)) return stored;
  const checked = checkedValues[name];
  const key = stored.toString('latin1');
  const known = checked.get(key);
  if (known !== undefined) return known;
  let value: unknown;
  try {
    value = decodeForeign(stored);
  } catch (error) {
    corrupt(id, `its field '${name}' is not one well-formed value (${(error as Error).message}): 0x${stored.subarray(0, 16).toString('hex')}`);
  }
  const fits = name === 'cap' ? value === null || (typeof value === 'object' && !Array.isArray(value)) : Array.isArray(value) && value.every((one) => typeof one === 'string');
  if (!fits) corrupt(id, `its field '${name}' holds ${describe(value)}, not ${name === 'cap' ? 'capabilities (an object or null)' : 'server names (an array of strings)'}`);
  const encoded = encode(value);
  if (checked.size >= MAX_CHECKED_VALUES) checked.clear();
  checked.set(key, encoded);
  return encoded;
}

function describe(value: unknown): string {
  return Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
}

/**
 * Reads a session a script returned and says how to write it as a Session record, as the in-memory shard
 * writes its own. Checks everything first: bytes this version did not write fail their op with
 * `ERR_CORRUPT_DATA`, and never reach the reply, where they would break the other ops' results.
 */
function sessionWrites(id: SessionId, reply: SessionReply | null): Writes {
  if (reply === null) return (writer) => writer.nil();
  const [flat, log] = reply;
  const fields = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!.toString('latin1'), flat[i + 1]!);
  const number = (name: string): number => {
    const text = fields.get(name)?.toString('latin1');
    if (text === undefined) corrupt(id, `it has no field '${name}'`);
    if (!INTEGER.test(text) || !Number.isSafeInteger(Number(text))) corrupt(id, `its field '${name}' is not an integer: ${JSON.stringify(text.slice(0, 40))}`);
    return Number(text);
  };
  const version = number('v');
  if (version !== FORMAT_VERSION) fail(ErrorCode.PROTOCOL, `store: session ${id} is in format ${version}, this version reads ${FORMAT_VERSION}`);
  const bytes = (name: 'cap' | 'srv'): Uint8Array => encodedField(id, name, fields.get(name) ?? corrupt(id, `it has no field '${name}'`));
  const text = (name: string): string | null => {
    const value = fields.get(name);
    if (value === undefined) return null;
    if (!isUtf8(value)) corrupt(id, `its field '${name}' is not UTF-8 text`);
    return value.toString('utf8');
  };
  const createdAt = number('c');
  const lastAccessed = number('a');
  const updatedAt = number('u');
  const capabilities = bytes('cap');
  const servers = bytes('srv');
  const cwd = text('cwd');
  const title = text('title');
  const owner = text('owner');
  for (let i = 0; i < log.length; i++) {
    if (checkMessageRecord(log[i]!) < 0) corrupt(id, `message ${i} of its log is not a well-formed message record: 0x${log[i]!.subarray(0, 16).toString('hex')}`);
  }
  const optional = (writer: MsgpackWriter, value: string | null): void => {
    if (value === null) writer.nil();
    else writer.string(value);
  };
  return (writer) => {
    writer.recordHeader(SESSION_V2_STRUCTURE);
    writer.string(id);
    writer.number(createdAt);
    writer.number(lastAccessed);
    writer.arrayHeader(log.length);
    for (const record of log) writer.raw(record);
    writer.raw(capabilities);
    writer.raw(servers);
    optional(writer, cwd);
    optional(writer, title);
    writer.number(updatedAt);
    optional(writer, owner);
  };
}

/** Ids for `Op.LIST`: shard 0 scans Redis; `after`, the filters, the order and the limit as the memory store applies them. */
async function list(after: string | null, arg: unknown): Promise<SessionId[]> {
  if (config.shard !== 0) return [];
  const [limit, desc, cwd, owner] = expectArray(arg, 4, 'list') as [number, boolean, string | null, string | null];
  let ids = [...new Set(await store.scanIds())];
  if (after !== null) ids = ids.filter((id) => (desc ? id < after : id > after));
  if (cwd !== null || owner !== null) {
    const fields = await store.ownership(ids);
    ids = ids.filter((_, i) => (cwd === null || fields[i]![0] === cwd) && (owner === null || fields[i]![1] === owner));
  }
  ids.sort();
  if (desc) ids.reverse();
  if (limit >= 0 && ids.length > limit) ids.length = limit;
  return ids;
}

/** Starts one operation; resolves what it writes into the reply, or rejects its failure. */
async function start(op: unknown, id: unknown, arg: unknown, now: number): Promise<Writes> {
  switch (op) {
    case Op.GET: {
      const sessionId = expectId(id);
      return sessionWrites(sessionId, await store.get(sessionId, now, typeof arg === 'number' ? arg : -1));
    }
    case Op.APPEND: {
      const { record, contentBytes } = messageRecordOf(arg);
      const length = await store.append(expectId(id), now, record, contentBytes);
      return (writer) => writer.number(length);
    }
    case Op.CREATE: {
      const [capabilities, servers, cwd, title, owner] = expectArray(arg, 5, 'init');
      await store.create(
        expectId(id),
        now,
        encodeCapabilities(capabilities as ClientCapabilities | null),
        encodeServers(servers as string[]),
        { cwd: optionalString(cwd, 'cwd'), title: optionalString(title, 'title'), owner: optionalString(owner, 'owner') },
      );
      return (writer) => writer.boolean(true);
    }
    case Op.UPDATE: {
      const [setCapabilities, capabilities, setServers, servers, setCwd, cwd, setTitle, title, setOwner, owner] = expectArray(arg, 10, 'update');
      const fields: PlainFields = {};
      if (setCwd === true) fields.cwd = optionalString(cwd, 'cwd');
      if (setTitle === true) fields.title = optionalString(title, 'title');
      if (setOwner === true) fields.owner = optionalString(owner, 'owner');
      await store.update(
        expectId(id),
        now,
        setCapabilities === true ? encodeCapabilities(capabilities as ClientCapabilities | null) : null,
        setServers === true ? encodeServers(servers as string[]) : null,
        fields,
      );
      return (writer) => writer.boolean(true);
    }
    case Op.TOUCH: {
      const exists = await store.touch(expectId(id), now);
      return (writer) => writer.boolean(exists);
    }
    case Op.REMOVE: {
      const sessionId = expectId(id);
      const removed = await store.remove(sessionId);
      try {
        return sessionWrites(sessionId, removed);
      } catch (error) {
        // The script has deleted it: say so, since its caller cannot be handed what it held.
        if (error instanceof OperationFailure && error.code === ErrorCode.CORRUPT_DATA) fail(error.code, `${error.message} (it is removed)`);
        throw error;
      }
    }
    case Op.LIST: {
      const ids = await list(id === null ? null : expectId(id), arg);
      return (writer) => {
        writer.arrayHeader(ids.length);
        for (const one of ids) writer.string(one);
      };
    }
    case Op.SIZE: {
      const size = config.shard === 0 ? (await store.scanIds()).length : 0;
      return (writer) => writer.number(size);
    }
    case Op.SWEEP:
      // Redis expires the sessions itself.
      return (writer) => writer.number(0);
    case Op.STATS:
      // Per shard connection, the sessions are Redis's: only the engine's own counters mean something here.
      return (writer) => {
        writer.arrayHeader(2);
        writer.number(0);
        writer.number(0);
      };
    case Op.PING:
      await whenReady(store.client, timeoutMs);
      // Half the bound at most: the ping as a whole must answer within storeTimeoutMs.
      await listener?.subscribed(timeoutMs / 2);
      return (writer) => writer.number(config.shard);
    case Op.RECOVERY:
      return (writer) => {
        writer.arrayHeader(5);
        for (let i = 0; i < 4; i++) writer.number(0);
        writer.arrayHeader(0);
      };
    case Op.FLUSH:
      // Redis keeps its own durability.
      return (writer) => writer.boolean(true);
    case Op.FAULT:
      if (!config.faultInjection) fail(ErrorCode.INVALID_ARGUMENT, 'faultInjection: not enabled for this engine');
      if (!FAULT_KINDS.includes(arg as FaultKind)) fail(ErrorCode.INVALID_ARGUMENT, `kind: unknown fault ${String(arg)}`);
      injectFault(arg as FaultKind, config.shard);
      return (writer) => writer.boolean(true);
    default:
      fail(ErrorCode.PROTOCOL, `op: unknown operation ${String(op)}`);
  }
}

const writer = new MsgpackWriter();

/** Ends the reply as `protocol/reply.ts` lays it out. */
function finishReply(errors: (number | string)[] | null, chunkEnds: number[]): ReturnType<typeof move> {
  // Expiries arrive as keyspace notifications, never with a batch; the sessions are Redis's, not counted here.
  writeReplyTail(writer, { errors, expired: null, seq: ++seq, size: 0, chunkEnds });
  return move(writer.finish());
}

type Outcome = { writes: Writes } | { failure: OperationFailure };

/** One for all: a frozen Redis leaves thousands of calls unanswered at once, and only code and message go out. */
const NO_ANSWER: Outcome = { failure: noAnswer(timeoutMs) };

/** The latest batch's reply: the host pairs replies with batches in the order it sent them. */
let latestReply: Promise<unknown> = Promise.resolve();

/** Applies one encoded batch; see `protocol/messages.ts` for its shape. */
export default function handleBatch(task: unknown): Promise<ReturnType<typeof move>> {
  if (faultPending()) return new Promise(() => {});
  const sent = task as Partial<StoreBatchTask> | null;
  const reply =
    sent?.batch instanceof Uint8Array && Number.isFinite(sent.sentAt) ? applyBatch(sent.batch, sent.sentAt!, latestReply) : applyBatch(task, Date.now(), latestReply);
  latestReply = reply.catch(() => undefined);
  return reply;
}

/** Sends the operations of `task` at once; writes their reply once they are settled and `previous` has left. */
async function applyBatch(task: unknown, sentAt: number, previous: Promise<unknown>): Promise<ReturnType<typeof move>> {
  let batch: unknown;
  try {
    if (!(task instanceof Uint8Array)) throw new TypeError('a batch must be bytes');
    batch = decode(task);
    if (!Array.isArray(batch) || batch.length % OP_STRIDE !== 0) throw new TypeError('a batch must be a flat array of [op, id, arg] triples');
  } catch (error) {
    await previous;
    writer.reset();
    return finishReply([-1, ErrorCode.PROTOCOL, `batch: undecodable (${(error as Error).message})`], []);
  }
  const count = batch.length / OP_STRIDE;
  const outcomes = new Array<Outcome | undefined>(count);
  const now = Date.now();
  const started: Promise<void>[] = [];
  for (let n = 0, i = 0; n < count; n++, i += OP_STRIDE) {
    // Issued in batch order on one connection: the operations on one session apply in call order.
    started.push(
      start(batch[i], batch[i + 1], batch[i + 2], now).then(
        (writes) => void (outcomes[n] = { writes }),
        (error: unknown) => {
          if (!isNoAnswer(error)) return void (outcomes[n] = { failure: storeFailure(error, timeoutMs, batch[i + 1]) });
          store.breaker?.trip();
          outcomes[n] = NO_ANSWER;
        },
      ),
    );
  }
  // Bounded from when the host sent it, not from now: this worker may read it late, behind earlier batches.
  // Clamped to the bound, should the wall clock have stepped since.
  const waitMs = Math.min(timeoutMs, Math.max(0, sentAt + timeoutMs - Date.now()));
  const issuedAt = performance.now();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(started), new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
  clearTimeout(timer);
  // Earlier batches were sent earlier: their own bound ends no later than this one's.
  await previous;
  writer.reset();
  const chunkEnds: number[] = [];
  let errors: (number | string)[] | null = null;
  for (let n = 0; n < count; n++) {
    if (n % RESULTS_PER_CHUNK === 0) {
      if (n > 0) chunkEnds.push(writer.length);
      writer.arrayHeader(Math.min(RESULTS_PER_CHUNK, count - n));
    }
    let outcome = outcomes[n];
    if (outcome === undefined) {
      // Not when this worker read the batch too late to give Redis a fair chance (its own backlog).
      if (performance.now() - issuedAt >= timeoutMs / 2) store.breaker?.trip();
      outcome = NO_ANSWER;
    }
    if ('writes' in outcome) {
      outcome.writes(writer);
      continue;
    }
    writer.nil();
    errors ??= [];
    errors.push(n, outcome.failure.code, outcome.failure.message);
  }
  if (count > 0) chunkEnds.push(writer.length);
  return finishReply(errors, chunkEnds);
}
