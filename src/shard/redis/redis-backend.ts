/**
 * The Redis store as a shard backend. Every operation of a batch is sent at once as pipelined script calls
 * on this shard's own connection (`'pipelined'`), and the reply is written once they have all answered or
 * `storeTimeoutMs` has passed, whichever comes first.
 *
 * Every shard sees the whole keyspace, so the operations that span all sessions (`list`, `size`) are
 * answered by shard 0 alone, and the other shards answer empty: the engine's merge stays correct. Shard 0
 * also owns the keyspace-notification subscription behind the `'expired'` events.
 */
import { FORMAT_VERSION, SESSION_V2_STRUCTURE } from '../../protocol/codec.js';
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
import { connect, RedisSessionStore, storeFailure, whenReady, type PlainFields, type SessionReply } from './redis-store.js';

/** A Redis shard holds no sessions itself: its own figures are zeros (the engine adds its counters). */
const NO_FIGURES: ShardFigures = Object.freeze({ sessions: 0, messages: 0, sessionBytes: 0, heapUsedBytes: 0, lastSweepSliceMs: 0, logBytes: 0, logBytesFree: 0 });

function writeOptionalString(writer: MsgpackWriter, value: string | null): void {
  if (value === null) writer.nil();
  else writer.string(value);
}

/**
 * Reads a session a script returned and says how to write it as a Session record, as the memory store
 * writes its own. Checks everything first: a value this version cannot read fails its op, not the reply.
 */
function sessionWrite(id: SessionId, reply: SessionReply | null): SessionWrite | null {
  if (reply === null) return null;
  const [flat, log] = reply;
  const fields = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!.toString('latin1'), flat[i + 1]!);
  const version = Number(fields.get('v')?.toString() ?? NaN);
  if (version !== FORMAT_VERSION) fail(ErrorCode.PROTOCOL, `store: session ${id} is in format ${version}, this version reads ${FORMAT_VERSION}`);
  const number = (name: string): number => {
    const value = Number(fields.get(name)?.toString() ?? NaN);
    if (!Number.isSafeInteger(value)) fail(ErrorCode.PROTOCOL, `store: session ${id} has no valid '${name}'`);
    return value;
  };
  const bytes = (name: string): Buffer => fields.get(name) ?? fail(ErrorCode.PROTOCOL, `store: session ${id} has no '${name}'`);
  const text = (name: string): string | null => fields.get(name)?.toString('utf8') ?? null;
  const createdAt = number('c');
  const lastAccessed = number('a');
  const updatedAt = number('u');
  const capabilities = bytes('cap');
  const servers = bytes('srv');
  const cwd = text('cwd');
  const title = text('title');
  const owner = text('owner');
  return (writer) => {
    writer.recordHeader(SESSION_V2_STRUCTURE);
    writer.string(id);
    writer.number(createdAt);
    writer.number(lastAccessed);
    writer.arrayHeader(log.length);
    for (const record of log) writer.raw(record);
    writer.raw(capabilities);
    writer.raw(servers);
    writeOptionalString(writer, cwd);
    writeOptionalString(writer, title);
    writer.number(updatedAt);
    writeOptionalString(writer, owner);
  };
}

export class RedisBackend implements ShardBackend {
  readonly mode = 'pipelined';
  readonly size = 0;
  readonly ready = Promise.resolve();
  readonly deadlineMs: number;
  readonly store: RedisSessionStore;
  private readonly listener: ExpiryListener | null;
  /** The time of the batch in progress (scripts take it as an argument: Redis's own clock is not used). */
  private now = Date.now();

  constructor(
    private readonly config: ShardConfig,
    sequence: ReplySequence,
    post: (event: ShardEvent) => void,
  ) {
    if (config.redis == null) throw new Error('the Redis shard worker needs ShardConfig.redis');
    this.deadlineMs = config.storeTimeoutMs ?? 5_000;
    this.store = new RedisSessionStore(connect(config.redis, this.deadlineMs), {
      maxSessionAgeMs: config.maxSessionAgeMs,
      maxMessagesPerSession: config.maxMessagesPerSession,
      maxMessageBytes: config.maxMessageBytes ?? Number.MAX_SAFE_INTEGER,
    });
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
    remove: async (id) => sessionWrite(id, await this.store.remove(id)),
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
  failureOf(error: unknown): OperationFailure {
    return storeFailure(error);
  }

  unanswered(): OperationFailure {
    return new OperationFailure(ErrorCode.STORE_UNAVAILABLE, `store: no answer from Redis within storeTimeoutMs (${this.deadlineMs} ms)`);
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
