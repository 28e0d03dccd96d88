/**
 * Damage beyond a crash's torn tail (flipped bytes in a snapshot, in an older log): recovery keeps what it
 * can read, and keeps a copy of the damaged file in `damaged/` instead of deleting it with its generation.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withEngine } from '../helpers/engine.js';
import { tempDir } from './helpers.js';

async function filled(): Promise<{ dir: string; ids: string[] }> {
  const dir = tempDir();
  const ids: string[] = [];
  for (let start = 0; start < 2; start++) {
    await withEngine({ shards: 1, persistence: { dir } }, async (engine) => {
      for (let i = 0; i < 5; i++) {
        const id = await engine.create({ title: `session ${start}.${i}` });
        await engine.appendMessage(id, { role: 'user', content: `message ${start}.${i}` });
        ids.push(id);
      }
    });
  }
  return { dir, ids };
}

const kept = (dir: string): string[] => {
  try {
    return readdirSync(join(dir, 'damaged'));
  } catch {
    return [];
  }
};

describe('damaged files', () => {
  it('a snapshot with a flipped byte: the sessions before it are restored, and the original is kept in damaged/', async () => {
    const { dir, ids } = await filled();
    const snapshot = readdirSync(dir).find((name) => name.endsWith('.snap'))!;
    const bytes = readFileSync(join(dir, snapshot));
    bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
    writeFileSync(join(dir, snapshot), bytes);
    await withEngine({ shards: 1, persistence: { dir } }, async (engine) => {
      expect(engine.recovery!.skippedRecords).toBeGreaterThan(0);
      expect(engine.recovery!.sessions).toBeLessThan(ids.length);
    });
    const copies = kept(dir);
    expect(copies).toHaveLength(1);
    expect(copies[0]!.startsWith(`${snapshot}.`)).toBe(true);
    expect(readFileSync(join(dir, 'damaged', copies[0]!))).toEqual(bytes);
    // Still there after another start: nothing reads or removes it.
    await withEngine({ shards: 1, persistence: { dir } }, async () => undefined);
    expect(kept(dir)).toEqual(copies);
  });

  it('a torn tail of the newest log (what a crash leaves) is skipped without a copy', async () => {
    const { dir } = await filled();
    const log = readdirSync(dir).find((name) => name.endsWith('.log'))!;
    const bytes = readFileSync(join(dir, log));
    writeFileSync(join(dir, log), bytes.subarray(0, bytes.length - 3));
    await withEngine({ shards: 1, persistence: { dir } }, async (engine) => {
      expect(engine.recovery!.skippedRecords).toBe(1);
    });
    expect(kept(dir)).toEqual([]);
  });
});
