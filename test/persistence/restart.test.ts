import { chmodSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PersistenceLockedError, SessionEngine, type Session } from '../../dist/src/index.js';
import { codeOf, sleep, waitFor, withEngine } from '../helpers/engine.js';
import { tempDir } from './helpers.js';

async function fill(engine: SessionEngine, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = await engine.create({ clientCapabilities: { fs: { readTextFile: true }, n: i }, mcpServers: [`s${i}`] });
    for (let m = 0; m < 3; m++) await engine.appendMessage(id, { role: m === 1 ? 'assistant' : 'user', content: `message ${i}.${m} ✓` });
    ids.push(id);
  }
  return ids;
}

async function everything(engine: SessionEngine, ids: string[]): Promise<(Session | undefined)[]> {
  // lastAccessed changes with every get: compare everything else
  const sessions = await Promise.all(ids.map((id) => engine.get(id)));
  return sessions.map((session) => (session === undefined ? undefined : { ...session, lastAccessed: 0 }));
}

describe('persistence across engine restarts', () => {
  for (const fsync of ['always', 'everysec', 'no'] as const) {
    it(`restores every session as it was (fsync '${fsync}')`, async () => {
      const dir = tempDir();
      const options = { shards: 2, persistence: { dir, fsync } };
      let ids: string[] = [];
      let before: (Session | undefined)[] = [];
      await withEngine(options, async (engine) => {
        expect(engine.recovery).toEqual({ sessions: 0, expired: 0, skippedRecords: 0, ms: expect.any(Number) });
        ids = await fill(engine, 30);
        await engine.update(ids[0]!, { mcpServers: ['changed'], clientCapabilities: null });
        await engine.remove(ids[1]!);
        before = await everything(engine, ids);
      });
      await withEngine(options, async (engine) => {
        expect(engine.recovery).toMatchObject({ sessions: 29, expired: 0, skippedRecords: 0 });
        expect(await engine.size()).toBe(29);
        expect(await everything(engine, ids)).toEqual(before);
        expect(before[1]).toBeUndefined();
        expect(before[0]!.mcpServers).toEqual(['changed']);
      });
    });
  }

  it('restores with a different shard count, up and down', async () => {
    const dir = tempDir();
    let ids: string[] = [];
    let before: (Session | undefined)[] = [];
    await withEngine({ shards: 3, persistence: { dir } }, async (engine) => {
      ids = await fill(engine, 40);
      before = await everything(engine, ids);
    });
    for (const shards of [1, 4, 2]) {
      await withEngine({ shards, persistence: { dir } }, async (engine) => {
        expect(engine.recovery).toMatchObject({ sessions: 40, skippedRecords: 0 });
        expect(await everything(engine, ids)).toEqual(before);
        const stats = await engine.stats();
        expect(stats.shards.reduce((sum, shard) => sum + shard.sessions, 0)).toBe(40);
      });
    }
    // Only the last generation's files remain.
    expect(readdirSync(dir).filter((name) => name.startsWith('g') && !name.startsWith('g4-'))).toEqual([]);
  });

  it('drops sessions that expired while the engine was down, keeps the idle clock of the others', async () => {
    const dir = tempDir();
    // The TTL must outlast the closing of one engine and the start (replay, snapshot) of the next, which
    // took up to a third of a second on a loaded 2-core machine: the fresh sessions must not expire there.
    const options = { shards: 2, maxSessionAgeMs: 2_000, persistence: { dir } };
    let stale: string[] = [];
    let fresh: string[] = [];
    await withEngine({ ...options, maxSessionAgeMs: 60_000 }, async (engine) => {
      stale = await fill(engine, 5);
    });
    await sleep(2_500);
    await withEngine({ ...options, maxSessionAgeMs: 60_000 }, async (engine) => {
      // Accessed now: their idle clocks restart, the stale ones keep theirs.
      expect(engine.recovery?.sessions).toBe(5);
      fresh = await fill(engine, 3);
    });
    await withEngine(options, async (engine) => {
      expect(engine.recovery).toMatchObject({ sessions: 3, expired: 5 });
      for (const id of stale) expect(await engine.get(id)).toBeUndefined();
      for (const id of fresh) expect((await engine.get(id))?.context).toHaveLength(3);
    });
  });

  it('creates its files readable by the owner only', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    await withEngine({ shards: 1, persistence: { dir } }, async (engine) => {
      await fill(engine, 2);
    });
    for (const name of readdirSync(dir)) expect(statSync(join(dir, name)).mode & 0o077, name).toBe(0);
  });

  it('refuses a second engine on the same directory, and frees it on close', async () => {
    const dir = tempDir();
    await withEngine({ shards: 1, persistence: { dir } }, async () => {
      const refused = await SessionEngine.start({ shards: 1, persistence: { dir } }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(PersistenceLockedError);
      expect(codeOf(refused)).toBe('ERR_PERSISTENCE_LOCKED');
      expect((refused as Error).message).toContain(String(process.pid));
    });
    await withEngine({ shards: 1, persistence: { dir } }, async (engine) => {
      expect(engine.recovery).not.toBeNull();
    });
  });

  it('compacts a growing log into a snapshot and still restores everything', async () => {
    const dir = tempDir();
    const options = { shards: 1, persistence: { dir, compactAfterBytes: 4_096 } };
    let ids: string[] = [];
    let before: (Session | undefined)[] = [];
    await withEngine(options, async (engine) => {
      ids = await fill(engine, 60);
      for (const id of ids.slice(0, 20)) await engine.remove(id);
      before = await everything(engine, ids);
      const logs = () => readdirSync(dir).filter((name) => name.endsWith('.log'));
      // Many compactions happened: the log numbers moved on and, once the last one ends, the old logs are gone.
      await waitFor(() => logs().length === 1, 10_000, 'the compaction in progress to end');
      expect(Number(/-(\d+)\.log$/.exec(logs()[0]!)![1])).toBeGreaterThan(1);
    });
    await withEngine(options, async (engine) => {
      expect(engine.recovery).toMatchObject({ sessions: 40, skippedRecords: 0 });
      expect(await everything(engine, ids)).toEqual(before);
    });
  });
});
