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
import { decodeForeign, encode, FORMAT_VERSION, SESSION_V3_STRUCTURE } from '../../protocol/codec.js';
import { encodeCapabilities, encodeServers } from '../../protocol/encoded-fields.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import type { ShardConfig, ShardEvent } from '../../protocol/messages.js';
import type { SessionId } from '../../protocol/model.js';
import type { MsgpackWriter } from '../../protocol/msgpack-writer.js';
import { fail, OperationFailure } from '../../protocol/operation-failure.js';
import { type ListArgs, type MessagesJsonWrite, messagesJsonWrite, type RecordsWrite, type SessionWrite, type ShardFigures } from '../../protocol/ops.js';
import type { OpHandlers, ShardBackend } from '../backend.js';
import type { ReplySequence } from '../batch-runner.js';
import { injectFault } from '../fault.js';
import { ExpiryListener } from './expiry-listener.js';
import { KeySpace } from './keys.js';
import { checkMessageRecord, isLegacyRecord, MessagesJsonWriter, messageRecordTimestampAt } from '../../protocol/message-record.js';
import { writeBin } from './bin.js';
import {
  connect,
  FORK_FIELDS,
  isNoAnswer,
  noAnswer,
  RedisSessionStore,
  storeFailure,
  whenReady,
  type PlainFields,
  type RecordToWrite,
  type SessionReply,
} from './redis-store.js';

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
  const [flat, log, length] = reply;
  const fields = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!.toString('latin1'), flat[i + 1]!);
  const number = (name: string): number => {
    const text = fields.get(name)?.toString('latin1');
    if (text === undefined) corrupt(id, `it has no field '${name}'`);
    if (!INTEGER.test(text) || !Number.isSafeInteger(Number(text))) corrupt(id, `its field '${name}' is not an integer: ${JSON.stringify(text.slice(0, 40))}`);
    return Number(text);
  };
  const version = number('v');
  // Sessions of format 2 differ only in their records (upgraded as they are read) and have no metadata.
  if (version !== FORMAT_VERSION && version !== 2)
    fail(ErrorCode.PROTOCOL, `store: session ${id} is in format ${version}, this version reads 2 and ${FORMAT_VERSION}`);
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
  const metadata = fields.get('meta') ?? null;
  if (metadata !== null) checkMetadata(id, metadata);
  for (let i = 0; i < log.length; i++) {
    if (checkMessageRecord(log[i]!) < 0)
      corrupt(id, `message ${i} of its log is not a well-formed message record: 0x${log[i]!.subarray(0, 16).toString('hex')}`);
  }
  const optional = (writer: MsgpackWriter, value: string | null): void => {
    if (value === null) writer.nil();
    else writer.string(value);
  };
  return (writer) => {
    writer.recordHeader(SESSION_V3_STRUCTURE);
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
    if (metadata === null) writer.nil();
    else writeBin(writer, metadata);
    writer.number(length);
  };
}

/** Where `getJson` writes a read's JSON text (copied out for the reply). */
const messagesJson = new MessagesJsonWriter(0);

/**
 * A read's messages as JSON text for the reply. Checks the records first, as `sessionWrite` does, and then
 * the text as a whole: the host hands it on without parsing it, so bytes this version did not write must
 * fail here with `ERR_CORRUPT_DATA`, not reach a model's request as broken JSON.
 */
function messagesJsonOf(id: SessionId, reply: SessionReply | null, maxBytes: number): MessagesJsonWrite | null {
  if (reply === null) return null;
  const [, log, length] = reply;
  messagesJson.begin(maxBytes);
  for (let i = 0; i < log.length; i++) {
    const record = log[i]!;
    if (checkMessageRecord(record) < 0 || isLegacyRecord(record))
      corrupt(id, `message ${i} of its log is not a well-formed message record: 0x${record.subarray(0, 16).toString('hex')}`);
    try {
      messagesJson.add(record, 0);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      fail(
        ErrorCode.LIMIT_EXCEEDED,
        `maxSessionBytes: the JSON text of the ${log.length} messages read from session ${id} passes what one read returns (${maxBytes} bytes); read a smaller window of its messages`,
      );
    }
  }
  // A copy: a pipelined reply is written after later operations have reused the writer.
  const text = Buffer.from(messagesJson.finish());
  messagesJson.shrink();
  try {
    JSON.parse(text.toString('utf8'));
  } catch (error) {
    corrupt(id, `its messages are not JSON text (${(error as Error).message})`);
  }
  return messagesJsonWrite(text, length);
}

/** Checks stored session metadata as the host would parse it: the JSON text of an object. */
function checkMetadata(id: SessionId, stored: Buffer): void {
  let value: unknown;
  try {
    if (!isUtf8(stored)) throw new Error('not UTF-8');
    value = JSON.parse(stored.toString('utf8'));
  } catch (error) {
    corrupt(id, `its field 'meta' is not JSON text (${(error as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) corrupt(id, `its field 'meta' holds ${describe(value)}, not an object`);
}

/** Records a script removed, checked, as a reply writes them (one value, or an array of them). */
function removedRecords(id: SessionId, records: Buffer[], asArray: boolean): RecordsWrite {
  for (const record of records) {
    if (checkMessageRecord(record) < 0)
      corrupt(id, `a message removed from its log is not a well-formed message record (it is removed): 0x${record.subarray(0, 16).toString('hex')}`);
  }
  return (writer) => {
    if (asArray) writer.arrayHeader(records.length);
    for (const record of records) writer.raw(record);
  };
}

/**
 * Records from the host, checked again as the contract asks, with what the scripts need to know of each.
 * Each is a view of the batch's bytes, sent as `append` sends its record: the batch was transferred to
 * this worker, which never writes into it.
 */
function recordsToWrite(records: Uint8Array[], stamped: boolean[] | null): RecordToWrite[] {
  return records.map((record, i) => {
    const contentBytes = checkMessageRecord(record);
    if (contentBytes < 0 || isLegacyRecord(record)) fail(ErrorCode.INVALID_ARGUMENT, `messages[${i}]: not a well-formed message record`);
    return { record, contentBytes, timestampAt: stamped === null || stamped[i] ? -1 : messageRecordTimestampAt(record, 0) };
  });
}

/** Fields counted with the messages against maxSessionBytes (as `lua-scripts.ts` counts them). */
const COUNTED_FIELDS = new Set(FORK_FIELDS);

/**
 * A removed session bounded like a read, as the memory store bounds it: whole when within `maxBytes`, else
 * only its newest messages that fit with its fields (it is removed whatever its size).
 */
function newestWithin(reply: SessionReply, maxBytes: number): SessionReply {
  const [flat, log, length] = reply;
  let bytes = 0;
  for (let i = 0; i + 1 < flat.length; i += 2) if (COUNTED_FIELDS.has(flat[i]!.toString('latin1'))) bytes += flat[i + 1]!.length;
  let total = bytes;
  for (const record of log) total += record.length;
  if (total <= maxBytes) return reply;
  let first = log.length;
  while (first > 0 && bytes + log[first - 1]!.length <= maxBytes) bytes += log[--first]!.length;
  return [flat, log.slice(first), length];
}

/**
 * Whether this shard's store is up, posted to the host on every change (`StoreStateEvent`): down while its
 * connection is closed or while the breaker holds Redis for frozen, up once both are over.
 */
class StoreState {
  private connected = true;
  private answering = true;
  private up = true;
  private closed = false;

  constructor(
    store: RedisSessionStore,
    private readonly timeoutMs: number,
    private readonly post: (event: ShardEvent) => void,
  ) {
    // Up at first: the worker serves only once its start-up ping reached Redis.
    store.client.on('close', () => {
      this.connected = false;
      this.changed('connection');
    });
    store.client.on('ready', () => {
      this.connected = true;
      this.changed('connection');
    });
    if (store.breaker !== null) {
      store.breaker.onChange = (down) => {
        this.answering = !down;
        this.changed('no answer');
      };
    }
  }

  close(): void {
    this.closed = true;
  }

  private changed(reason: 'connection' | 'no answer'): void {
    const up = this.connected && this.answering;
    if (up === this.up || this.closed) return;
    this.up = up;
    if (up) this.post({ type: 'store', up: true });
    else {
      const message =
        reason === 'connection'
          ? 'the connection to Redis closed; the engine reconnects by itself'
          : `Redis has not answered within storeTimeoutMs (${this.timeoutMs} ms); the engine probes it until it answers`;
      this.post({ type: 'store', up: false, reason, message });
    }
  }
}

export class RedisBackend implements ShardBackend {
  readonly mode = 'pipelined';
  readonly size = 0;
  readonly ready = Promise.resolve();
  readonly deadlineMs: number;
  readonly store: RedisSessionStore;
  private readonly listener: ExpiryListener | null;
  private readonly state: StoreState;
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
      new KeySpace(config.redis.keyPrefix),
    );
    this.noAnswer = noAnswer(this.deadlineMs);
    this.state = new StoreState(this.store, this.deadlineMs, post);
    this.listener =
      config.shard === 0
        ? new ExpiryListener(
            this.store.client,
            (ids) => {
              // size 0: a Redis shard holds nothing itself (see `size` for the real count).
              post({ type: 'expired', ids, seq: sequence.next(), size: 0 });
            },
            {
              keys: this.store.keys,
              configure: config.redis.configureKeyspaceEvents,
              // The host emits it: a worker's own process warnings reach neither the host's listeners nor its logger.
              warn: (code, message) => post({ type: 'warning', code, message }),
            },
          )
        : null;
  }

  /** Closes the connections (the worker is exiting). */
  close(): void {
    this.state.close();
    this.listener?.close();
    this.store.close();
  }

  readonly handlers: OpHandlers = {
    get: async (id, a) => sessionWrite(id, await this.store.get(id, this.now, a)),
    getJson: async (id, a) => messagesJsonOf(id, await this.store.get(id, this.now, a), this.config.maxBytesPerSession ?? Number.MAX_SAFE_INTEGER),
    append: async (id, a) => this.store.append(id, this.now, a.record, a.contentBytes),
    create: async (id, a) => {
      await this.store.create(id, this.now, encodeCapabilities(a.capabilities), encodeServers(a.servers), {
        cwd: a.cwd,
        title: a.title,
        owner: a.owner,
        meta: a.metadata,
      });
      return true as const;
    },
    update: async (id, a) => {
      const fields: PlainFields = {};
      if (a.cwd !== undefined) fields.cwd = a.cwd;
      if (a.title !== undefined) fields.title = a.title;
      if (a.owner !== undefined) fields.owner = a.owner;
      if (a.metadata !== undefined) fields.meta = a.metadata;
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
    appendMany: async (id, a) => this.store.appendMany(id, this.now, recordsToWrite(a.records, a.stamped), a.ifLength),
    pop: async (id, a) => {
      const popped = await this.store.pop(id, this.now, a.ifLength);
      return popped === null ? null : removedRecords(id, [popped], false);
    },
    splice: async (id, a) =>
      removedRecords(id, await this.store.splice(id, this.now, a.start, a.deleteCount, recordsToWrite(a.records, null), a.ifLength), true),
    fork: async (id, a) => {
      const source = await this.store.forkRead(id, this.now, a.messages);
      if (source === null) fail(ErrorCode.SESSION_NOT_FOUND, `id: no session ${id} (unknown or expired)`);
      const [stored, records] = source;
      for (let i = 0; i < records.length; i++) {
        if (checkMessageRecord(records[i]!) < 0)
          corrupt(id, `message ${i} of its log is not a well-formed message record: 0x${records[i]!.subarray(0, 16).toString('hex')}`);
      }
      const fields = new Map<string, Uint8Array>();
      for (const field of FORK_FIELDS) {
        const value = stored.get(field);
        if (value !== undefined) fields.set(field, value);
      }
      if (a.setTitle) {
        if (a.title === null) fields.delete('title');
        else fields.set('title', Buffer.from(a.title, 'utf8'));
      }
      if (a.setMetadata) {
        if (a.metadata === null) fields.delete('meta');
        else fields.set('meta', a.metadata);
      }
      await this.store.forkWrite(a.newId, this.now, fields, records);
      return true as const;
    },
    remove: async (id) => {
      const removed = await this.store.remove(id, this.now);
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
