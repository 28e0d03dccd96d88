/**
 * A recovery that takes longer than `shardTimeoutMs` but advances: the start waits for it instead of
 * taking the shard for hung (a shard of several GiB takes tens of seconds to read and rewrite).
 */
import { describe, expect, it } from 'vitest';
import { withEngine } from '../helpers/engine.js';
import { tempDir } from './helpers.js';

describe('a recovery longer than shardTimeoutMs', () => {
  it('starts, as long as the recovery advances', async () => {
    const dir = tempDir();
    const content = 'x'.repeat(1_000_000);
    // One session of 150 MB: past the default maxSessionBytes, raised here as a host with large sessions would.
    const maxSessionBytes = 256 * 1_048_576;
    const id = await withEngine({ shards: 1, maxSessionBytes, persistence: { dir, fsync: 'no' } }, async (engine) => {
      const created = await engine.create();
      for (let i = 0; i < 150; i++) await engine.appendMessage(created, { role: 'user', content });
      return created;
    });
    // Replaying 150 MB and writing them back as a snapshot takes far longer than 500 ms here.
    await withEngine({ shards: 1, maxSessionBytes, shardTimeoutMs: 500, persistence: { dir } }, async (engine) => {
      expect(engine.recovery).toMatchObject({ sessions: 1, skippedRecords: 0 });
      expect((await engine.get(id, { lastMessages: 1 }))!.context[0]!.content).toBe(content);
    });
  }, 120_000);
});
