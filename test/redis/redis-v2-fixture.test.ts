/**
 * A Redis dump written by the Redis store of commit d4914fc (see fixtures/make-redis-v2.mjs) still loads: a
 * redis-server started on a copy of it serves every session, field and message as expected.json records them,
 * the removed one absent, and the sessions keep taking writes. Sessions and messages are matched, not compared
 * whole, so that a later release may return more keys.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { MessageInput, Session, SessionEngine, SessionEngineOptions } from '../../dist/src/index.js';
import { withEngine } from '../helpers/engine.js';
import { hasRedis, RedisServer } from './redis-server.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/redis-v2', import.meta.url));
const TEN_YEARS_MS = 10 * 365 * 86_400_000;

interface Expected {
  keys: string[];
  removed: string[];
  sessions: Record<string, Omit<Session, 'lastAccessed'>>;
}
const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as Expected;
const ids = Object.keys(expected.sessions).sort();

let server: RedisServer | null = null;
let copy: string | null = null;
afterEach(async () => {
  await server?.stop();
  server = null;
  if (copy !== null) rmSync(copy, { recursive: true, force: true });
  copy = null;
});

/** A redis-server loading a copy of the fixture's dump (its later `--dir` overrides the one the harness sets). */
async function startOnFixture(): Promise<RedisServer> {
  copy = mkdtempSync(join(tmpdir(), 'ss-redis-v2-'));
  cpSync(FIXTURE, copy, { recursive: true });
  server = await RedisServer.start(['--dir', copy, '--dbfilename', 'dump.rdb']);
  return server;
}

const options = (url: string): SessionEngineOptions => ({ shards: 2, maxSessionAgeMs: TEN_YEARS_MS, store: { redis: url }, storeTimeoutMs: 5_000 });

async function expectFixtureSessions(engine: SessionEngine): Promise<void> {
  expect(await engine.list()).toEqual(ids);
  for (const id of ids) {
    const want = expected.sessions[id]!;
    const session = await engine.get(id);
    const { clientCapabilities, ...fields } = want;
    expect(session).toMatchObject(fields);
    expect(session!.clientCapabilities).toEqual(clientCapabilities);
    expect(session!.lastAccessed).toEqual(expect.any(Number));
  }
  for (const id of expected.removed) expect(await engine.get(id)).toBeUndefined();
}

describe.skipIf(!hasRedis)('a Redis dump written by the Redis store of commit d4914fc', () => {
  it('holds the keys expected.json names, none of them expiring soon', async () => {
    const redis = await startOnFixture();
    const client = new Redis(redis.url);
    try {
      expect((await client.keys('*')).sort()).toEqual(expected.keys);
      for (const key of expected.keys) expect(await client.pttl(key)).toBeGreaterThan(365 * 86_400_000);
    } finally {
      client.disconnect();
    }
  });

  it('serves every session, field and message exactly, without the removed one, to one engine after another', async () => {
    const redis = await startOnFixture();
    await withEngine(options(redis.url), expectFixtureSessions);
    await withEngine(options(redis.url), expectFixtureSessions);
  });

  it('appends to a loaded session and reads it back, also from a new engine', async () => {
    const redis = await startOnFixture();
    const [id] = ids as [string];
    const before = expected.sessions[id]!;
    const added: MessageInput = { role: 'user', content: 'written after loading the dump ✓', timestamp: 1_700_000_900_000 };
    await withEngine(options(redis.url), async (engine) => {
      expect(await engine.appendMessage(id, added)).toBe(before.context.length + 1);
      expect(await engine.get(id)).toMatchObject({ id, context: [...before.context, added] });
    });
    await withEngine(options(redis.url), async (engine) => {
      const { clientCapabilities: _, updatedAt: __, ...fields } = before;
      const session = await engine.get(id);
      expect(session).toMatchObject({ ...fields, context: [...before.context, added] });
      expect(session!.updatedAt).not.toBe(before.updatedAt);
      // The other sessions are untouched.
      for (const other of ids.slice(1)) expect(await engine.get(other)).toMatchObject({ context: expected.sessions[other]!.context });
    });
  });
});
