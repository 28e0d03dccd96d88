/**
 * The `store` option: where the sessions live when not in the shards' memory (Redis or Redis Cluster).
 * Its value crosses into every shard worker, so it must be plain data: functions are refused here, and the
 * connection settings the engine relies on are refused too, rather than silently overridden.
 */
import { createRequire } from 'node:module';
import type { ShardRedisConfig } from '../protocol/messages.js';
import { InvalidArgumentError } from './errors.js';
import { describeValue } from './validation.js';

/**
 * ioredis connection options (`RedisOptions`) as plain data: `host`, `port`, `username`, `password`, `db`,
 * `tls`, `connectTimeout`, `name`... Functions cannot reach the shard workers and are refused; so are
 * the settings the engine owns (see `ENGINE_OWNED`).
 */
export interface RedisConnectionOptions {
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
  [option: string]: unknown;
}

/** A Redis Cluster: its seed nodes (`"host:port"` or `{ host, port }`) and the options of each node's connection. */
export interface RedisClusterOptions {
  cluster: (string | { host: string; port: number })[];
  redisOptions?: RedisConnectionOptions;
}

/** The `store` option. */
export interface StoreOptions {
  /** A `redis://` or `rediss://` URL, connection options, or a cluster. */
  redis: string | RedisConnectionOptions | RedisClusterOptions;
}

/** The `store` option as resolved: what each shard worker connects with. */
export type ResolvedStore = Readonly<{ redis: ShardRedisConfig }>;

/**
 * Settings the shard workers set themselves: timeouts and retries are what make calls reject
 * `ERR_STORE_UNAVAILABLE` within `storeTimeoutMs`, and a key prefix would hide the sessions from `list()`.
 */
const ENGINE_OWNED = [
  'commandTimeout',
  'enableOfflineQueue',
  'maxRetriesPerRequest',
  'autoResendUnfulfilledCommands',
  'enableAutoPipelining',
  'lazyConnect',
  'keyPrefix',
  'retryStrategy',
  'reconnectOnError',
];

const MAX_DEPTH = 8;

/** Copies plain data, refusing what cannot cross into a worker; `path` names the option in messages. */
function plainCopy(value: unknown, path: string, depth = 0): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidArgumentError(`${path} must be a finite number, got ${describeValue(value)}`);
    return value;
  }
  if (depth >= MAX_DEPTH) throw new InvalidArgumentError(`${path} is nested deeper than ${MAX_DEPTH} levels (or is circular)`);
  if (Array.isArray(value)) return value.map((item, i) => plainCopy(item, `${path}[${i}]`, depth + 1));
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (typeof value === 'object' && value !== undefined) {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      const copy: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        if (item !== undefined) copy[key] = plainCopy(item, `${path}.${key}`, depth + 1);
      }
      return copy;
    }
  }
  throw new InvalidArgumentError(`${path} must be plain data (it is sent to every shard worker), got ${describeValue(value)}`);
}

function connectionOptions(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`${path} must be an object, got ${describeValue(value)}`);
  }
  for (const key of ENGINE_OWNED) {
    if ((value as Record<string, unknown>)[key] !== undefined) {
      throw new InvalidArgumentError(`${path}.${key} is set by the engine (see the storeTimeoutMs option) and may not be given`);
    }
  }
  return plainCopy(value, path) as Record<string, unknown>;
}

function redisUrl(value: string, path: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`${path} must be a redis:// or rediss:// URL, got ${describeValue(value)}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new InvalidArgumentError(`${path} must be a redis:// or rediss:// URL, got ${describeValue(value)}`);
  }
  return value;
}

function clusterNode(value: unknown, path: string): { host: string; port: number } | string {
  if (typeof value === 'string') {
    const match = /^(.+):(\d{1,5})$/.exec(value);
    if (match === null || Number(match[2]) < 1 || Number(match[2]) > 65_535) {
      throw new InvalidArgumentError(`${path} must be "host:port" or { host, port }, got ${describeValue(value)}`);
    }
    return value;
  }
  const node = value as { host?: unknown; port?: unknown } | null;
  if (
    typeof node !== 'object' ||
    node === null ||
    typeof node.host !== 'string' ||
    node.host.length === 0 ||
    !Number.isInteger(node.port) ||
    (node.port as number) < 1 ||
    (node.port as number) > 65_535
  ) {
    throw new InvalidArgumentError(`${path} must be "host:port" or { host, port }, got ${describeValue(value)}`);
  }
  return { host: node.host, port: node.port as number };
}

/** Validates the `store` option; `null` keeps the sessions in the shards' memory. */
export function resolveStore(value: unknown): ResolvedStore | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(`options.store must be an object or null, got ${describeValue(value)}`);
  }
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== 'redis') {
    throw new InvalidArgumentError(`options.store must be { redis: ... } (known: redis), got keys ${keys.join(', ') || '(none)'}`);
  }
  const redis = (value as { redis: unknown }).redis;
  const path = 'options.store.redis';
  let resolved: ShardRedisConfig;
  if (typeof redis === 'string') {
    resolved = { kind: 'single', url: redisUrl(redis, path), options: {} };
  } else if (typeof redis === 'object' && redis !== null && !Array.isArray(redis) && 'cluster' in redis) {
    const { cluster, redisOptions, ...rest } = redis as { cluster: unknown; redisOptions?: unknown };
    const extra = Object.keys(rest);
    if (extra.length > 0) throw new InvalidArgumentError(`${path}.${extra[0]} is not an option of a cluster (known: cluster, redisOptions)`);
    if (!Array.isArray(cluster) || cluster.length === 0) {
      throw new InvalidArgumentError(`${path}.cluster must be a non-empty array of nodes, got ${describeValue(cluster)}`);
    }
    resolved = {
      kind: 'cluster',
      nodes: cluster.map((node, i) => clusterNode(node, `${path}.cluster[${i}]`)),
      options: redisOptions === undefined ? {} : connectionOptions(redisOptions, `${path}.redisOptions`),
    };
  } else {
    resolved = { kind: 'single', url: null, options: connectionOptions(redis, path) };
  }
  assertIoredisInstalled();
  return Object.freeze({ redis: resolved });
}

/** ioredis is an optional peer: say so at start, not as a module error from inside a worker. */
function assertIoredisInstalled(): void {
  try {
    createRequire(import.meta.url).resolve('ioredis');
  } catch {
    throw new InvalidArgumentError('options.store needs the ioredis package (an optional peer dependency): npm install ioredis');
  }
}
