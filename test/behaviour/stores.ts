/**
 * The stores the behaviour suite runs on, each a factory of engines: the shards' memory, the same with
 * persistence (a temp directory; `restart` closes the engine and starts another on the directory), and
 * Redis (a private `redis-server`; `restart` starts another engine on the same server).
 *
 * Every engine a factory starts is closed after the test (`closeEngines`, called by `useStores`), whatever
 * its outcome. Small engines: two shards.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { SessionEngine, type SessionEngineOptions } from '../../dist/src/index.js';
import { tempDir } from '../persistence/helpers.js';
import { hasRedis, RedisServer } from '../redis/redis-server.js';

/** One store, as the suite sees it. */
export interface Store {
  name: string;
  /** Why the store's tests are skipped here (`null`: they run). */
  skip: string | null;
  /** Whether what is stored outlives the engine (`restart` then gives an engine holding the same sessions). */
  durable: boolean;
  /** A fresh engine on this store (a fresh directory, with persistence). */
  start(extra?: SessionEngineOptions): Promise<SessionEngine>;
  /**
   * Closes `engine` and starts another on the same data, with the same options; a store that keeps
   * nothing beyond its engine (memory) returns `engine` itself.
   */
  restart(engine: SessionEngine): Promise<SessionEngine>;
}

const open = new Set<SessionEngine>();
const optionsOf = new WeakMap<SessionEngine, SessionEngineOptions>();

async function track(options: SessionEngineOptions): Promise<SessionEngine> {
  const engine = await SessionEngine.start(options);
  open.add(engine);
  optionsOf.set(engine, options);
  return engine;
}

async function closeAndStartAgain(engine: SessionEngine): Promise<SessionEngine> {
  const options = optionsOf.get(engine)!;
  open.delete(engine);
  await engine.close();
  return track(options);
}

let redis: RedisServer | null = null;

const SHARDS = 2;

export const STORES: Store[] = [
  {
    name: 'memory',
    skip: null,
    durable: false,
    start: (extra = {}) => track({ shards: SHARDS, ...extra }),
    restart: async (engine) => engine,
  },
  {
    name: 'memory with persistence',
    skip: null,
    durable: true,
    start: (extra = {}) => track({ shards: SHARDS, ...extra, persistence: { dir: tempDir(), fsync: 'no' } }),
    restart: closeAndStartAgain,
  },
  {
    name: 'Redis',
    skip: hasRedis ? null : 'redis-server is not installed (CI installs it and never skips)',
    durable: true,
    start: (extra = {}) => track({ shards: SHARDS, ...extra, store: { redis: redis!.url }, storeTimeoutMs: 5_000 }),
    restart: closeAndStartAgain,
  },
];

/** Starts the Redis server before the file's tests and stops it after; closes every engine after each test. */
export function useStores(): void {
  beforeAll(async () => {
    if (hasRedis) redis = await RedisServer.start();
  }, 60_000);
  afterEach(async () => {
    const engines = [...open];
    open.clear();
    await Promise.allSettled(engines.map((engine) => engine.close()));
  });
  afterAll(async () => {
    await redis?.stop();
    redis = null;
  });
}
