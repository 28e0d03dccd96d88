/**
 * The Redis store as a shard backend. Every operation of a batch is sent at once as pipelined script calls
 * on this shard's own connection (`'pipelined'`), and the reply is written once they have all answered or
 * `storeTimeoutMs` has passed, whichever comes first.
 *
 * Every shard sees the whole keyspace, so the operations that span all sessions (`list`, `size`) are
 * answered by shard 0 alone, and the other shards answer empty: the engine's merge stays correct. Shard 0
 * also owns the keyspace-notification subscription behind the `'expired'` events.
 */
import { isUtf8 } from 'node:buffer';
import { decodeForeign, encode, FORMAT_VERSION, SESSION_V2_STRUCTURE } from '../../protocol/codec.js';
import { encodeCapabilities, encodeServers } from '../../protocol/encoded-fields.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import type { ShardConfig, ShardEvent } from '../../protocol/messages.js';
import type { SessionId } from '../../protocol/model.js';
import type { MsgpackWriter } from '../../protocol/msgpack-writer.js';
import { fail, OperationFailure } from '../../protocol/operation-failure.js';
import type { ListArgs, SessionWrite, ShardFigures } from '../../protocol/ops.js';
import type { OpHandlers, ShardBackend } from '../backend.js';
import type { ReplySequence } from '../batch-runner.js';
import { injectFault } from '../fault.js';
import { ExpiryListener } from './expiry-listener.js';
import { checkMessageRecord } from '../../protocol/message-record.js';
import { connect, isNoAnswer, noAnswer, RedisSessionStore, storeFailure, whenReady, type PlainFields, type SessionReply } from './redis-store.js';

/** A Redis shard holds no sessions itself: its own figures are zeros (the engine adds its counters). */
const NO_FIGURES: ShardFigures = Object.freeze({
  sessions: 0,
  messages: 0,
  sessionBytes: 0,
  heapUsedBytes: 0,
  lastSweepSliceMs: 0,
  logBytes: 0,
  logBytesFree: 0,
});

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
  const fits =
    name === 'cap'
      ? value === null || (typeof value === 'object' && !Array.isArray(value))
      : Array.isArray(value) && value.every((one) => typeof one === 'string');
  if (!fits)
    corrupt(
      id,
      `its field '${name}' holds ${describe(value)}, not ${name === 'cap' ? 'capabilities (an object or null)' : 'server names (an array of strings)'}`,
    );
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
function sessionWrite(id: SessionId, reply: SessionReply | null): SessionWrite | null {
  if (reply === null) return null;
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
    if (checkMessageRecord(log[i]!) < 0)
      corrupt(id, `message ${i} of its log is not a well-formed message record: 0x${log[i]!.subarray(0, 16).toString('hex')}`);
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

/** Fields counted with the messages against maxSessionBytes (as `lua-scripts.ts` counts them). */
const COUNTED_FIELDS = new Set(['cap', 'srv', 'cwd', 'title', 'owner']);

/**
 * A removed session bounded like a read, as the memory store bounds it: whole when within `maxBytes`, else
 * only its newest messages that fit with its fields (it is removed whatever its size).
 */
function newestWithin(reply: SessionReply, maxBytes: number): SessionReply {
  const [flat, log] = reply;
  let bytes = 0;
  for (let i = 0; i + 1 < flat.length; i += 2) if (COUNTED_FIELDS.has(flat[i]!.toString('latin1'))) bytes += flat[i + 1]!.length;
  let total = bytes;
  for (const record of log) total += record.length;
  if (total <= maxBytes) return reply;
  let first = log.length;
  while (first > 0 && bytes + log[first - 1]!.length <= maxBytes) bytes += log[--first]!.length;
  return [flat, log.slice(first)];
}

export class RedisBackend implements ShardBackend {
  readonly mode = 'pipelined';
  readonly size = 0;
  readonly ready = Promise.resolve();
  readonly deadlineMs: number;
  readonly store: RedisSessionStore;
  private readonly listener: ExpiryListener | null;
  /** One failure for all: a frozen Redis leaves thousands of calls unanswered at once. */
  private readonly noAnswer: OperationFailure;
  /** The time of the batch in progress (scripts take it as an argument: Redis's own clock is not used). */
  private now = Date.now();

  constructor(
    private readonly config: ShardConfig,
    sequence: ReplySequence,
    post: (event: ShardEvent) => void,
  ) {
    if (config.redis == null) throw new Error('the Redis shard worker needs ShardConfig.redis');
    this.deadlineMs = config.storeTimeoutMs ?? 5_000;
    this.store = new RedisSessionStore(
      connect(config.redis, this.deadlineMs),
      {
        maxSessionAgeMs: config.maxSessionAgeMs,
        maxMessagesPerSession: config.maxMessagesPerSession,
        maxMessageBytes: config.maxMessageBytes ?? Number.MAX_SAFE_INTEGER,
        maxSessionBytes: config.maxBytesPerSession ?? Number.MAX_SAFE_INTEGER,
      },
      this.deadlineMs,
    );
    this.noAnswer = noAnswer(this.deadlineMs);
    this.listener =
      config.shard === 0
        ? new ExpiryListener(this.store.client, (ids) => {
            // size 0: a Redis shard holds nothing itself (see `size` for the real count).
            post({ type: 'expired', ids, seq: sequence.next(), size: 0 });
          })
        : null;
  }

  /** Closes the connections (the worker is exiting). */
  close(): void {
    this.listener?.close();
    this.store.close();
  }

  readonly handlers: OpHandlers = {
    get: async (id, a) => sessionWrite(id, await this.store.get(id, this.now, a.lastMessages)),
    append: async (id, a) => this.store.append(id, this.now, a.record, a.contentBytes),
    create: async (id, a) => {
      await this.store.create(id, this.now, encodeCapabilities(a.capabilities), encodeServers(a.servers), { cwd: a.cwd, title: a.title, owner: a.owner });
      return true as const;
    },
    update: async (id, a) => {
      const fields: PlainFields = {};
      if (a.cwd !== undefined) fields.cwd = a.cwd;
      if (a.title !== undefined) fields.title = a.title;
      if (a.owner !== undefined) fields.owner = a.owner;
      await this.store.update(
        id,
        this.now,
        a.capabilities === undefined ? null : encodeCapabilities(a.capabilities),
        a.servers === undefined ? null : encodeServers(a.servers),
        fields,
      );
      return true as const;
    },
    touch: async (id) => this.store.touch(id, this.now),
    appendMany: () => fail(ErrorCode.INVALID_ARGUMENT, 'appendMessages: not yet supported by this store'),
    pop: () => fail(ErrorCode.INVALID_ARGUMENT, 'popMessage: not yet supported by this store'),
    splice: () => fail(ErrorCode.INVALID_ARGUMENT, 'spliceMessages: not yet supported by this store'),
    fork: () => fail(ErrorCode.INVALID_ARGUMENT, 'fork: not yet supported by this store'),
    remove: async (id) => {
      const removed = await this.store.remove(id);
      try {
        return sessionWrite(id, removed === null ? null : newestWithin(removed, this.config.maxBytesPerSession ?? Infinity));
      } catch (error) {
        // The script has deleted it: say so, since its caller cannot be handed what it held.
        if (error instanceof OperationFailure && error.code === ErrorCode.CORRUPT_DATA) fail(error.code, `${error.message} (it is removed)`);
        throw error;
      }
    },
    list: async (after, a) => this.list(after, a),
    size: async () => (this.config.shard === 0 ? (await this.store.scanIds()).length : 0),
    // Redis expires the sessions itself.
    sweep: () => 0,
    stats: () => NO_FIGURES,
    ping: async () => {
      await whenReady(this.store.client, this.deadlineMs);
      // Half the bound at most: the ping as a whole must answer within storeTimeoutMs.
      await this.listener?.subscribed(this.deadlineMs / 2);
      return this.config.shard;
    },
    recovery: () => ({ sessions: 0, expired: 0, skippedRecords: 0, ms: 0, warnings: [] }),
    // Redis keeps its own durability.
    flush: () => true,
    fault: (_id, kind) => {
      if (!this.config.faultInjection) fail(ErrorCode.INVALID_ARGUMENT, 'faultInjection: not enabled for this engine');
      injectFault(kind, this.config.shard);
      return true as const;
    },
  };

  /** A Redis or connection error, as the operation's failure in the engine's words. */
  failureOf(error: unknown, wireId: unknown): OperationFailure {
    if (!isNoAnswer(error)) return storeFailure(error, this.deadlineMs, wireId);
    this.store.breaker?.trip();
    return this.noAnswer;
  }

  /** Trips the breaker only when Redis had a fair chance to answer (not a batch this worker read late). */
  unanswered(fairChance: boolean): OperationFailure {
    if (fairChance) this.store.breaker?.trip();
    return this.noAnswer;
  }

  batchStarted(): void {}

  chunkStarted(): void {
    this.now = Date.now();
  }

  applied(): void {}

  /** Expiries arrive as keyspace notifications, never with a batch. */
  drainExpired(): null {
    return null;
  }

  batchEnded(): void {}

  /** Ids for `list`: shard 0 scans Redis; `after`, the filters, the order and the limit as the memory store applies them. */
  private async list(after: SessionId | null, a: ListArgs): Promise<SessionId[]> {
    if (this.config.shard !== 0) return [];
    let ids = [...new Set(await this.store.scanIds())];
    if (after !== null) ids = ids.filter((id) => (a.desc ? id < after : id > after));
    if (a.cwd !== null || a.owner !== null) {
      const fields = await this.store.ownership(ids);
      ids = ids.filter((_, i) => (a.cwd === null || fields[i]![0] === a.cwd) && (a.owner === null || fields[i]![1] === a.owner));
    }
    ids.sort();
    if (a.desc) ids.reverse();
    if (a.limit >= 0 && ids.length > a.limit) ids.length = a.limit;
    return ids;
  }
}
