/**
 * The engine on Redis against raw ioredis with auto-pipelining, on the same mixed workload, in one run
 * against one `redis-server` this script starts (loopback, a free port, no persistence) and stops.
 *
 * Raw ioredis runs the very scripts the Redis shards run (same keys, same atomicity and limits) from the
 * host's own thread and decodes what they return there; the engine routes the same calls through its shard
 * workers. Both are measured for throughput and for the host's event-loop delay while they run.
 *
 *   node dist/bench/redis-engine.js [--ops 60000] [--sessions 2000] [--window 512] [--shards N]
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { decode, encode, FORMAT_VERSION, MESSAGE_STRUCTURE } from '../src/protocol/codec.js';
import { MsgpackWriter } from '../src/protocol/msgpack-writer.js';
import { SessionEngine } from '../src/index.js';
import { newSessionId } from '../src/main/session-ids.js';
import { logKey, metaKey } from '../src/shard/redis/keys.js';
import { SCRIPTS } from '../src/shard/redis/lua-scripts.js';
import { redisAvailable, startRedisServer } from './baselines/redis-baseline.js';

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '60000' },
    sessions: { type: 'string', default: '2000' },
    window: { type: 'string', default: '512' },
    shards: { type: 'string' },
  },
});
const OPS = Number(values.ops);
const SESSIONS = Number(values.sessions);
const WINDOW = Number(values.window);
const TTL_MS = 3_600_000;
const CONTENT = 'a message of about a hundred bytes, as an agent host would append them by the thousand '.slice(0, 100);

/** The mixed workload: 60% reads of the newest 20 messages, 30% appends, 10% touches. */
type Step = 'get' | 'append' | 'touch';
function stepOf(n: number): Step {
  const r = n % 10;
  return r < 6 ? 'get' : r < 9 ? 'append' : 'touch';
}

interface Subject {
  create(): Promise<string>;
  get(id: string): Promise<unknown>;
  append(id: string): Promise<number>;
  touch(id: string): Promise<boolean>;
}

interface Result {
  name: string;
  opsPerSec: number;
  p99LoopDelayMs: number;
  maxLoopDelayMs: number;
}

async function measure(name: string, subject: Subject): Promise<Result> {
  const ids: string[] = [];
  for (let i = 0; i < SESSIONS; i += 256) {
    ids.push(...(await Promise.all(Array.from({ length: Math.min(256, SESSIONS - i) }, () => subject.create()))));
  }
  // Each session starts with some history, so reads return real contexts.
  await Promise.all(ids.flatMap((id) => Array.from({ length: 10 }, () => subject.append(id))));
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < OPS) {
      const n = next++;
      const id = ids[(n * 7919) % ids.length]!;
      const step = stepOf(n);
      if (step === 'get') await subject.get(id);
      else if (step === 'append') await subject.append(id);
      else await subject.touch(id);
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
  const seconds = (performance.now() - started) / 1_000;
  delay.disable();
  return { name, opsPerSec: Math.round(OPS / seconds), p99LoopDelayMs: delay.percentile(99) / 1e6, maxLoopDelayMs: delay.max / 1e6 };
}

/** The engine's default maxSessionBytes, which the scripts check as the engine's calls do. */
const SESSION_BYTES = 64 * 1_048_576;

interface Scripts {
  ssCreate(meta: string, log: string, ...args: (string | number | Buffer)[]): Promise<[number, number]>;
  ssGetBuffer(meta: string, log: string, now: number, ttl: number, last: number, maxSessionBytes: number): Promise<[Buffer[], Buffer[]] | null>;
  ssAppend(
    meta: string,
    log: string,
    now: number,
    ttl: number,
    record: Buffer,
    bytes: number,
    max: number,
    maxBytes: number,
    maxSessionBytes: number,
  ): Promise<[number, number]>;
  ssTouch(meta: string, log: string, now: number, ttl: number): Promise<number>;
}

/** Raw ioredis, auto-pipelined, on the host's thread: the same scripts, results decoded here. */
function rawIoredis(url: string): { subject: Subject; close(): void } {
  const client = new Redis(url, { enableAutoPipelining: true });
  for (const [name, script] of Object.entries(SCRIPTS)) client.defineCommand(name, script);
  const scripts = client as unknown as Scripts;
  const record = new MsgpackWriter(256);
  const empty = Buffer.from(encode(null));
  const noServers = Buffer.from(encode([]));
  return {
    close: () => client.disconnect(),
    subject: {
      async create() {
        const id = newSessionId();
        await scripts.ssCreate(metaKey(id), logKey(id), Date.now(), TTL_MS, FORMAT_VERSION, empty, noServers, SESSION_BYTES);
        return id;
      },
      async get(id) {
        const reply = await scripts.ssGetBuffer(metaKey(id), logKey(id), Date.now(), TTL_MS, 20, SESSION_BYTES);
        if (reply === null) return undefined;
        const [flat, log] = reply;
        const fields: Record<string, Buffer> = {};
        for (let i = 0; i < flat.length; i += 2) fields[flat[i]!.toString()] = flat[i + 1]!;
        return {
          id,
          createdAt: Number(fields.c),
          lastAccessed: Number(fields.a),
          context: log.map((bytes) => decode(bytes)),
          clientCapabilities: decode(fields.cap!),
          mcpServers: decode(fields.srv!),
        };
      },
      async append(id) {
        record.reset();
        record.recordHeader(MESSAGE_STRUCTURE);
        record.string('user');
        record.string(CONTENT);
        record.number(Date.now());
        const [status, length] = await scripts.ssAppend(
          metaKey(id),
          logKey(id),
          Date.now(),
          TTL_MS,
          Buffer.from(record.finish()),
          CONTENT.length,
          1e9,
          1 << 20,
          SESSION_BYTES,
        );
        if (status !== 0) throw new Error(`append failed: ${status}`);
        return length;
      },
      async touch(id) {
        return (await scripts.ssTouch(metaKey(id), logKey(id), Date.now(), TTL_MS)) === 1;
      },
    },
  };
}

function engineSubject(engine: SessionEngine): Subject {
  return {
    create: () => engine.create(),
    get: (id) => engine.get(id, { lastMessages: 20 }),
    append: (id) => engine.appendMessage(id, { role: 'user', content: CONTENT }),
    touch: (id) => engine.touch(id),
  };
}

async function main(): Promise<void> {
  if (!redisAvailable()) {
    console.log('redis-engine: skipped, redis-server is not installed');
    return;
  }
  const server = await startRedisServer();
  const url = `redis://127.0.0.1:${server.port}`;
  try {
    const results: Result[] = [];
    const raw = rawIoredis(url);
    try {
      results.push(await measure('raw ioredis (auto-pipelining, same scripts)', raw.subject));
    } finally {
      raw.close();
    }
    const shards = values.shards === undefined ? undefined : Number(values.shards);
    const engine = await SessionEngine.start({ store: { redis: url }, ...(shards === undefined ? {} : { shards }) });
    try {
      results.push(await measure(`session-shards on Redis (${engine.options.shards} shards)`, engineSubject(engine)));
    } finally {
      await engine.close();
    }
    console.log(`mixed workload: ${OPS} ops (60% get of the newest 20, 30% append, 10% touch) over ${SESSIONS} sessions, ${WINDOW} in flight`);
    console.log('| subject | ops/s | event-loop delay p99 (ms) | max (ms) |');
    console.log('|---|---:|---:|---:|');
    for (const r of results) console.log(`| ${r.name} | ${r.opsPerSec} | ${r.p99LoopDelayMs.toFixed(1)} | ${r.maxLoopDelayMs.toFixed(1)} |`);
    console.log(`engine / raw: ${((100 * results[1]!.opsPerSec) / results[0]!.opsPerSec).toFixed(0)}% (target: at least 80%)`);
  } finally {
    server.stop();
  }
}

await main();
