/** The `store` and `storeTimeoutMs` options: validated on the caller's thread, naming the option. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/main/errors.js';
import { resolveOptions } from '../../src/main/options.js';
import { withExpiredEvents } from '../../src/shard/redis/expiry-listener.js';
import { idOfMetaKey, logKey, metaKey } from '../../src/shard/redis/keys.js';

function refusal(options: unknown): string {
  try {
    resolveOptions(options);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return (error as Error).message;
  }
  throw new Error('accepted');
}

describe('the store option', () => {
  it('defaults to the shards memory and a 5 s store timeout', () => {
    expect(resolveOptions()).toMatchObject({ store: null, storeTimeoutMs: 5_000 });
  });

  it('accepts a URL, connection options, and a cluster', () => {
    expect(resolveOptions({ store: { redis: 'redis://127.0.0.1:6379/2' } }).store).toEqual({
      redis: { kind: 'single', url: 'redis://127.0.0.1:6379/2', options: {}, keyPrefix: '', configureKeyspaceEvents: false },
    });
    expect(resolveOptions({ store: { redis: { host: 'h', port: 1, tls: { servername: 'h' } } } }).store).toEqual({
      redis: { kind: 'single', url: null, options: { host: 'h', port: 1, tls: { servername: 'h' } }, keyPrefix: '', configureKeyspaceEvents: false },
    });
    expect(resolveOptions({ store: { redis: { cluster: ['127.0.0.1:7000', { host: 'b', port: 7001 }], redisOptions: { password: 'p' } } } }).store).toEqual({
      redis: {
        kind: 'cluster',
        nodes: ['127.0.0.1:7000', { host: 'b', port: 7001 }],
        options: { password: 'p' },
        keyPrefix: '',
        configureKeyspaceEvents: false,
      },
    });
  });

  it('refuses what cannot work, by name', () => {
    expect(refusal({ store: 'redis://x' })).toMatch(/options\.store must be an object/);
    expect(refusal({ store: { redis: 'http://x' } })).toMatch(/options\.store\.redis must be a redis:\/\//);
    expect(refusal({ store: { memcached: 'x' } })).toMatch(/options\.store\.memcached is not a store option \(known: redis, configureKeyspaceEvents\)/);
    expect(refusal({ store: {} })).toMatch(/options\.store\.redis is required/);
    expect(refusal({ store: { redis: { retryStrategy: () => 1 } } })).toMatch(/options\.store\.redis\.retryStrategy is set by the engine/);
    expect(refusal({ store: { redis: { commandTimeout: 10 } } })).toMatch(/commandTimeout is set by the engine/);
    expect(refusal({ store: { redis: { tls: { checkServerIdentity: () => undefined } } } })).toMatch(
      /options\.store\.redis\.tls\.checkServerIdentity must be plain data/,
    );
    expect(refusal({ store: { redis: { cluster: [] } } })).toMatch(/cluster must be a non-empty array/);
    expect(refusal({ store: { redis: { cluster: ['nohost'] } } })).toMatch(/cluster\[0\] must be "host:port"/);
    expect(refusal({ store: { redis: { cluster: [{ host: 'a', port: 0 }] } } })).toMatch(/cluster\[0\]/);
    expect(refusal({ store: { redis: { cluster: ['a:1'], nodes: [] } } })).toMatch(/nodes is not an option of a cluster/);
    expect(refusal({ store: { redis: 'redis://x' }, persistence: { dir: '/tmp/x' } })).toMatch(/persistence cannot be used with options\.store/);
    expect(refusal({ storeTimeoutMs: 0 })).toMatch(/options\.storeTimeoutMs must be an integer/);
    expect(refusal({ store: { redis: 'redis://x' }, storeTimeoutMs: 30_000 })).toMatch(/storeTimeoutMs \(30000\) must be below options\.shardTimeoutMs/);
  });
});

describe('Redis keys and notification flags', () => {
  const id = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
  it('tags both keys of a session with its id, so that they share a cluster slot', () => {
    expect(metaKey(id)).toBe(`ss:{${id}}:m`);
    expect(logKey(id)).toBe(`ss:{${id}}:l`);
    expect(idOfMetaKey(metaKey(id))).toBe(id);
    expect(idOfMetaKey(logKey(id))).toBeNull();
    expect(idOfMetaKey('ss:{nope}:m')).toBeNull();
  });

  it('adds only the flags expired keyevents need', () => {
    expect(withExpiredEvents('')).toBe('Ex');
    expect(withExpiredEvents('Kg')).toBe('KgEx');
    expect(withExpiredEvents('AE')).toBe('AE');
    expect(withExpiredEvents('Ex')).toBe('Ex');
  });
});
