import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as pkg from '../../dist/src/index.js';
import {
  CapacityError,
  EngineClosedError,
  ErrorCode,
  InvalidArgumentError,
  InvalidSessionIdError,
  LimitExceededError,
  ProtocolError,
  QueueFullError,
  SessionEngine,
  SessionEngineError,
  SessionNotFoundError,
  ShardCrashedError,
  shardFor,
} from '../../dist/src/index.js';
import { codeOf, withEngine } from '../helpers/engine.js';
import { NEVER_ISSUED_ID } from '../helpers/ids.js';

const CANONICAL = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

describe('the package exports', () => {
  it('exports SessionEngine, shardFor, defaultShardCount, ErrorCode and every error class', () => {
    for (const name of [
      'SessionEngine',
      'shardFor',
      'defaultShardCount',
      'ErrorCode',
      'SessionEngineError',
      'SessionNotFoundError',
      'InvalidSessionIdError',
      'InvalidArgumentError',
      'LimitExceededError',
      'CapacityError',
      'QueueFullError',
      'ShardCrashedError',
      'EngineClosedError',
      'ProtocolError',
    ]) {
      expect(pkg, name).toHaveProperty(name);
    }
    for (const ErrorClass of [
      SessionNotFoundError,
      InvalidSessionIdError,
      InvalidArgumentError,
      LimitExceededError,
      CapacityError,
      QueueFullError,
      ShardCrashedError,
      EngineClosedError,
      ProtocolError,
    ]) {
      expect(new ErrorClass('x')).toBeInstanceOf(SessionEngineError);
    }
    expect(ErrorCode.SHARD_CRASHED).toBe('ERR_SHARD_CRASHED');
  });
});

describe('SessionEngine.start', () => {
  it('starts with no options and shows the resolved defaults in engine.options', async () => {
    const engine = await SessionEngine.start();
    try {
      expect(engine.options.shards).toBe(pkg.defaultShardCount());
      expect(engine.options.maxSessionAgeMs).toBe(3_600_000);
      expect(engine.options.cleanupIntervalMs).toBe(300_000);
      expect(engine.options.faultInjection).toBe(false);
      expect(await engine.size()).toBe(0);
    } finally {
      await engine.close();
    }
  });

  it('shows the options given in engine.options', async () => {
    await withEngine({ shards: 3, maxSessionAgeMs: 5_000, maxSessions: 10 }, async (engine) => {
      expect(engine.options).toMatchObject({ shards: 3, maxSessionAgeMs: 5_000, maxSessions: 10 });
      expect((await engine.stats()).shards).toHaveLength(3);
    });
  });

  it('rejects a bad option with ERR_INVALID_ARGUMENT naming the option and the value', async () => {
    const error = await SessionEngine.start({ shards: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(codeOf(error)).toBe('ERR_INVALID_ARGUMENT');
    expect((error as Error).message).toContain('options.shards');
    expect((error as Error).message).toContain('0');
  });
});

describe('SessionEngine (one engine, 3 shards)', () => {
  let engine: SessionEngine;

  beforeAll(async () => {
    engine = await SessionEngine.start({ shards: 3 });
  });

  afterAll(async () => {
    await engine.close();
  });

  describe('create', () => {
    it('resolves a new canonical ULID', async () => {
      const id = await engine.create();
      expect(id).toMatch(CANONICAL);
    });

    it('creates an empty session stamped with the creation time', async () => {
      const before = Date.now();
      const id = await engine.create();
      const after = Date.now();
      const session = await engine.get(id);
      expect(session).toEqual({
        id,
        createdAt: expect.any(Number),
        lastAccessed: expect.any(Number),
        context: [],
        clientCapabilities: null,
        mcpServers: [],
        cwd: null,
        title: null,
        updatedAt: session!.createdAt,
        owner: null,
        metadata: null,
        length: 0,
      });
      expect(session!.createdAt).toBeGreaterThanOrEqual(before);
      expect(session!.createdAt).toBeLessThanOrEqual(after + 1);
    });

    it('stores the capabilities and MCP servers given, unknown capability keys included', async () => {
      const clientCapabilities = { fs: { readTextFile: true, writeTextFile: false }, terminal: true, _meta: { vendor: 'acme', list: [1, 'two'] } };
      const id = await engine.create({ clientCapabilities, mcpServers: ['filesystem', 'git'] });
      const session = await engine.get(id);
      expect(session?.clientCapabilities).toEqual(clientCapabilities);
      expect(session?.mcpServers).toEqual(['filesystem', 'git']);
    });

    it('gives every session its own id, even when many are created at once', async () => {
      const ids = await Promise.all(Array.from({ length: 2_000 }, () => engine.create()));
      expect(new Set(ids).size).toBe(ids.length);
    });

    it('spreads the sessions it creates over every shard', async () => {
      const ids = await Promise.all(Array.from({ length: 300 }, () => engine.create()));
      const perShard = [0, 0, 0];
      for (const id of ids) perShard[shardFor(id, 3)]!++;
      for (const count of perShard) expect(count).toBeGreaterThan(50);
    });
  });

  describe('get', () => {
    it('resolves undefined for an id that was never created', async () => {
      expect(await engine.get(NEVER_ISSUED_ID)).toBeUndefined();
    });

    it('refreshes lastAccessed', async () => {
      const id = await engine.create();
      const first = (await engine.get(id))!.lastAccessed;
      const later = Date.now() + 5;
      while (Date.now() < later) await new Promise((resolve) => setTimeout(resolve, 5));
      const second = (await engine.get(id))!.lastAccessed;
      expect(second).toBeGreaterThan(first);
    });

    it('with lastMessages returns only the newest that many messages', async () => {
      const id = await engine.create();
      for (let i = 1; i <= 6; i++) await engine.appendMessage(id, { role: 'user', content: `m${i}` });
      expect((await engine.get(id, { lastMessages: 2 }))!.context.map((m) => m.content)).toEqual(['m5', 'm6']);
      expect((await engine.get(id, { lastMessages: 0 }))!.context).toEqual([]);
      expect((await engine.get(id, { lastMessages: 100 }))!.context).toHaveLength(6);
    });

    it('returns the caller its own copy: changing it changes nothing stored', async () => {
      const id = await engine.create({ mcpServers: ['a'], clientCapabilities: { terminal: true } });
      await engine.appendMessage(id, { role: 'user', content: 'original' });
      const copy = (await engine.get(id))!;
      copy.context[0]!.content = 'changed';
      copy.context.push({ id: 'extra', role: 'user', content: 'extra', timestamp: 1 });
      copy.mcpServers.push('b');
      copy.clientCapabilities!.terminal = false;
      const again = (await engine.get(id))!;
      expect(again.context).toEqual([{ id: copy.context[0]!.id, role: 'user', content: 'original', timestamp: expect.any(Number) }]);
      expect(again.context[0]!.id).toEqual(expect.any(String));
      expect(again.mcpServers).toEqual(['a']);
      expect(again.clientCapabilities).toEqual({ terminal: true });
    });
  });

  describe('appendMessage', () => {
    it('resolves the new context length', async () => {
      const id = await engine.create();
      expect(await engine.appendMessage(id, { role: 'user', content: 'one' })).toBe(1);
      expect(await engine.appendMessage(id, { role: 'assistant', content: 'two' })).toBe(2);
      expect(await engine.appendMessage(id, { role: 'system', content: 'three' })).toBe(3);
    });

    it('keeps the role, content and timestamp given, and gives the message an id (a ULID) of its own', async () => {
      const id = await engine.create();
      await engine.appendMessage(id, { role: 'assistant', content: 'héllo 👋\n', timestamp: 1_234 });
      await engine.appendMessage(id, { role: 'assistant', content: 'again' });
      const [first, second] = (await engine.get(id))!.context;
      expect(first).toEqual({ id: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/), role: 'assistant', content: 'héllo 👋\n', timestamp: 1_234 });
      expect(second!.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(second!.id).not.toBe(first!.id);
    });

    it('stamps the message with the time of the call when no timestamp is given', async () => {
      const id = await engine.create();
      const before = Date.now();
      await engine.appendMessage(id, { role: 'user', content: 'now' });
      const after = Date.now();
      const { timestamp } = (await engine.get(id))!.context[0]!;
      expect(timestamp).toBeGreaterThanOrEqual(before);
      expect(timestamp).toBeLessThanOrEqual(after);
    });

    it('accepts an empty content and a large one', async () => {
      const id = await engine.create();
      const large = 'x'.repeat(200_000);
      await engine.appendMessage(id, { role: 'user', content: '' });
      await engine.appendMessage(id, { role: 'user', content: large });
      expect((await engine.get(id))!.context.map((m) => m.content)).toEqual(['', large]);
    });

    it('rejects an unknown id with SessionNotFoundError (ERR_SESSION_NOT_FOUND)', async () => {
      const error = await engine.appendMessage(NEVER_ISSUED_ID, { role: 'user', content: 'x' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SessionNotFoundError);
      expect(codeOf(error)).toBe('ERR_SESSION_NOT_FOUND');
    });

    it('rejects a removed id with SessionNotFoundError', async () => {
      const id = await engine.create();
      await engine.remove(id);
      await expect(engine.appendMessage(id, { role: 'user', content: 'x' })).rejects.toBeInstanceOf(SessionNotFoundError);
    });
  });

  describe('update', () => {
    it('replaces the capabilities when given, keeping the servers', async () => {
      const id = await engine.create({ clientCapabilities: { terminal: true }, mcpServers: ['a'] });
      await expect(engine.update(id, { clientCapabilities: { fs: { readTextFile: true } } })).resolves.toBeUndefined();
      expect(await engine.get(id)).toMatchObject({ clientCapabilities: { fs: { readTextFile: true } }, mcpServers: ['a'] });
    });

    it('replaces the servers when given, keeping the capabilities', async () => {
      const id = await engine.create({ clientCapabilities: { terminal: true }, mcpServers: ['a'] });
      await engine.update(id, { mcpServers: ['b', 'c'] });
      expect(await engine.get(id)).toMatchObject({ clientCapabilities: { terminal: true }, mcpServers: ['b', 'c'] });
    });

    it('sets the capabilities to null when given null', async () => {
      const id = await engine.create({ clientCapabilities: { terminal: true } });
      await engine.update(id, { clientCapabilities: null });
      expect((await engine.get(id))!.clientCapabilities).toBeNull();
    });

    it('changes nothing when given no field', async () => {
      const id = await engine.create({ clientCapabilities: { terminal: true }, mcpServers: ['a'] });
      await engine.update(id, {});
      expect(await engine.get(id)).toMatchObject({ clientCapabilities: { terminal: true }, mcpServers: ['a'] });
    });

    it('keeps the messages', async () => {
      const id = await engine.create();
      await engine.appendMessage(id, { role: 'user', content: 'kept' });
      await engine.update(id, { mcpServers: ['x'] });
      expect((await engine.get(id))!.context.map((m) => m.content)).toEqual(['kept']);
    });

    it('rejects an unknown id with SessionNotFoundError (ERR_SESSION_NOT_FOUND)', async () => {
      const error = await engine.update(NEVER_ISSUED_ID, { mcpServers: [] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SessionNotFoundError);
      expect(codeOf(error)).toBe('ERR_SESSION_NOT_FOUND');
    });
  });

  describe('touch', () => {
    it('resolves true for a live session and refreshes lastAccessed', async () => {
      const id = await engine.create();
      const created = (await engine.get(id))!.lastAccessed;
      const later = Date.now() + 5;
      while (Date.now() < later) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(await engine.touch(id)).toBe(true);
      const session = await engine.remove(id); // remove does not refresh: it shows what touch left
      expect(session!.lastAccessed).toBeGreaterThan(created);
    });

    it('resolves false for an unknown id', async () => {
      expect(await engine.touch(NEVER_ISSUED_ID)).toBe(false);
    });
  });

  describe('remove', () => {
    it('resolves the session as it was, messages included', async () => {
      const id = await engine.create({ mcpServers: ['m'] });
      await engine.appendMessage(id, { role: 'user', content: 'bye', timestamp: 7 });
      const removed = await engine.remove(id);
      expect(removed).toMatchObject({ id, mcpServers: ['m'], context: [{ role: 'user', content: 'bye', timestamp: 7 }] });
    });

    it('forgets the session: get resolves undefined and touch false afterwards', async () => {
      const id = await engine.create();
      await engine.remove(id);
      expect(await engine.get(id)).toBeUndefined();
      expect(await engine.touch(id)).toBe(false);
    });

    it('resolves undefined for an unknown or already removed id', async () => {
      const id = await engine.create();
      await engine.remove(id);
      expect(await engine.remove(id)).toBeUndefined();
      expect(await engine.remove(NEVER_ISSUED_ID)).toBeUndefined();
    });
  });

  describe('size, stats, sweep', () => {
    it('size counts the sessions over all shards', async () => {
      const before = await engine.size();
      const ids = await Promise.all(Array.from({ length: 30 }, () => engine.create()));
      expect(await engine.size()).toBe(before + 30);
      await Promise.all(ids.slice(0, 10).map((id) => engine.remove(id)));
      expect(await engine.size()).toBe(before + 20);
    });

    it('stats reports every shard, and its sessions and messages add up', async () => {
      const id = await engine.create();
      await engine.appendMessage(id, { role: 'user', content: 'x' });
      const stats = await engine.stats();
      expect(stats.shards).toHaveLength(3);
      for (const shard of stats.shards) {
        expect(shard).toMatchObject({
          sessions: expect.any(Number),
          messages: expect.any(Number),
          pendingOps: expect.any(Number),
          batches: expect.any(Number),
          ops: expect.any(Number),
        });
        expect(shard.batches).toBeGreaterThan(0);
        expect(shard.ops).toBeGreaterThanOrEqual(shard.batches);
      }
      expect(stats.shards.reduce((sum, shard) => sum + shard.sessions, 0)).toBe(await engine.size());
      expect(stats.shards[shardFor(id, 3)]!.messages).toBeGreaterThanOrEqual(1);
    });

    it("stats reports each shard's session bytes, which grow with a message's size and shrink with a removal, and its heap in use", async () => {
      const id = await engine.create();
      const shard = shardFor(id, 3);
      const before = (await engine.stats()).shards[shard]!;
      await engine.appendMessage(id, { role: 'user', content: 'y'.repeat(10_000) });
      const after = (await engine.stats()).shards[shard]!;
      expect(after.sessionBytes - before.sessionBytes).toBeGreaterThanOrEqual(10_000);
      expect(after.heapUsedBytes).toBeGreaterThan(after.sessionBytes);
      await engine.remove(id);
      expect((await engine.stats()).shards[shard]!.sessionBytes).toBeLessThan(before.sessionBytes);
    });

    it("stats reports each shard's log memory: taken by appends, kept for reuse when a session goes", async () => {
      await withEngine({ shards: 1 }, async (own) => {
        const id = await own.create();
        const before = (await own.stats()).shards[0]!;
        for (let i = 0; i < 10; i++) await own.appendMessage(id, { role: 'user', content: 'z'.repeat(1_000) });
        const grown = (await own.stats()).shards[0]!;
        expect(grown.logBytes - before.logBytes).toBeGreaterThanOrEqual(10_000);
        await own.remove(id);
        const after = (await own.stats()).shards[0]!;
        expect(after.logBytes).toBe(before.logBytes);
        expect(after.logBytesFree - grown.logBytesFree).toBe(grown.logBytes - before.logBytes);
        await own.appendMessage(await own.create(), { role: 'user', content: 'z'.repeat(1_000) });
        expect((await own.stats()).shards[0]!.logBytesFree).toBeLessThan(after.logBytesFree);
      });
    });

    it('stats reports the longest slice the last sweep held each shard: none before the first sweep', async () => {
      await withEngine({ shards: 1 }, async (own) => {
        await Promise.all(Array.from({ length: 2_000 }, () => own.create()));
        expect((await own.stats()).shards[0]!.lastSweepSliceMs).toBe(0);
        await own.sweep();
        const { lastSweepSliceMs } = (await own.stats()).shards[0]!;
        expect(lastSweepSliceMs).toBeGreaterThan(0);
        expect(Number.isFinite(lastSweepSliceMs)).toBe(true);
      });
    });

    it('sweep resolves 0 when nothing has expired, and removes nothing', async () => {
      const size = await engine.size();
      expect(await engine.sweep()).toBe(0);
      expect(await engine.size()).toBe(size);
    });
  });
});

describe('list', () => {
  it('resolves every id, ascending, merged over all shards', async () => {
    await withEngine({ shards: 4 }, async (engine) => {
      const ids = await Promise.all(Array.from({ length: 500 }, () => engine.create()));
      const listed = await engine.list();
      expect(listed).toEqual([...ids].sort());
    });
  });

  it('resolves an empty list when there are no sessions', async () => {
    await withEngine({ shards: 2 }, async (engine) => {
      expect(await engine.list()).toEqual([]);
      expect(await engine.list({ limit: 5 })).toEqual([]);
    });
  });

  it('pages with limit and after, covering every id exactly once', async () => {
    await withEngine({ shards: 4 }, async (engine) => {
      const ids = (await Promise.all(Array.from({ length: 257 }, () => engine.create()))).sort();
      const pages: string[][] = [];
      let after: string | undefined;
      for (;;) {
        const page = await engine.list(after === undefined ? { limit: 50 } : { limit: 50, after });
        if (page.length === 0) break;
        expect(page.length).toBeLessThanOrEqual(50);
        pages.push(page);
        after = page[page.length - 1];
      }
      expect(pages).toHaveLength(6);
      expect(pages.flat()).toEqual(ids);
    });
  });

  it('with limit 0 resolves an empty list', async () => {
    await withEngine({ shards: 2 }, async (engine) => {
      await engine.create();
      expect(await engine.list({ limit: 0 })).toEqual([]);
    });
  });

  it('leaves out removed sessions', async () => {
    await withEngine({ shards: 2 }, async (engine) => {
      const [a, b, c] = (await Promise.all([engine.create(), engine.create(), engine.create()])).sort();
      await engine.remove(b!);
      expect(await engine.list()).toEqual([a, c]);
    });
  });
});
