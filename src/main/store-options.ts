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
 * `tls`, `connectTimeout`, `name`, `keyPrefix`... Functions cannot reach the shard workers and are refused;
 * so are the settings the engine owns (see `ENGINE_OWNED`).
 */
export interface RedisConnectionOptions {
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
  /**
   * Put in front of every key the engine writes (`<keyPrefix>ss:{<id>}:m`...), so that several apps share
   * one Redis: an engine sees only the sessions under its own prefix. No `{` or `}`: the session id stays
   * each key's Redis Cluster hash tag. @default '' (none)
   */
  keyPrefix?: string;
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
  /**
   * Whether the engine may turn on the keyspace notifications behind the `'expired'` events itself, with
   * `CONFIG SET notify-keyspace-events` (adding `E` and `x` to what is set): a global setting of the server,
   * which other apps sharing it see too, so it is left alone unless asked. Without it, set
   * `notify-keyspace-events` to include `Ex` on the server (`redis.conf`, or a managed service's parameters)
   * to get `'expired'` events; an engine that finds it unset warns once (`KEYSPACE_EVENTS_WARNING`).
   * @default false
   */
  configureKeyspaceEvents?: boolean;
}

/** The `store` option as resolved: what each shard worker connects with (`redis` carries every setting). */
export type ResolvedStore = Readonly<{ redis: ShardRedisConfig }>;

export { KEYSPACE_EVENTS_WARNING } from '../protocol/messages.js';

/** The keys of the `store` option. */
const STORE_KEYS = ['redis', 'configureKeyspaceEvents'];

/**
 * Settings the shard workers set themselves: timeouts and retries are what make calls reject
 * `ERR_STORE_UNAVAILABLE` within `storeTimeoutMs`.
 */
const ENGINE_OWNED = [
  'commandTimeout',
  'enableOfflineQueue',
  'maxRetriesPerRequest',
  'autoResendUnfulfilledCommands',
  'enableAutoPipelining',
  'lazyConnect',
  'retryStrategy',
  'reconnectOnError',
];

/** The longest key prefix, in UTF-8 bytes: it is part of every key, and of every key of a scan. */
const MAX_KEY_PREFIX_BYTES = 256;

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

/** Connection options without `keyPrefix`, and the prefix they gave (`''`: none). */
function connectionOptions(value: unknown, path: string): { options: Record<string, unknown>; keyPrefix: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`${path} must be an object, got ${describeValue(value)}`);
  }
  for (const key of ENGINE_OWNED) {
    if ((value as Record<string, unknown>)[key] !== undefined) {
      throw new InvalidArgumentError(`${path}.${key} is set by the engine (see the storeTimeoutMs option) and may not be given`);
    }
  }
  const { keyPrefix, ...options } = value as Record<string, unknown>;
  return { options: plainCopy(options, path) as Record<string, unknown>, keyPrefix: resolveKeyPrefix(keyPrefix, `${path}.keyPrefix`) };
}

/**
 * A key prefix: any text without braces. A brace would make the prefix (or part of it) the hash tag of
 * every key, putting every session in one Redis Cluster slot (one node) instead of spreading them.
 */
function resolveKeyPrefix(value: unknown, path: string): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') throw new InvalidArgumentError(`${path} must be a string, got ${describeValue(value)}`);
  if (/[{}]/.test(value)) {
    throw new InvalidArgumentError(
      `${path} may not contain '{' or '}' (the engine makes each session id its keys' hash tag, so that sessions spread over a cluster's slots), got ${describeValue(value)}`,
    );
  }
  if (Buffer.byteLength(value, 'utf8') > MAX_KEY_PREFIX_BYTES) {
    throw new InvalidArgumentError(`${path} must be at most ${MAX_KEY_PREFIX_BYTES} bytes (UTF-8), got ${describeValue(value)}`);
  }
  return value;
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
  const unknown = Object.keys(value).find((key) => !STORE_KEYS.includes(key));
  if (unknown !== undefined) throw new InvalidArgumentError(`options.store.${unknown} is not a store option (known: ${STORE_KEYS.join(', ')})`);
  const { redis, configureKeyspaceEvents = false } = value as { redis?: unknown; configureKeyspaceEvents?: unknown };
  if (redis === undefined) throw new InvalidArgumentError('options.store.redis is required (a redis:// URL, connection options, or { cluster })');
  if (typeof configureKeyspaceEvents !== 'boolean') {
    throw new InvalidArgumentError(`options.store.configureKeyspaceEvents must be a boolean, got ${describeValue(configureKeyspaceEvents)}`);
  }
  const path = 'options.store.redis';
  let resolved: ShardRedisConfig;
  if (typeof redis === 'string') {
    resolved = { kind: 'single', url: redisUrl(redis, path), options: {}, keyPrefix: '', configureKeyspaceEvents };
  } else if (typeof redis === 'object' && redis !== null && !Array.isArray(redis) && 'cluster' in redis) {
    const { cluster, redisOptions, ...rest } = redis as { cluster: unknown; redisOptions?: unknown };
    const extra = Object.keys(rest);
    if (extra.length > 0) {
      const hint = extra[0] === 'keyPrefix' ? ' (give keyPrefix in redisOptions, as ioredis takes it)' : '';
      throw new InvalidArgumentError(`${path}.${extra[0]} is not an option of a cluster (known: cluster, redisOptions)${hint}`);
    }
    if (!Array.isArray(cluster) || cluster.length === 0) {
      throw new InvalidArgumentError(`${path}.cluster must be a non-empty array of nodes, got ${describeValue(cluster)}`);
    }
    const { options, keyPrefix } = redisOptions === undefined ? { options: {}, keyPrefix: '' } : connectionOptions(redisOptions, `${path}.redisOptions`);
    resolved = {
      kind: 'cluster',
      nodes: cluster.map((node, i) => clusterNode(node, `${path}.cluster[${i}]`)),
      options,
      keyPrefix,
      configureKeyspaceEvents,
    };
  } else {
    resolved = { kind: 'single', url: null, ...connectionOptions(redis, path), configureKeyspaceEvents };
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
