/**
 * Sessions in a Redis the benchmark starts itself (loopback, a free port, no persistence), reached
 * through ioredis with auto-pipelining. A session is two keys: its fields as one msgpack value and its
 * messages as a list of msgpack values, so an append is one RPUSH and `lastMessages` one LRANGE. Idle
 * expiry is Redis's own: every access refreshes both keys' TTL, inside one Lua call per operation.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { Packr } from 'msgpackr';
import type { Message, MessageInput, Session } from '../../src/index.js';
import { newSessionId } from '../../src/main/session-ids.js';
import { checkSessionId, checkStoredMessage as checkMessage } from './stored-message.js';
import { SESSION_TTL_MS, type SessionApi } from '../subject.js';

const GET_LUA = `
local fields = redis.call('GET', KEYS[1])
if not fields then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
if ARGV[2] == 'none' then return {fields, {}} end
return {fields, redis.call('LRANGE', KEYS[2], ARGV[2], -1)}`;

const APPEND_LUA = `
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return -1 end
local n = redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return n`;

interface SessionScripts {
  sessionGetBuffer(fields: string, messages: string, ttl: number, start: string): Promise<[Buffer, Buffer[]] | null>;
  sessionAppend(fields: string, messages: string, ttl: number, message: Buffer): Promise<number>;
}

type StoredFields = Pick<Session, 'id' | 'createdAt' | 'clientCapabilities' | 'mcpServers' | 'cwd' | 'title' | 'updatedAt' | 'owner'>;

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
export class RedisSessions implements SessionApi {
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
    return { ...fields, metadata: null, length: context.length, lastAccessed: Date.now(), context };
  }

  async appendMessage(id: string, message: MessageInput): Promise<number> {
    checkSessionId(id);
    const stored = checkMessage(message, 1_048_576);
    const length = await this.client.sessionAppend(`s:${id}`, `m:${id}`, SESSION_TTL_MS, Buffer.from(this.packr.pack(stored)));
    if (length < 0) throw new Error(`no session ${id}`);
    return length;
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
