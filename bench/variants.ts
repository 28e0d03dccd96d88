/**
 * The variants one run compares, and how each is started. Engine shard counts are 1, 2 and the core
 * count, deduplicated; the count `SessionEngine.start()` picks by itself is started with no `shards`
 * option at all and marked as the default.
 */
import { availableParallelism } from 'node:os';
import { defaultShardCount, SessionEngine } from '../src/index.js';
import { LruSessionManager } from './baselines/lru-session-manager.js';
import { MapSessionManager } from './baselines/map-session-manager.js';
import { NaivePiscinaSessions } from './baselines/naive-piscina.js';
import { redisAvailable, RedisSessions, seedWithBatches, startRedisServer } from './baselines/redis-baseline.js';
import type { AgentApi } from './agent-turns.js';
import type { SessionApi } from './subject.js';
import type { Seedable } from './workloads.js';

/** One benchmarked variant. */
export interface Variant {
  id: string;
  label: string;
  kind: 'engine' | 'engine-redis' | 'map' | 'lru' | 'naive-piscina' | 'redis';
  /** Worker threads it uses (engine, naive piscina). */
  shards?: number;
  /** The engine as `SessionEngine.start()` configures it: the one the targets judge. */
  isDefault?: boolean;
  /** Whether it has structured messages and history edits (`AgentApi`): the agent workloads need them. */
  structured: boolean;
  /** Why it does not run here, if it does not. */
  skipped?: string;
  /** `cleanupIntervalMs` undefined: the engine's default. */
  start(maxSessions: number, cleanupIntervalMs?: number): Promise<SessionApi>;
}

/** Every variant, in report order. */
export function allVariants(): Variant[] {
  const defaultShards = defaultShardCount();
  const counts = [...new Set([1, 2, availableParallelism(), defaultShards])].sort((a, b) => a - b);
  const engines: Variant[] = counts.map((shards) => {
    const isDefault = shards === defaultShards;
    return {
      id: isDefault ? 'engine-default' : `engine-${shards}`,
      label: isDefault ? `engine shards=${shards} (default)` : `engine shards=${shards}`,
      kind: 'engine',
      shards,
      isDefault,
      structured: true,
      // The default is started exactly as a user would: without a shards option.
      start: (maxSessions, cleanupIntervalMs) =>
        SessionEngine.start(isDefault ? { maxSessions, cleanupIntervalMs } : { shards, maxSessions, cleanupIntervalMs }),
    };
  });
  const hasRedis = redisAvailable();
  return [
    ...engines,
    { id: 'map-live', label: 'Map, live object', kind: 'map', structured: true, start: async () => new MapSessionManager('live') },
    { id: 'map-clone', label: 'Map, structuredClone', kind: 'map', structured: true, start: async () => new MapSessionManager('structuredClone') },
    { id: 'map-copy', label: 'Map, hand copy', kind: 'map', structured: true, start: async () => new MapSessionManager('hand-copy') },
    { id: 'lru', label: 'lru-cache ttl+updateAgeOnGet', kind: 'lru', structured: true, start: async (maxSessions) => new LruSessionManager(maxSessions) },
    {
      // One pool per core: one task per op gains from every thread it can get, so it is given them all.
      id: 'naive-piscina',
      label: `piscina 1 task/op, shards=${availableParallelism()}`,
      kind: 'naive-piscina',
      structured: false,
      shards: availableParallelism(),
      start: () => NaivePiscinaSessions.start(availableParallelism()),
    },
    {
      id: 'engine-redis',
      label: `engine on Redis, shards=${defaultShardCount(true)}`,
      kind: 'engine-redis',
      structured: true,
      shards: defaultShardCount(true),
      skipped: hasRedis ? undefined : 'redis-server is not on PATH',
      start: startEngineOnRedis,
    },
    {
      id: 'redis',
      label: 'Redis, ioredis auto-pipelining',
      kind: 'redis',
      structured: true,
      skipped: hasRedis ? undefined : 'redis-server is not on PATH',
      start: () => RedisSessions.start(),
    },
  ];
}

/** The default engine with `store: { redis }`, on a private redis-server that closing it stops. */
async function startEngineOnRedis(): Promise<SessionApi> {
  const server = await startRedisServer();
  let engine: SessionEngine;
  try {
    engine = await SessionEngine.start({ store: { redis: `redis://127.0.0.1:${server.port}` } });
  } catch (error) {
    server.stop();
    throw error;
  }
  const api: SessionApi & AgentApi & Seedable = {
    create: () => engine.create(),
    get: (id, options) => engine.get(id, options),
    getMessagesJson: (id, options) => engine.getMessagesJson(id, options),
    appendMessage: (id, message) => engine.appendMessage(id, message),
    appendMessages: (id, messages) => engine.appendMessages(id, messages),
    spliceMessages: (id, start, deleteCount, insert) => engine.spliceMessages(id, start, deleteCount, insert),
    // Set-up only, as the raw ioredis baseline seeds: one appendMessages per session, not one round trip per message.
    seed: (count, messages) => seedWithBatches(api, count, messages),
    close: async () => {
      await engine.close();
      server.stop();
    },
  };
  return api;
}
