/**
 * Sessions in a Redis the benchmark starts itself (loopback, a free port, no persistence), reached
 * through ioredis with auto-pipelining. A session is two keys: its fields as one msgpack value and its
 * messages as a list of msgpack values, so an append is one RPUSH and `lastMessages` one LRANGE. Idle
 * expiry is Redis's own: every access refreshes both keys' TTL, inside one Lua call per operation, which
 * also makes every call atomic: `appendMessages` is one RPUSH of them all, `spliceMessages` one script.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { Packr } from 'msgpackr';
import type { Message, MessageInput, Session } from '../../src/index.js';
import { newSessionId } from '../../src/main/session-ids.js';
import { checkSessionId, checkStoredMessage as checkMessage, checkStoredMessages } from './stored-message.js';
import { SESSION_TTL_MS, type SessionApi } from '../subject.js';
import type { AgentApi } from '../agent-turns.js';

const MAX_MESSAGE_BYTES = 1_048_576;

const GET_LUA = `
local fields = redis.call('GET', KEYS[1])
if not fields then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
local length = redis.call('LLEN', KEYS[2])
if ARGV[2] == 'none' then return {fields, {}, length} end
return {fields, redis.call('LRANGE', KEYS[2], ARGV[2], -1), length}`;

/** One message or several: one RPUSH of them all. */
const APPEND_LUA = `
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return -1 end
local n = redis.call('RPUSH', KEYS[2], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return n`;

/**
 * Array.prototype.splice on the list: ARGV = ttl, start, deleteCount (-1: to the end), messages to
 * insert. Removing from the head (compaction) is an LTRIM and LPUSHes; elsewhere the tail is read and
 * pushed back after the inserted messages.
 */
const SPLICE_LUA = `
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return false end
local len = redis.call('LLEN', KEYS[2])
local start = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
if start < 0 then start = math.max(0, len + start) else start = math.min(start, len) end
if count < 0 or count > len - start then count = len - start end
local removed = {}
if count > 0 then removed = redis.call('LRANGE', KEYS[2], start, start + count - 1) end
if start == 0 then
  if count > 0 then redis.call('LTRIM', KEYS[2], count, -1) end
  for i = #ARGV, 4, -1 do redis.call('LPUSH', KEYS[2], ARGV[i]) end
else
  local tail = {}
  if start + count < len then tail = redis.call('LRANGE', KEYS[2], start + count, -1) end
  redis.call('LTRIM', KEYS[2], 0, start - 1)
  if #ARGV > 3 then redis.call('RPUSH', KEYS[2], unpack(ARGV, 4)) end
  if #tail > 0 then redis.call('RPUSH', KEYS[2], unpack(tail)) end
end
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return removed`;

interface SessionScripts {
  sessionGetBuffer(fields: string, messages: string, ttl: number, start: string): Promise<[Buffer, Buffer[], number] | null>;
  sessionAppend(fields: string, list: string, ttl: number, ...messages: Buffer[]): Promise<number>;
  sessionSpliceBuffer(fields: string, list: string, ttl: number, start: number, deleteCount: number, ...insert: Buffer[]): Promise<Buffer[] | null>;
}

type StoredFields = Pick<Session, 'id' | 'createdAt' | 'clientCapabilities' | 'mcpServers' | 'cwd' | 'title' | 'updatedAt' | 'owner'>;

/** Creates `count` sessions of `messages(i)` each with one `appendMessages` per session, 256 at a time (set-up only). */
export async function seedWithBatches(
  api: Pick<SessionApi, 'create'> & Pick<AgentApi, 'appendMessages'>,
  count: number,
  messages: (session: number) => MessageInput[],
): Promise<string[]> {
  const ids = new Array<string>(count);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      ids[i] = await api.create();
      await api.appendMessages(ids[i]!, messages(i));
    }
  };
  await Promise.all(Array.from({ length: Math.min(256, count) }, lane));
  return ids;
}

/** Whether `redis-server` can be run here. */
export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A private redis-server on a free loopback port, without persistence; `stop()` kills it. */
export interface RedisServer {
  port: number;
  process: ChildProcess;
  stop(): void;
}

/** Starts a private redis-server and resolves once it answers a ping. */
export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const stop = (): void => void child.kill();
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  for (let attempt = 0; ; attempt++) {
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return { port, process: child, stop };
    } catch (error) {
      probe.disconnect();
      if (attempt > 50) {
        stop();
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Sessions in a private redis-server through ioredis auto-pipelining. */
export class RedisSessions implements SessionApi, AgentApi {
  // Plain msgpack (no records): values must stand alone, with no structure table outside them.
  // pack() returns a view into a buffer msgpackr reuses; auto-pipelining sends later, hence the copies.
  private readonly packr = new Packr({ useRecords: false });

  private constructor(
    private readonly server: ChildProcess,
    private readonly client: Redis & SessionScripts,
  ) {}

  /** Starts redis-server on a free loopback port and connects to it. */
  static async start(): Promise<RedisSessions> {
    const server = await startRedisServer();
    const client = new Redis({ port: server.port, host: '127.0.0.1', enableAutoPipelining: true, lazyConnect: true, maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      server.stop();
      throw error;
    }
    client.defineCommand('sessionGet', { numberOfKeys: 2, lua: GET_LUA });
    client.defineCommand('sessionAppend', { numberOfKeys: 2, lua: APPEND_LUA });
    client.defineCommand('sessionSplice', { numberOfKeys: 2, lua: SPLICE_LUA });
    return new RedisSessions(server.process, client as Redis & SessionScripts);
  }

  async create(): Promise<string> {
    const id = newSessionId();
    const now = Date.now();
    const fields: StoredFields = { id, createdAt: now, clientCapabilities: null, mcpServers: [], cwd: null, title: null, updatedAt: now, owner: null };
    await this.client.set(`s:${id}`, Buffer.from(this.packr.pack(fields)), 'PX', SESSION_TTL_MS);
    return id;
  }

  async get(id: string, options?: { lastMessages?: number }): Promise<Session | undefined> {
    checkSessionId(id);
    const last = options?.lastMessages;
    const start = last === undefined ? '0' : last === 0 ? 'none' : String(-last);
    const reply = await this.client.sessionGetBuffer(`s:${id}`, `m:${id}`, SESSION_TTL_MS, start);
    if (reply === null) return undefined;
    const fields = this.packr.unpack(reply[0]) as StoredFields;
    const context = reply[1].map((bytes) => this.packr.unpack(bytes) as Message);
    return { ...fields, metadata: null, length: reply[2], lastAccessed: Date.now(), context };
  }

  async appendMessage(id: string, message: MessageInput): Promise<number> {
    checkSessionId(id);
    const stored = checkMessage(message, MAX_MESSAGE_BYTES);
    const length = await this.client.sessionAppend(`s:${id}`, `m:${id}`, SESSION_TTL_MS, Buffer.from(this.packr.pack(stored)));
    if (length < 0) throw new Error(`no session ${id}`);
    return length;
  }

  async appendMessages(id: string, messages: readonly MessageInput[]): Promise<number> {
    checkSessionId(id);
    const stored = checkStoredMessages(messages, MAX_MESSAGE_BYTES);
    if (stored.length === 0) return (await this.get(id, { lastMessages: 0 }))?.length ?? Promise.reject(new Error(`no session ${id}`));
    const length = await this.client.sessionAppend(`s:${id}`, `m:${id}`, SESSION_TTL_MS, ...stored.map((m) => Buffer.from(this.packr.pack(m))));
    if (length < 0) throw new Error(`no session ${id}`);
    return length;
  }

  async spliceMessages(id: string, start: number, deleteCount: number, insert: readonly MessageInput[] = []): Promise<Message[]> {
    checkSessionId(id);
    const stored = checkStoredMessages(insert, MAX_MESSAGE_BYTES);
    const count = deleteCount === Number.POSITIVE_INFINITY ? -1 : deleteCount;
    const removed = await this.client.sessionSpliceBuffer(
      `s:${id}`,
      `m:${id}`,
      SESSION_TTL_MS,
      start,
      count,
      ...stored.map((m) => Buffer.from(this.packr.pack(m))),
    );
    if (removed === null) throw new Error(`no session ${id}`);
    return removed.map((bytes) => this.packr.unpack(bytes) as Message);
  }

  /**
   * Set-up only: creates `count` sessions of `messages(i)` each, one `appendMessages` per session (one
   * RPUSH) instead of one round trip per message.
   */
  async seed(count: number, messages: (session: number) => MessageInput[]): Promise<string[]> {
    return seedWithBatches(this, count, messages);
  }

  /** The server's own memory figure, for memory per session. */
  async usedMemory(): Promise<number> {
    const info = await this.client.info('memory');
    return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
  }

  async close(): Promise<void> {
    this.client.disconnect();
    this.server.kill();
    await new Promise((resolve) => (this.server.exitCode !== null ? resolve(undefined) : this.server.once('exit', resolve)));
  }
}
