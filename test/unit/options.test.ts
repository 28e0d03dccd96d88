import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { availableMemoryBytes, defaultShardCount, defaultShardHeapMb, resolveOptions, shardSpinConfig } from '../../src/main/options.js';
import { InvalidArgumentError } from '../../src/main/errors.js';

const INTEGER_OPTIONS = {
  shards: { min: 1, max: 256 },
  maxSessionAgeMs: { min: 1, max: Number.MAX_SAFE_INTEGER },
  cleanupIntervalMs: { min: 1, max: 2_147_483_647 },
  maxSessions: { min: 1, max: 2 ** 32 },
  maxMessagesPerSession: { min: 1, max: 2 ** 32 },
  maxMessageBytes: { min: 1, max: 512 * 1_048_576 },
  maxSessionBytes: { min: 1_024, max: 2 ** 32 },
  maxFieldBytes: { min: 64, max: 64 * 1_048_576 },
  maxMetadataBytes: { min: 2, max: 64 * 1_048_576 },
  maxPendingOpsPerShard: { min: 1, max: 2 ** 32 },
  maxBatchOps: { min: 1, max: 1_000_000 },
  shardHeapMb: { min: 16, max: 1_048_576 },
  shardTimeoutMs: { min: 100, max: 2_147_483_647 },
  shardSpinUs: { min: 0, max: 10_000 },
  replySpinUs: { min: 0, max: 10_000 },
  callTimeoutMs: { min: 0, max: 2_147_483_647 },
} as const;

type IntegerOption = keyof typeof INTEGER_OPTIONS;
const NAMES = Object.keys(INTEGER_OPTIONS) as IntegerOption[];

function rejection(options: unknown): InvalidArgumentError {
  try {
    resolveOptions(options);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT');
    return error as InvalidArgumentError;
  }
  throw new Error(`resolveOptions accepted ${String(options)}`);
}

describe('resolveOptions', () => {
  it('fills in the documented defaults', () => {
    expect(resolveOptions()).toEqual({
      shards: defaultShardCount(),
      maxSessionAgeMs: 3_600_000,
      cleanupIntervalMs: 300_000,
      maxSessions: 1_000_000,
      maxMessagesPerSession: 10_000,
      maxMessageBytes: 1_048_576,
      maxSessionBytes: 67_108_864,
      maxFieldBytes: 1_048_576,
      maxMetadataBytes: 65_536,
      maxPendingOpsPerShard: 100_000,
      maxBatchOps: 2_048,
      shardHeapMb: defaultShardHeapMb(defaultShardCount(), availableMemoryBytes()),
      shardTimeoutMs: 30_000,
      shardSpinUs: 200,
      replySpinUs: 200,
      faultInjection: false,
      persistence: null,
      store: null,
      storeTimeoutMs: 5_000,
      callTimeoutMs: 0,
      logger: null,
    });
  });

  it('has production-sized default limits (at least 1 000 000 sessions, 10 000 messages, 1 MiB, 100 000 pending ops)', () => {
    const options = resolveOptions({});
    expect(options.maxSessions).toBeGreaterThanOrEqual(1_000_000);
    expect(options.maxMessagesPerSession).toBeGreaterThanOrEqual(10_000);
    expect(options.maxMessageBytes).toBeGreaterThanOrEqual(1_048_576);
    expect(options.maxPendingOpsPerShard).toBeGreaterThanOrEqual(100_000);
  });

  it('defaults shards to one per core but the one the host thread needs, and at least one', () => {
    expect(defaultShardCount()).toBe(Math.max(1, availableParallelism() - 1));
    expect(resolveOptions().shards).toBe(defaultShardCount());
  });

  it('defaults shards to one per core with a Redis store, and keeps a shards option given', () => {
    expect(resolveOptions({ store: { redis: 'redis://127.0.0.1:6379' } }).shards).toBe(availableParallelism());
    expect(resolveOptions({ store: { redis: 'redis://127.0.0.1:6379' }, shards: 3 }).shards).toBe(3);
  });

  it('lets as many shards spin at once as there are cores but one, on one board shared by the shards', () => {
    const spin = shardSpinConfig(resolveOptions({ shardSpinUs: 150 }));
    expect(spin.us).toBe(150);
    expect(spin.spinners).toBe(availableParallelism() - 1);
    expect(spin.board.byteLength).toBe(4);
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(resolveOptions({ shards: 2 }))).toBe(true);
  });

  it('accepts the small values tests use (a TTL of a few hundred ms, a sweep every 100 ms)', () => {
    expect(resolveOptions({ maxSessionAgeMs: 300, cleanupIntervalMs: 100 })).toMatchObject({ maxSessionAgeMs: 300, cleanupIntervalMs: 100 });
  });

  it.each(NAMES)('accepts %s at its bounds', (name) => {
    const { min, max } = INTEGER_OPTIONS[name];
    expect(resolveOptions({ [name]: min })[name]).toBe(min);
    expect(resolveOptions({ [name]: max })[name]).toBe(max);
  });

  const badValues: [string, unknown, string][] = [
    ['a string', '5', '"5"'],
    ['a fraction', 1.5, '1.5'],
    ['NaN', Number.NaN, 'NaN'],
    ['Infinity', Number.POSITIVE_INFINITY, 'Infinity'],
    ['null', null, 'null'],
    ['a boolean', true, 'true'],
    ['a bigint', 5n, '5n'],
    ['an object', { value: 5 }, 'an object'],
  ];

  for (const name of NAMES) {
    describe(`options.${name}`, () => {
      it.each(badValues)('is refused as %s, naming the option and the value', (_what, value, shown) => {
        const error = rejection({ [name]: value });
        expect(error.message).toContain(`options.${name}`);
        expect(error.message).toContain(shown);
      });

      it('is refused below its minimum, naming the option and the value', () => {
        const value = INTEGER_OPTIONS[name].min - 1;
        const error = rejection({ [name]: value });
        expect(error.message).toContain(`options.${name}`);
        expect(error.message).toContain(String(value));
      });

      it('is refused above its maximum, naming the option and the value', () => {
        const value = INTEGER_OPTIONS[name].max + 1;
        const error = rejection({ [name]: value });
        expect(error.message).toContain(`options.${name}`);
        expect(error.message).toContain(String(value));
      });
    });
  }

  it('refuses a zero or negative maxSessionAgeMs and cleanupIntervalMs', () => {
    for (const name of ['maxSessionAgeMs', 'cleanupIntervalMs'] as const) {
      for (const value of [0, -1, -1000]) expect(rejection({ [name]: value }).message).toContain(`options.${name}`);
    }
  });

  it('refuses a non-boolean faultInjection, naming the option and the value', () => {
    const error = rejection({ faultInjection: 'yes' });
    expect(error.message).toContain('options.faultInjection');
    expect(error.message).toContain('"yes"');
    expect(rejection({ faultInjection: 1 }).message).toContain('1');
  });

  it('refuses an unknown option (a typo) by name', () => {
    const error = rejection({ maxSession: 5 });
    expect(error.message).toContain('options.maxSession');
  });

  it.each([
    ['null', null],
    ['a number', 3],
    ['a string', 'shards=2'],
    ['an array', [1]],
  ])('refuses options given as %s', (_what, value) => {
    expect(rejection(value).message).toContain('options');
  });
});

describe('options.idleTimeoutMs', () => {
  it('is maxSessionAgeMs under a name that says what it is: engine.options shows maxSessionAgeMs', () => {
    const options = resolveOptions({ idleTimeoutMs: 60_000 });
    expect(options.maxSessionAgeMs).toBe(60_000);
    expect(options).not.toHaveProperty('idleTimeoutMs');
  });

  it('is refused together with maxSessionAgeMs, even when both say the same', () => {
    expect(rejection({ idleTimeoutMs: 60_000, maxSessionAgeMs: 60_000 }).message).toMatch(/idleTimeoutMs and options\.maxSessionAgeMs .*one of them/);
  });

  it('is validated as maxSessionAgeMs is, naming itself', () => {
    for (const value of [0, 1.5, '60000', null]) expect(rejection({ idleTimeoutMs: value }).message).toContain('options.idleTimeoutMs');
  });
});

describe('options.logger', () => {
  it('takes any of warn, error and info, and calls each with the logger as this', () => {
    const seen: unknown[] = [];
    const logger = {
      warn(this: unknown, message: string) {
        seen.push([this, message]);
      },
    };
    const resolved = resolveOptions({ logger }).logger!;
    expect(Object.keys(resolved)).toEqual(['warn']);
    resolved.warn!('careful', { code: 'X' });
    expect(seen).toEqual([[logger, 'careful']]);
    expect(Object.keys(resolveOptions({ logger: { warn() {}, error() {}, info() {} } }).logger!)).toEqual(['warn', 'error', 'info']);
    expect(resolveOptions({ logger: null }).logger).toBeNull();
  });

  it.each([
    ['a function', () => undefined, 'options.logger must be an object'],
    ['a string', 'console', 'options.logger must be an object'],
    ['an array', [], 'options.logger must be an object'],
    ['an unknown key (a typo)', { warning: () => undefined }, 'options.logger.warning is not a logger function'],
    ['a level that is not a function', { warn: 'stderr' }, 'options.logger.warn must be a function, got "stderr"'],
    ['a level given as null', { error: null }, 'options.logger.error must be a function, got null'],
  ])('refuses %s, naming it', (_what, logger, message) => {
    expect(rejection({ logger }).message).toContain(message);
  });
});

describe('options.persistence.eraseWithinMs', () => {
  it('defaults to five minutes', () => {
    expect(resolveOptions({ persistence: { dir: '/tmp/x' } }).persistence).toEqual({
      dir: '/tmp/x',
      fsync: 'everysec',
      compactAfterBytes: 67_108_864,
      eraseWithinMs: 300_000,
    });
  });

  it.each([
    ['below its minimum', 9],
    ['above the longest timer', 2_147_483_648],
    ['a fraction', 1.5],
    ['a string', '60000'],
  ])('is refused as %s, naming the option and the value', (_what, value) => {
    expect(() => resolveOptions({ persistence: { dir: '/tmp/x', eraseWithinMs: value } })).toThrow(InvalidArgumentError);
    expect(() => resolveOptions({ persistence: { dir: '/tmp/x', eraseWithinMs: value } })).toThrow(/options\.persistence\.eraseWithinMs .*got/);
  });
});
