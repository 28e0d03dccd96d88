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
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { FORMAT_VERSION } from '../../protocol/codec.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import type { ShardRedisConfig } from '../../protocol/messages.js';
import type { SessionId } from '../../protocol/model.js';
import { OperationFailure } from '../../protocol/operation-failure.js';
import { idOfMetaKey, logKey, META_PATTERN, metaKey } from './keys.js';
import { SCRIPTS } from './lua-scripts.js';

/** A Redis client of either kind. */
export type RedisClient = Redis | Cluster;

/** A session as a script returns it: its hash as a flat `[field, value, ...]` list, and its message records. */
export type SessionReply = [Buffer[], Buffer[]];

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
      redisOptions: { ...(config.options as RedisOptions), ...failFast(timeoutMs), connectTimeout },
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
    const options: RedisOptions = { ...(config.options as RedisOptions), ...failFast(timeoutMs), connectTimeout, enableAutoPipelining: true };
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
        return;
      } catch {
        // A frozen Redis took the whole commandTimeout; a connection that is down refused at once.
        await new Promise((resolve) => setTimeout(resolve, PROBE_RETRY_MS).unref());
      }
    }
  }
}

/** The scripts as ioredis defined them (the `Buffer` variants return binary values untouched). */
interface ScriptCommands {
  ssCreate(meta: string, log: string, ...args: (string | number | Buffer | Uint8Array)[]): Promise<[number, number]>;
  ssGetBuffer(meta: string, log: string, now: number, ttl: number, last: number, maxSessionBytes: number): Promise<GetReply | null>;
  ssAppend(
    meta: string,
    log: string,
    now: number,
    ttl: number,
    record: Uint8Array,
    bytes: number,
    maxMessages: number,
    maxBytes: number,
    maxSessionBytes: number,
  ): Promise<[number, number]>;
  ssUpdate(meta: string, log: string, ...args: (string | number | Buffer | Uint8Array)[]): Promise<[number, number]>;
  ssTouch(meta: string, log: string, now: number, ttl: number): Promise<number>;
  ssRemoveBuffer(meta: string, log: string): Promise<SessionReply | null>;
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
export type PlainFields = Partial<Record<'cwd' | 'title' | 'owner', string | null>>;

export class RedisSessionStore {
  private readonly scripts: ScriptCommands;
  /** `null` on a cluster (see `StoreBreaker`). */
  readonly breaker: StoreBreaker | null;

  constructor(
    readonly client: RedisClient,
    private readonly limits: RedisStoreLimits,
    timeoutMs: number,
  ) {
    this.scripts = client as unknown as ScriptCommands;
    this.breaker = client instanceof Cluster ? null : new StoreBreaker(client, timeoutMs);
  }

  /** Rejects `INVALID_ARGUMENT` if the id exists. */
  async create(id: SessionId, now: number, capabilities: Uint8Array, servers: Uint8Array, fields: PlainFields): Promise<void> {
    this.breaker?.check();
    const { maxSessionAgeMs, maxSessionBytes } = this.limits;
    const args: (string | number | Uint8Array)[] = [now, maxSessionAgeMs, FORMAT_VERSION, bytes(capabilities), bytes(servers), maxSessionBytes];
    for (const [field, value] of Object.entries(fields)) if (value !== null && value !== undefined) args.push(field, value);
    const [status, value] = await this.scripts.ssCreate(metaKey(id), logKey(id), ...args);
    if (status === 0) throw new OperationFailure(ErrorCode.INVALID_ARGUMENT, `id: session ${id} already exists`);
    if (status === 2) throw this.tooLarge(id, value, 'its fields');
  }

  /** The session with its idle clock refreshed, or `null`; `lastMessages` as in the `get` op (`GetArgs`). */
  async get(id: SessionId, now: number, lastMessages: number): Promise<SessionReply | null> {
    this.breaker?.check();
    const { maxSessionAgeMs, maxSessionBytes } = this.limits;
    const reply = await this.scripts.ssGetBuffer(metaKey(id), logKey(id), now, maxSessionAgeMs, lastMessages, maxSessionBytes);
    if (reply === null || reply.length === 2) return reply;
    // Only a session written under a larger limit holds more: a read never hands the host more.
    throw new OperationFailure(
      ErrorCode.LIMIT_EXCEEDED,
      `maxSessionBytes: session ${id} holds ${reply[0]} bytes, past what one read returns (${maxSessionBytes} bytes); read its newest messages with lastMessages`,
    );
  }

  /** Appends one encoded Message record; resolves the new context length. */
  async append(id: SessionId, now: number, record: Uint8Array, contentBytes: number): Promise<number> {
    this.breaker?.check();
    const { maxSessionAgeMs, maxMessagesPerSession, maxMessageBytes, maxSessionBytes } = this.limits;
    const [status, value] = await this.scripts.ssAppend(
      metaKey(id),
      logKey(id),
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
    if (status === 2) {
      throw new OperationFailure(
        ErrorCode.LIMIT_EXCEEDED,
        `maxMessagesPerSession: session ${id} already holds ${value} messages (the limit is ${maxMessagesPerSession})`,
      );
    }
    if (status === 4) throw this.tooLarge(id, value, `its messages with this one (${record.length} bytes)`);
    throw new OperationFailure(ErrorCode.LIMIT_EXCEEDED, `maxMessageBytes: content is ${value} bytes (the limit is ${maxMessageBytes})`);
  }

  /** Replaces the encoded fields given (`null`: unchanged) and the plain fields present in `fields`. */
  async update(id: SessionId, now: number, capabilities: Uint8Array | null, servers: Uint8Array | null, fields: PlainFields): Promise<void> {
    this.breaker?.check();
    const args: (string | number | Uint8Array)[] = [now, this.limits.maxSessionAgeMs, this.limits.maxSessionBytes];
    if (capabilities !== null) args.push('cap', '1', bytes(capabilities));
    if (servers !== null) args.push('srv', '1', bytes(servers));
    for (const [field, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      if (value === null) args.push(field, '0', '');
      else args.push(field, '1', value);
    }
    const [status, value] = await this.scripts.ssUpdate(metaKey(id), logKey(id), ...args);
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

  async touch(id: SessionId, now: number): Promise<boolean> {
    this.breaker?.check();
    return (await this.scripts.ssTouch(metaKey(id), logKey(id), now, this.limits.maxSessionAgeMs)) === 1;
  }

  async remove(id: SessionId): Promise<SessionReply | null> {
    this.breaker?.check();
    return this.scripts.ssRemoveBuffer(metaKey(id), logKey(id));
  }

  /** Every session id in Redis, scanning every master of a cluster: O(keys in Redis), several round trips. */
  async scanIds(): Promise<SessionId[]> {
    this.breaker?.check();
    const nodes: Redis[] = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    const perNode = await Promise.all(nodes.map((node) => scanNode(node)));
    return perNode.flat();
  }

  /** `[cwd, owner]` of each id, `null` when unset (or when the session is gone meanwhile). */
  async ownership(ids: SessionId[]): Promise<[string | null, string | null][]> {
    this.breaker?.check();
    return Promise.all(ids.map((id) => this.client.hmget(metaKey(id), 'cwd', 'owner') as Promise<[string | null, string | null]>));
  }

  /** Closes the connection without waiting for replies. */
  close(): void {
    this.breaker?.close();
    this.client.disconnect();
  }
}

async function scanNode(node: Redis): Promise<SessionId[]> {
  const ids: SessionId[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', META_PATTERN, 'COUNT', 1_000);
    cursor = next;
    for (const key of keys) {
      const id = idOfMetaKey(key);
      if (id !== null) ids.push(id);
    }
  } while (cursor !== '0');
  return ids;
}

/** ioredis sends a `Buffer` as bytes but any other typed array as its `String()`: wrap without copying. */
function bytes(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function notFound(id: SessionId): OperationFailure {
  return new OperationFailure(ErrorCode.SESSION_NOT_FOUND, `id: no session ${id} (unknown or expired)`);
}
