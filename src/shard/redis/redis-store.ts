/**
 * One shard worker's view of the sessions in Redis: its own connection (a `Redis` or a `Cluster`), the
 * scripts of `lua-scripts.ts` defined on it, and the scans behind `list()` and `size()`.
 *
 * The connection is set up to fail fast rather than wait: no offline queue (a call while disconnected
 * rejects at once), no retry or resend of a request (an unanswered write must not land later, unseen),
 * and a command timeout. The worker turns those failures into `ERR_STORE_UNAVAILABLE`; ioredis keeps
 * reconnecting in the background, so service resumes by itself once Redis is back.
 *
 * A cluster client sends each script on its own, never auto-pipelined: ioredis (6.0) routes each command
 * of a cluster pipeline separately when the owner of its slot has left the pool (a master that died), so
 * with `enableOfflineQueue: false` some commands of one pipeline can be refused ("Connection is closed.")
 * while the others are queued on a live node. That pipeline's bytes are then never written, but its
 * commands stay in the node connection's reply queue, so every later reply on that connection is paired
 * with the wrong command: callers get other sessions' answers, and the newest commands never get one (the
 * "no answer within storeTimeoutMs" that outlived a failover). Sent one by one, every command is written
 * as it is queued, and ioredis follows `MOVED` per command.
 */
import { randomFillSync } from 'node:crypto';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { FORMAT_VERSION } from '../../protocol/codec.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import type { ShardRedisConfig } from '../../protocol/messages.js';
import type { SessionId } from '../../protocol/model.js';
import type { GetArgs } from '../../protocol/ops.js';
import { OperationFailure } from '../../protocol/operation-failure.js';
import { isLegacyRecord, messageRecordId } from '../../protocol/message-record.js';
import { KeySpace } from './keys.js';
import { SCRIPTS } from './lua-scripts.js';

/** A Redis client of either kind. */
export type RedisClient = Redis | Cluster;

/**
 * A session as a script returns it: its hash as a flat `[field, value, ...]` list, the message records
 * read (a window, or all), and how many messages it holds.
 */
export type SessionReply = [Buffer[], Buffer[], number];

/** What GET returns: the session, or `[bytes it holds]` when a read of it would pass maxSessionBytes. */
type GetReply = SessionReply | [number];

/** How long to wait between reconnection attempts: quick at first, then once a second. */
function reconnectDelay(attempt: number): number {
  return Math.min(50 * attempt, 1_000);
}

/** The settings that make every call end within `timeoutMs` (see the module comment). */
function failFast(timeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    // A backstop for commands Redis never answers: a batch's own timer bounds its calls to timeoutMs, and
    // the two firing together would make the batch's reply wait behind every command's rejection.
    commandTimeout: 2 * timeoutMs,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: reconnectDelay,
  };
}

/** Opens the connection `config` describes; it connects in the background (see `whenReady`). */
export function connect(config: ShardRedisConfig, timeoutMs: number): RedisClient {
  // The engine prefixes its keys itself (see `keys.ts`): ioredis must not prefix them a second time.
  const { keyPrefix: _ignored, ...given } = config.options;
  const connectTimeout = Math.min(Number(config.options.connectTimeout ?? timeoutMs), timeoutMs);
  let client: RedisClient;
  if (config.kind === 'cluster') {
    const options: ClusterOptions = {
      enableOfflineQueue: false,
      // See the module comment: on a cluster, auto-pipelining can pair replies with the wrong commands.
      enableAutoPipelining: false,
      scaleReads: 'master',
      clusterRetryStrategy: reconnectDelay,
      // ioredis would send a command again later, after a slot refresh, when its node's connection closed
      // (it may have run already) or when the cluster was down (possibly after its caller gave up): refuse
      // at once instead. MOVED and ASK, which say the command did not run, are still followed at once.
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      slotsRefreshTimeout: Math.min(timeoutMs, 2_000),
      // Without traffic nothing else would tell this shard of a failover; the expiry listener follows the
      // refreshes to subscribe to a promoted master.
      slotsRefreshInterval: 5_000,
      redisOptions: { ...(given as RedisOptions), ...failFast(timeoutMs), connectTimeout },
    };
    const cluster = new Cluster(config.nodes, options);
    // Node connections are lazy, and a command for a node that is still connecting is refused rather than
    // queued: connect every master as soon as the slot map names it (at start and after a failover). Not
    // before the cluster is ready: its own ready check would meet a connecting node and be refused.
    cluster.on('ready', () => connectMasters(cluster));
    cluster.on('refresh', () => {
      if (cluster.status === 'ready') connectMasters(cluster);
    });
    client = cluster;
  } else {
    const options: RedisOptions = { ...(given as RedisOptions), ...failFast(timeoutMs), connectTimeout, enableAutoPipelining: true };
    client = config.url === null ? new Redis(options) : new Redis(config.url, options);
  }
  // Connection errors surface as rejected calls; unhandled, the 'error' event would kill the worker.
  client.on('error', () => undefined);
  for (const [name, script] of Object.entries(SCRIPTS)) client.defineCommand(name, script);
  return client;
}

/** Starts connecting every master of `cluster` that has no connection yet. */
function connectMasters(cluster: Cluster): void {
  for (const node of cluster.nodes('master')) {
    // A master that cannot be reached ends its connection and leaves the pool; commands then fail fast.
    if (node.status === 'wait') node.connect().catch(() => undefined);
  }
}

/**
 * Resolves once `client` is ready, or rejects after `timeoutMs`. For a cluster it then also waits, within
 * the same bound, for each master's connection to be up or given up, so that the first calls do not meet a
 * node still connecting; a master that stays unreachable does not fail the wait (its slots fail fast).
 */
export async function whenReady(client: RedisClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  if (client.status !== 'ready') await once(client, ['ready'], timeoutMs);
  if (client instanceof Cluster) {
    connectMasters(client);
    const connecting = client.nodes('master').filter((node) => node.status !== 'ready' && node.status !== 'end');
    await Promise.all(connecting.map((node) => once(node, ['ready', 'end'], deadline - Date.now()).catch(() => undefined)));
  }
}

/** Resolves at the first of `events` from `emitter`; rejects `ERR_STORE_UNAVAILABLE` after `timeoutMs`. */
function once(emitter: RedisClient, events: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const stop = (): void => {
      clearTimeout(timer);
      for (const event of events) emitter.off(event, onEvent);
    };
    const onEvent = (): void => {
      stop();
      resolve();
    };
    const timer = setTimeout(
      () => {
        stop();
        reject(new OperationFailure(ErrorCode.STORE_UNAVAILABLE, `store: Redis was not reachable within storeTimeoutMs (${timeoutMs} ms)`));
      },
      Math.max(0, timeoutMs),
    );
    for (const event of events) emitter.on(event, onEvent);
  });
}

/** Server errors that mean "not now" rather than "never": the call may succeed later. */
const TRANSIENT = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|BUSY|MOVED|ASK)\b/;

/** ioredis's words for a call it refused because no connection was up: nothing was sent. */
const NOT_CONNECTED = /enableOfflineQueue options is false|^None of startup nodes is available/;

/** ioredis's words for a call that got no answer within its `commandTimeout` (`storeTimeoutMs`). */
const NO_ANSWER = 'Command timed out';

/** Whether `error` says that Redis did not answer in time (rather than that the connection was down). */
export function isNoAnswer(error: unknown): boolean {
  return error instanceof Error && error.message === NO_ANSWER;
}

/** The typed failure of a Redis call that rejected (for session `id`), in the engine's words rather than ioredis's. */
export function storeFailure(error: unknown, timeoutMs: number, id?: unknown): OperationFailure {
  if (error instanceof OperationFailure) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof Error && error.name === 'ReplyError') {
    if (message.startsWith('WRONGTYPE')) {
      return new OperationFailure(
        ErrorCode.CORRUPT_DATA,
        `store: session ${String(id)} cannot be read: a key of it holds the wrong kind of value (${message})`,
      );
    }
    if (message.startsWith('OOM')) return new OperationFailure(ErrorCode.CAPACITY, `store: Redis is full (maxmemory): ${message}`);
    if (!TRANSIENT.test(message)) return new OperationFailure(ErrorCode.PROTOCOL, `store: Redis refused a script: ${message}`);
  }
  if (NOT_CONNECTED.test(message)) {
    return new OperationFailure(
      ErrorCode.STORE_UNAVAILABLE,
      'store: the Redis store is not connected (connection lost or not yet established); the call was not sent',
    );
  }
  if (message === NO_ANSWER) return noAnswer(timeoutMs);
  if (message === 'Connection is closed.') {
    return new OperationFailure(ErrorCode.STORE_UNAVAILABLE, 'store: the connection to Redis closed before it answered; the outcome of the call is unknown');
  }
  return new OperationFailure(ErrorCode.STORE_UNAVAILABLE, `store: Redis is unavailable (${message})`);
}

/** The failure of a call Redis did not answer within `timeoutMs`: it may still apply when Redis catches up. */
export function noAnswer(timeoutMs: number): OperationFailure {
  return new OperationFailure(
    ErrorCode.STORE_UNAVAILABLE,
    `store: no answer from Redis within storeTimeoutMs (${timeoutMs} ms); the outcome of the call is unknown`,
  );
}

/** How long the breaker waits between two probes that failed at once (the connection down). */
const PROBE_RETRY_MS = 100;

/**
 * Whether a single Redis is known not to answer. Once a call has waited all of `storeTimeoutMs` without an
 * answer (a frozen or overloaded server keeps the connection open), later calls fail at once, unsent, rather
 * than each waiting the whole bound and piling up in the connection; a PING probes until Redis answers again.
 * Not for a cluster: one frozen master must not fail the calls for the others.
 */
export class StoreBreaker {
  private down = false;
  private closed = false;
  /** Called when Redis is taken as down (`true`) and when it answers again (`false`). */
  onChange: (down: boolean) => void = () => undefined;

  constructor(
    private readonly client: Redis,
    private readonly timeoutMs: number,
  ) {}

  /** Throws the failure of a call not sent, while Redis is known not to answer. */
  check(): void {
    if (this.down) {
      throw new OperationFailure(
        ErrorCode.STORE_UNAVAILABLE,
        `store: Redis has not answered within storeTimeoutMs (${this.timeoutMs} ms) and has not answered since; the call was not sent (the engine keeps probing and serves again once Redis answers)`,
      );
    }
  }

  /** A call got no answer within the bound: Redis is taken as down until a probe is answered. */
  trip(): void {
    if (this.down || this.closed) return;
    this.down = true;
    this.onChange(true);
    void this.probe();
  }

  close(): void {
    this.closed = true;
  }

  private async probe(): Promise<void> {
    while (!this.closed) {
      try {
        // Answered only once Redis has caught up with every command sent before it.
        await this.client.ping();
        this.down = false;
        if (!this.closed) this.onChange(false);
        return;
      } catch {
        // A frozen Redis took the whole commandTimeout; a connection that is down refused at once.
        await new Promise((resolve) => setTimeout(resolve, PROBE_RETRY_MS).unref());
      }
    }
  }
}

type Arg = string | number | Buffer;

/** The scripts as ioredis defined them (the `Buffer` variants return binary values untouched). */
interface ScriptCommands {
  ssCreate(meta: string, log: string, ids: string, ...args: Arg[]): Promise<[number, number]>;
  ssGetBuffer(meta: string, log: string, ids: string, ...args: Arg[]): Promise<GetReply | null>;
  ssAppend(meta: string, log: string, ids: string, ...args: Arg[]): Promise<[number, number]>;
  multi(): ReadTransaction;
  ssAppendMany(meta: string, log: string, ids: string, ...args: Arg[]): Promise<number[]>;
  ssPopBuffer(meta: string, log: string, ids: string, ...args: Arg[]): Promise<[number, Buffer?]>;
  ssSpliceBuffer(meta: string, log: string, ids: string, ...args: Arg[]): Promise<[number, Buffer[] | number, number?]>;
  ssForkReadBuffer(meta: string, log: string, ids: string, ...args: Arg[]): Promise<[Buffer[], Buffer[]] | null>;
  ssForkWrite(meta: string, log: string, ids: string, ...args: Arg[]): Promise<[number, number?]>;
  ssUpdate(meta: string, log: string, ids: string, ...args: Arg[]): Promise<[number, number]>;
  ssTouch(meta: string, log: string, ids: string, ...args: Arg[]): Promise<number>;
  ssRemoveBuffer(meta: string, log: string, ids: string, ...args: Arg[]): Promise<SessionReply | null>;
}

/** The commands of a read in one `MULTI` (see `OPEN_SCRIPT`). */
interface ReadTransaction {
  ssOpenBuffer(meta: string, log: string, ids: string, ...args: Arg[]): ReadTransaction;
  lrangeBuffer(key: string, start: number, stop: number): ReadTransaction;
  exec(): Promise<[Error | null, unknown][] | null>;
}

/** The limits a Redis shard passes to its scripts. */
export interface RedisStoreLimits {
  maxSessionAgeMs: number;
  maxMessagesPerSession: number;
  maxMessageBytes: number;
  /** The most bytes one session holds (see `lua-scripts.ts` for how they are counted). */
  maxSessionBytes: number;
}

/** The plain fields CREATE and UPDATE may set; `null` leaves (or makes) the field unset. */
export type PlainFields = Partial<Record<'cwd' | 'title' | 'owner', string | null>> & { meta?: Uint8Array | null };

/** A record to append or insert: its bytes, what it counts against maxMessageBytes, and (appends) whether its timestamp was given. */
export interface RecordToWrite {
  record: Uint8Array;
  contentBytes: number;
  /** Where its timestamp's float64 marker is, for the retry rule; -1 when the timestamp must match too. */
  timestampAt: number;
}

/** The fields of a session a fork copies (counted in `b`), as stored. */
export const FORK_FIELDS: readonly string[] = ['cap', 'srv', 'cwd', 'title', 'owner', 'meta'];

/** The fields counted with the messages in `b` (see `lua-scripts.ts`). */
const COUNTED = new Set(FORK_FIELDS);

/** Reads returning this many bytes of records on average go as a transaction (see `readInTransaction`). */
const TRANSACTION_READ_BYTES = 8_192;

/** Whether `error` says Redis does not have the script (ioredis loads it on a call outside a transaction). */
function isNoScript(error: unknown): boolean {
  return error instanceof Error && /NOSCRIPT|EXECABORT/.test(error.message);
}

/** The `LRANGE` bounds of a window (`GetArgs`): from the end for `lastMessages`, else from `fromMessage`. */
export function windowRange(window: GetArgs): [number, number] {
  // `LRANGE 1 0` is empty; a start or stop of -0 would read from the head.
  if (window.lastMessages >= 0) return window.lastMessages === 0 ? [1, 0] : [-window.lastMessages, -1];
  if (window.maxMessages === 0) return [1, 0];
  return [window.fromMessage, window.maxMessages < 0 ? -1 : window.fromMessage + window.maxMessages - 1];
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const seedPool = new Uint8Array(1_200);
let seedAt = seedPool.length;

/** 12 random base-32 digits: the random part of the ids a script gives records of the first format. */
function seed(): string {
  if (seedAt + 12 > seedPool.length) {
    randomFillSync(seedPool);
    seedAt = 0;
  }
  let text = '';
  for (let i = 0; i < 12; i++) text += CROCKFORD[seedPool[seedAt++]! & 31];
  return text;
}

export class RedisSessionStore {
  private readonly scripts: ScriptCommands;
  /** `null` on a cluster (see `StoreBreaker`). */
  readonly breaker: StoreBreaker | null;

  constructor(
    readonly client: RedisClient,
    private readonly limits: RedisStoreLimits,
    timeoutMs: number,
    /** The keys of this engine's sessions (under its key prefix). */
    readonly keys: KeySpace = new KeySpace(),
  ) {
    this.scripts = client as unknown as ScriptCommands;
    this.breaker = client instanceof Cluster ? null : new StoreBreaker(client, timeoutMs);
  }

  /** Rejects `INVALID_ARGUMENT` if the id exists. */
  async create(id: SessionId, now: number, capabilities: Uint8Array, servers: Uint8Array, fields: PlainFields): Promise<void> {
    this.breaker?.check();
    const { maxSessionAgeMs, maxSessionBytes } = this.limits;
    const args: Arg[] = [now, maxSessionAgeMs, FORMAT_VERSION, bytes(capabilities), bytes(servers), maxSessionBytes];
    for (const [field, value] of Object.entries(fields))
      if (value !== null && value !== undefined) args.push(field, typeof value === 'string' ? value : bytes(value));
    const [status, value] = await this.scripts.ssCreate(...this.keys.session(id), ...args);
    if (status === 0) throw new OperationFailure(ErrorCode.INVALID_ARGUMENT, `id: session ${id} already exists`);
    if (status === 2) throw this.tooLarge(id, value, 'its fields');
  }

  /** The session with its idle clock refreshed, or `null`; the window as in the `get` op (`GetArgs`). */
  async get(id: SessionId, now: number, window: GetArgs): Promise<SessionReply | null> {
    this.breaker?.check();
    if (this.readInTransaction()) {
      const read = await this.readWindow(id, now, window);
      if (read !== undefined) return read;
    }
    const { maxSessionAgeMs, maxSessionBytes } = this.limits;
    const reply = await this.scripts.ssGetBuffer(
      ...this.keys.session(id),
      now,
      maxSessionAgeMs,
      window.lastMessages,
      window.fromMessage,
      window.maxMessages,
      maxSessionBytes,
      seed(),
    );
    if (reply !== null && reply.length === 3) this.noteRead(reply[1]);
    if (reply === null || reply.length === 3) return reply;
    throw this.tooLargeToRead(id, reply[0]);
  }

  /** Only a session written under a larger limit holds more: a read never hands the host more. */
  private tooLargeToRead(id: SessionId, held: number): OperationFailure {
    return new OperationFailure(
      ErrorCode.LIMIT_EXCEEDED,
      `maxSessionBytes: session ${id} holds ${held} bytes, past what one read returns (${this.limits.maxSessionBytes} bytes); read a window of its messages (lastMessages, or fromMessage and maxMessages)`,
    );
  }

  /**
   * Whether the next read goes as one `MULTI` (`OPEN_SCRIPT`, `HGETALL`, `LRANGE`) rather than `GET_SCRIPT`:
   * on a single Redis (a cluster sends no transaction, see the module comment), once this shard's reads
   * have been returning some kilobytes of records. Then the records pass straight from Redis to the
   * worker: through Lua they cost Redis more than all the rest of a read. Smaller reads stay one script,
   * which costs the worker less than a transaction. Both give the same answer.
   */
  private readInTransaction(): boolean {
    return this.breaker !== null && this.readBytes >= TRANSACTION_READ_BYTES;
  }

  /** A running average of the bytes of records per read, for `readInTransaction`. */
  private readBytes = 0;

  private noteRead(records: Buffer[]): void {
    let bytes = 0;
    for (const record of records) bytes += record.length;
    this.readBytes += (bytes - this.readBytes) / 16;
  }

  /**
   * A read as one `MULTI`; `undefined` when the window holds records of the first format, which only
   * `GET_SCRIPT` upgrades (the caller reads again with it: the first read changed nothing but the clock).
   */
  private async readWindow(id: SessionId, now: number, window: GetArgs): Promise<SessionReply | null | undefined> {
    const log = this.keys.log(id);
    const [start, stop] = windowRange(window);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await this.scripts
        .multi()
        .ssOpenBuffer(...this.keys.session(id), now, this.limits.maxSessionAgeMs)
        .lrangeBuffer(log, start, stop)
        .exec();
    } catch (error) {
      // Redis lost its scripts (a restart, SCRIPT FLUSH): `GET_SCRIPT` loads them again, and this read with them.
      if (isNoScript(error)) return undefined;
      throw error;
    }
    if (replies === null) throw new Error('Connection is closed.');
    for (const [error] of replies) {
      if (isNoScript(error)) return undefined;
      if (error !== null) throw error;
    }
    const open = replies[0]![1] as [Buffer[], number, number] | null;
    if (open === null) return null;
    const [flat, held, bytes] = open;
    const records = replies[1]![1] as Buffer[];
    this.noteRead(records);
    for (const record of records) if (isLegacyRecord(record)) return undefined;
    const max = this.limits.maxSessionBytes;
    if (bytes > max) {
      if (records.length === held) throw this.tooLargeToRead(id, bytes);
      let read = 0;
      for (let i = 0; i + 1 < flat.length; i += 2) if (COUNTED.has(flat[i]!.toString('latin1'))) read += flat[i + 1]!.length;
      for (const record of records) read += record.length;
      if (read > max) throw this.tooLargeToRead(id, bytes);
    }
    return [flat, records, held];
  }

  /** Appends one encoded Message record; resolves the new context length. */
  async append(id: SessionId, now: number, record: Uint8Array, contentBytes: number): Promise<number> {
    this.breaker?.check();
    const { maxSessionAgeMs, maxMessagesPerSession, maxMessageBytes, maxSessionBytes } = this.limits;
    const [status, value] = await this.scripts.ssAppend(
      ...this.keys.session(id),
      now,
      maxSessionAgeMs,
      bytes(record),
      contentBytes,
      maxMessagesPerSession,
      maxMessageBytes,
      maxSessionBytes,
    );
    if (status === 0) return value;
    if (status === 1) throw notFound(id);
    if (status === 2) throw this.tooMany(id, value);
    if (status === 4) throw this.tooLarge(id, value, `its messages with this one (${record.length} bytes)`);
    throw this.messageTooLarge(value);
  }

  /** Appends records all or none (the contract's `appendMany`); resolves the new length. */
  async appendMany(id: SessionId, now: number, records: RecordToWrite[], ifLength: number): Promise<number> {
    this.breaker?.check();
    const { maxSessionAgeMs, maxMessagesPerSession, maxMessageBytes, maxSessionBytes } = this.limits;
    const args: Arg[] = [now, maxSessionAgeMs, ifLength, maxMessagesPerSession, maxMessageBytes, maxSessionBytes];
    for (const one of records) args.push(bytes(one.record), one.timestampAt, one.contentBytes);
    const reply = await this.scripts.ssAppendMany(...this.keys.session(id), ...args);
    const status = reply[0]!;
    if (status === 0) return reply[1]!;
    if (status === 1) throw notFound(id);
    if (status === 2) throw lengthConflict(id, ifLength, reply[1]!);
    if (status === 3) throw idConflict(id, records, reply[1]! - 1);
    if (status === 4) throw this.messageTooLarge(reply[2]!);
    if (status === 5) {
      throw new OperationFailure(
        ErrorCode.LIMIT_EXCEEDED,
        `maxMessagesPerSession: session ${id} holds ${reply[1]} messages, and ${records.length} more would pass the limit (${maxMessagesPerSession})`,
      );
    }
    throw this.tooLarge(id, reply[1]!, `these ${records.length} messages`);
  }

  /** Removes the newest record and resolves it (`null`: the session holds none). */
  async pop(id: SessionId, now: number, ifLength: number): Promise<Buffer | null> {
    this.breaker?.check();
    const reply = await this.scripts.ssPopBuffer(...this.keys.session(id), now, this.limits.maxSessionAgeMs, ifLength, seed());
    const status = Number(reply[0]);
    if (status === 1) throw notFound(id);
    if (status === 2) throw lengthConflict(id, ifLength, Number(reply[1]));
    return reply[1] ?? null;
  }

  /** `Array.prototype.splice` on the log (`deleteCount` -1: all from start); resolves the records removed. */
  async splice(id: SessionId, now: number, start: number, deleteCount: number, records: RecordToWrite[], ifLength: number): Promise<Buffer[]> {
    this.breaker?.check();
    const { maxSessionAgeMs, maxMessagesPerSession, maxMessageBytes, maxSessionBytes } = this.limits;
    const args: Arg[] = [now, maxSessionAgeMs, ifLength, start, deleteCount, maxMessagesPerSession, maxMessageBytes, maxSessionBytes, seed()];
    for (const one of records) args.push(bytes(one.record), one.contentBytes);
    const reply = await this.scripts.ssSpliceBuffer(...this.keys.session(id), ...args);
    const status = Number(reply[0]);
    if (status === 0) return reply[1] as Buffer[];
    if (status === 1) throw notFound(id);
    if (status === 2) throw lengthConflict(id, ifLength, Number(reply[1]));
    if (status === 3) throw idConflict(id, records, Number(reply[1]) - 1, 'what remains of session');
    if (status === 4) throw this.messageTooLarge(Number(reply[2]));
    if (status === 5) {
      throw new OperationFailure(
        ErrorCode.LIMIT_EXCEEDED,
        `maxMessagesPerSession: session ${id} would hold ${Number(reply[1])} messages after this splice (the limit is ${maxMessagesPerSession})`,
      );
    }
    throw this.tooLarge(id, Number(reply[1]), 'its messages after this splice');
  }

  /** The first step of a fork: the source's fields and its oldest `messages` records (-1: all), or `null`. */
  async forkRead(id: SessionId, now: number, messages: number): Promise<[Map<string, Buffer>, Buffer[]] | null> {
    this.breaker?.check();
    const reply = await this.scripts.ssForkReadBuffer(...this.keys.session(id), now, this.limits.maxSessionAgeMs, messages, seed());
    if (reply === null) return null;
    const [flat, log] = reply;
    const fields = new Map<string, Buffer>();
    for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!.toString('latin1'), flat[i + 1]!);
    return [fields, log];
  }

  /** The second step of a fork: session `newId` with `fields` (counted ones) and `records`, all or nothing. */
  async forkWrite(newId: SessionId, now: number, fields: Map<string, Uint8Array>, records: Buffer[]): Promise<void> {
    this.breaker?.check();
    const args: Arg[] = [now, this.limits.maxSessionAgeMs, FORMAT_VERSION, this.limits.maxSessionBytes, fields.size];
    for (const [field, value] of fields) args.push(field, bytes(value));
    for (const record of records) args.push(record);
    const [status, value] = await this.scripts.ssForkWrite(...this.keys.session(newId), ...args);
    if (status === 1) throw new OperationFailure(ErrorCode.CONFLICT, `newId: session ${newId} already exists`);
    if (status === 2) throw this.tooLarge(newId, value!, `the fields and the ${records.length} messages it would copy`);
  }

  /** Replaces the encoded fields given (`null`: unchanged) and the plain fields present in `fields`. */
  async update(id: SessionId, now: number, capabilities: Uint8Array | null, servers: Uint8Array | null, fields: PlainFields): Promise<void> {
    this.breaker?.check();
    const args: Arg[] = [now, this.limits.maxSessionAgeMs, this.limits.maxSessionBytes];
    if (capabilities !== null) args.push('cap', '1', bytes(capabilities));
    if (servers !== null) args.push('srv', '1', bytes(servers));
    for (const [field, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      if (value === null) args.push(field, '0', '');
      else args.push(field, '1', typeof value === 'string' ? value : bytes(value));
    }
    const [status, value] = await this.scripts.ssUpdate(...this.keys.session(id), ...args);
    if (status === 0) throw notFound(id);
    if (status === 2) throw this.tooLarge(id, value, 'its messages and these fields');
  }

  /** The failure of a write that would leave session `id` holding `bytes`, past maxSessionBytes (as the memory store words it). */
  private tooLarge(id: SessionId, bytes: number, what: string): OperationFailure {
    return new OperationFailure(
      ErrorCode.LIMIT_EXCEEDED,
      `maxSessionBytes: session ${id} would hold ${bytes} bytes with ${what}, past the most one session holds (${this.limits.maxSessionBytes} bytes)`,
    );
  }

  private tooMany(id: SessionId, held: number): OperationFailure {
    return new OperationFailure(
      ErrorCode.LIMIT_EXCEEDED,
      `maxMessagesPerSession: session ${id} already holds ${held} messages (the limit is ${this.limits.maxMessagesPerSession})`,
    );
  }

  private messageTooLarge(contentBytes: number): OperationFailure {
    return new OperationFailure(ErrorCode.LIMIT_EXCEEDED, `maxMessageBytes: content is ${contentBytes} bytes (the limit is ${this.limits.maxMessageBytes})`);
  }

  async touch(id: SessionId, now: number): Promise<boolean> {
    this.breaker?.check();
    return (await this.scripts.ssTouch(...this.keys.session(id), now, this.limits.maxSessionAgeMs)) === 1;
  }

  async remove(id: SessionId, now: number): Promise<SessionReply | null> {
    this.breaker?.check();
    return this.scripts.ssRemoveBuffer(...this.keys.session(id), now, seed());
  }

  /** Every session id in Redis, scanning every master of a cluster: O(keys in Redis), several round trips. */
  async scanIds(): Promise<SessionId[]> {
    this.breaker?.check();
    const nodes: Redis[] = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    const perNode = await Promise.all(nodes.map((node) => scanNode(node, this.keys)));
    return perNode.flat();
  }

  /** `[cwd, owner]` of each id, `null` when unset (or when the session is gone meanwhile). */
  async ownership(ids: SessionId[]): Promise<[string | null, string | null][]> {
    this.breaker?.check();
    return Promise.all(ids.map((id) => this.client.hmget(this.keys.meta(id), 'cwd', 'owner') as Promise<[string | null, string | null]>));
  }

  /** Closes the connection without waiting for replies. */
  close(): void {
    this.breaker?.close();
    this.client.disconnect();
  }
}

async function scanNode(node: Redis, space: KeySpace): Promise<SessionId[]> {
  const ids: SessionId[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', space.metaPattern, 'COUNT', 1_000);
    cursor = next;
    for (const key of keys) {
      const id = space.idOfMetaKey(key);
      if (id !== null) ids.push(id);
    }
  } while (cursor !== '0');
  return ids;
}

/** ioredis sends a `Buffer` as bytes but any other typed array as its `String()`: wrap without copying. */
function bytes(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** `ifLength` was given and the session holds another number of messages. */
function lengthConflict(id: SessionId, ifLength: number, held: number): OperationFailure {
  return new OperationFailure(ErrorCode.CONFLICT, `ifLength: session ${id} holds ${held} messages, not ${ifLength}`);
}

/** Record `at`'s id is in the session already (`where`), or earlier in the same call. */
function idConflict(id: SessionId, records: RecordToWrite[], at: number, where = 'session'): OperationFailure {
  const messageId = messageRecordId(records[at]!.record);
  const twice = records.slice(0, at).some((one) => messageRecordId(one.record) === messageId);
  return new OperationFailure(
    ErrorCode.CONFLICT,
    twice
      ? `id: message id ${JSON.stringify(messageId)} is given twice in this call`
      : `id: message id ${JSON.stringify(messageId)} is already in ${where} ${id}`,
  );
}

function notFound(id: SessionId): OperationFailure {
  return new OperationFailure(ErrorCode.SESSION_NOT_FOUND, `id: no session ${id} (unknown or expired)`);
}
