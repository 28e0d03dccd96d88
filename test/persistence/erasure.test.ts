/**
 * Erasure: the content of a removed or expired session leaves every file of the directory within
 * `persistence.eraseWithinMs`, even on a quiet shard, and at `close()` at the latest.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor, withEngine } from '../helpers/engine.js';
import { tempDir } from './helpers.js';

/** The files of `dir` that hold `marker`. */
function filesHolding(dir: string, marker: string): string[] {
  // A file may go between the listing and the read (a compaction replacing it): one gone holds nothing.
  return readdirSync(dir).filter((name) => {
    try {
      return readFileSync(join(dir, name)).includes(marker);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  });
}

async function fillWith(engine: import('../../dist/src/index.js').SessionEngine, marker: string): Promise<{ doomed: string; kept: string }> {
  const doomed = await engine.create({ title: `title ${marker}` });
  for (let i = 0; i < 3; i++) await engine.appendMessage(doomed, { role: 'user', content: `secret ${i} ${marker}` });
  const kept = await engine.create({ title: 'kept' });
  await engine.appendMessage(kept, { role: 'user', content: 'still here' });
  return { doomed, kept };
}

describe('erasure of removed and expired sessions', () => {
  it('a removed session leaves every file within eraseWithinMs on a quiet shard, and stays out after close and restart', async () => {
    const dir = tempDir();
    const marker = 'MARKER-removed-7f3a9c';
    const options = { shards: 1, persistence: { dir, eraseWithinMs: 200 } };
    let kept = '';
    await withEngine(options, async (engine) => {
      const ids = await fillWith(engine, marker);
      kept = ids.kept;
      expect(filesHolding(dir, marker)).not.toEqual([]);
      await engine.remove(ids.doomed);
      // No further traffic: the shard is quiet, and its log far below compactAfterBytes.
      await waitFor(() => filesHolding(dir, marker).length === 0, 10_000, 'the removed content to leave the files');
    });
    expect(filesHolding(dir, marker)).toEqual([]);
    await withEngine(options, async (engine) => {
      expect(engine.recovery).toMatchObject({ sessions: 1, skippedRecords: 0 });
      expect((await engine.get(kept))!.context.map((m) => m.content)).toEqual(['still here']);
    });
  });

  it('a session removed after a restart (held in the snapshot) leaves the snapshot too', async () => {
    const dir = tempDir();
    const marker = 'MARKER-snapshotted-51be02';
    const options = { shards: 1, persistence: { dir, eraseWithinMs: 200 } };
    const ids = await withEngine(options, (engine) => fillWith(engine, marker));
    await withEngine(options, async (engine) => {
      expect(filesHolding(dir, marker).some((name) => name.endsWith('.snap'))).toBe(true);
      await engine.remove(ids.doomed);
      await waitFor(() => filesHolding(dir, marker).length === 0, 10_000, 'the removed content to leave the snapshot');
      expect((await engine.get(ids.kept))!.title).toBe('kept');
    });
  });

  it('an expired session leaves every file once a sweep has found it, within eraseWithinMs', async () => {
    const dir = tempDir();
    const marker = 'MARKER-expired-c81d44';
    await withEngine({ shards: 1, maxSessionAgeMs: 300, cleanupIntervalMs: 100, persistence: { dir, eraseWithinMs: 200 } }, async (engine) => {
      await fillWith(engine, marker);
      await waitFor(() => filesHolding(dir, marker).length === 0, 10_000, 'the expired content to leave the files');
    });
    expect(filesHolding(dir, marker)).toEqual([]);
  });

  it('close() erases at once what a removal left, however long eraseWithinMs', async () => {
    const dir = tempDir();
    const marker = 'MARKER-closed-0b6e1f';
    const options = { shards: 1, persistence: { dir, eraseWithinMs: 3_600_000 } };
    await withEngine(options, async (engine) => {
      const ids = await fillWith(engine, marker);
      await engine.remove(ids.doomed);
      expect(filesHolding(dir, marker)).not.toEqual([]);
    });
    expect(filesHolding(dir, marker)).toEqual([]);
  });
});
