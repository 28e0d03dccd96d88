/**
 * The naive route to worker threads: the engine's own shard worker file, driven with one piscina task
 * per operation (one `[op, id, arg]` triple encoded, run, decoded), with no batching. One single-thread
 * pool per shard, routed with the engine's `shardFor`, so only the batching differs from the engine.
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { shardFor, type MessageInput, type Session } from '../../src/index.js';
import { encode } from '../../src/protocol/codec.js';
import type { ShardConfig } from '../../src/protocol/messages.js';
import { OPS } from '../../src/protocol/ops.js';
import { decodeReply } from '../../src/protocol/reply.js';
import { shardSessionBudgetBytes, resolveOptions, shardSpinConfig } from '../../src/main/options.js';
import { newSessionId } from '../../src/main/session-ids.js';
import { checkSessionId, checkStoredMessage as checkMessage } from './stored-message.js';
import { CLEANUP_INTERVAL_MS, SESSION_TTL_MS, type SessionApi } from '../subject.js';

/** CREATE's argument for a bare session, as the engine sends it: `[capabilities, servers, cwd, title, owner]`. */
const BARE_INIT = [null, [], null, null, null];

const WORKER_FILE = fileURLToPath(new URL('../../src/shard/memory/worker.js', import.meta.url));

/** Operations per task when seeding; seeding is set-up, not measured, so it may batch. */
const SEED_BATCH = 2_048;

/** The shard workers driven one piscina task per operation. */
export class NaivePiscinaSessions implements SessionApi {
  private constructor(private readonly pools: Piscina[]) {}

  /** Starts `shards` single-thread pools on the engine's worker file. */
  static async start(shards: number): Promise<NaivePiscinaSessions> {
    // The engine's default: the same workers, woken the same way.
    const spin = shardSpinConfig(resolveOptions());
    const pools = Array.from({ length: shards }, (_, shard) => {
      const config: ShardConfig = {
        shard,
        maxSessionAgeMs: SESSION_TTL_MS,
        cleanupIntervalMs: CLEANUP_INTERVAL_MS,
        maxMessagesPerSession: 10_000,
        maxSessionBytes: shardSessionBudgetBytes(resolveOptions()),
        faultInjection: false,
        spin,
        // The naive route sleeps until each reply comes: nobody polls this counter.
        replies: new SharedArrayBuffer(4),
      };
      return new Piscina({ filename: WORKER_FILE, minThreads: 1, maxThreads: 1, idleTimeout: Infinity, atomics: 'disabled', workerData: config });
    });
    const naive = new NaivePiscinaSessions(pools);
    await Promise.all(pools.map((_, shard) => naive.runBatch(shard, [OPS.ping.code, null, null])));
    return naive;
  }

  /** The number of shards (pools). */
  get shards(): number {
    return this.pools.length;
  }

  async create(): Promise<string> {
    const id = newSessionId();
    await this.run(id, OPS.create.code, BARE_INIT);
    return id;
  }

  async get(id: string, options?: { lastMessages?: number }): Promise<Session | undefined> {
    checkSessionId(id);
    const session = await this.run(id, OPS.get.code, options?.lastMessages ?? -1);
    return session === null ? undefined : (session as Session);
  }

  async appendMessage(id: string, message: MessageInput): Promise<number> {
    checkSessionId(id);
    return (await this.run(id, OPS.append.code, checkMessage(message, 1_048_576))) as number;
  }

  /** Set-up only: creates `count` sessions of `messages(i)` each, many operations per task. */
  async seed(count: number, messages: (session: number) => MessageInput[]): Promise<string[]> {
    const ids = Array.from({ length: count }, () => newSessionId());
    const perShard: unknown[][] = this.pools.map(() => []);
    const sends: Promise<unknown>[] = [];
    const flush = (shard: number) => {
      sends.push(this.runBatch(shard, perShard[shard]!));
      perShard[shard] = [];
    };
    ids.forEach((id, i) => {
      const shard = shardFor(id, this.pools.length);
      const batch = perShard[shard]!;
      batch.push(OPS.create.code, id, BARE_INIT);
      for (const m of messages(i)) batch.push(OPS.append.code, id, checkMessage(m, 1_048_576));
      if (batch.length >= SEED_BATCH * 3) flush(shard);
    });
    for (const [shard] of this.pools.entries()) if (perShard[shard]!.length > 0) flush(shard);
    await Promise.all(sends);
    return ids;
  }

  async close(): Promise<void> {
    await Promise.all(this.pools.map((pool) => pool.destroy()));
  }

  private async run(id: string, op: number, arg: unknown): Promise<unknown> {
    return (await this.runBatch(shardFor(id, this.pools.length), [op, id, arg]))[0];
  }

  private async runBatch(shard: number, triples: unknown[]): Promise<unknown[]> {
    const bytes = encode(triples);
    const reply = decodeReply(await this.pools[shard]!.run(bytes, { transferList: [bytes.buffer as ArrayBuffer] }));
    if (reply.errors !== null) throw new Error(String(reply.errors[2]));
    return reply.results;
  }
}
