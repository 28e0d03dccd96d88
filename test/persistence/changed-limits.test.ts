/**
 * A restart with lower limits: recovery restores what was acknowledged, whatever today's limits; the
 * limits apply to new writes only.
 */
import { describe, expect, it } from 'vitest';
import { codeOf, withEngine } from '../helpers/engine.js';
import { tempDir } from './helpers.js';

describe('a restart with lower limits', () => {
  it('keeps every acknowledged message past a lower maxMessagesPerSession (logged and snapshotted), and refuses new ones', async () => {
    const dir = tempDir();
    let id = '';
    await withEngine({ shards: 1, maxMessagesPerSession: 10, persistence: { dir } }, async (engine) => {
      id = await engine.create();
      for (let i = 0; i < 6; i++) await engine.appendMessage(id, { role: 'user', content: `m${i}` });
    });
    // The first restart replays the log; the second reads the snapshot the first wrote.
    for (let start = 0; start < 2; start++) {
      await withEngine({ shards: 1, maxMessagesPerSession: 3, persistence: { dir } }, async (engine) => {
        expect(engine.recovery).toMatchObject({ sessions: 1, skippedRecords: 0 });
        expect((await engine.get(id))!.context.map((m) => m.content)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
        expect(codeOf(await engine.appendMessage(id, { role: 'user', content: 'one too many' }).catch((error: unknown) => error))).toBe('ERR_LIMIT_EXCEEDED');
      });
    }
  });

  it("keeps every acknowledged session past a smaller shardHeapMb's byte budget, and refuses new writes", async () => {
    const dir = tempDir();
    const ids: string[] = [];
    const content = 'x'.repeat(1_000_000);
    await withEngine({ shards: 1, persistence: { dir } }, async (engine) => {
      for (let s = 0; s < 4; s++) {
        ids.push(await engine.create());
        for (let i = 0; i < 5; i++) await engine.appendMessage(ids[s]!, { role: 'user', content });
      }
    });
    // 20 MB of messages against a budget of 12 MiB (3/4 of 16).
    for (let start = 0; start < 2; start++) {
      await withEngine({ shards: 1, shardHeapMb: 16, persistence: { dir } }, async (engine) => {
        expect(engine.recovery).toMatchObject({ sessions: 4, skippedRecords: 0 });
        const counts = await Promise.all(ids.map(async (id) => (await engine.get(id))!.context.length));
        expect(counts).toEqual([5, 5, 5, 5]);
        expect(codeOf(await engine.appendMessage(ids[0]!, { role: 'user', content }).catch((error: unknown) => error))).toBe('ERR_CAPACITY');
      });
    }
  });

  it('keeps every acknowledged message past a lower maxSessionBytes (logged and snapshotted): reads are bounded, nothing is dropped', async () => {
    const dir = tempDir();
    let id = '';
    const content = (i: number): string => String(i).repeat(300_000);
    await withEngine({ shards: 1, persistence: { dir } }, async (engine) => {
      id = await engine.create();
      for (let i = 0; i < 6; i++) await engine.appendMessage(id, { role: 'user', content: content(i) });
    });
    // 1.8 MB of messages against a limit of 1 MiB: the first restart replays the log, the second reads the snapshot.
    for (let start = 0; start < 2; start++) {
      await withEngine({ shards: 1, maxSessionBytes: 1_048_576, persistence: { dir } }, async (engine) => {
        expect(engine.recovery).toMatchObject({ sessions: 1, skippedRecords: 0 });
        // Past the limit a whole read is refused, never trimmed; the newest messages that fit are all there.
        expect(codeOf(await engine.get(id).catch((error: unknown) => error))).toBe('ERR_LIMIT_EXCEEDED');
        expect((await engine.get(id, { lastMessages: 3 }))!.context.map((m) => m.content)).toEqual([content(3), content(4), content(5)]);
        expect(codeOf(await engine.appendMessage(id, { role: 'user', content: 'more' }).catch((error: unknown) => error))).toBe('ERR_LIMIT_EXCEEDED');
      });
    }
    // Back under a larger limit, the session is whole.
    await withEngine({ shards: 1, persistence: { dir } }, async (engine) => {
      expect((await engine.get(id))!.context.map((m) => m.content)).toEqual([0, 1, 2, 3, 4, 5].map(content));
    });
  });
});
