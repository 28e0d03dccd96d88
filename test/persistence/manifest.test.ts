/**
 * A missing or damaged manifest: the engine recovers from what it can prove, or refuses to start with a
 * typed error naming the file and what to do, and deletes nothing either way.
 */
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PersistenceCorruptError, SessionEngine } from '../../dist/src/index.js';
import { withEngine } from '../helpers/engine.js';
import { tempDir } from './helpers.js';

/** A directory holding sessions in a committed generation (a snapshot and a log), and their ids. */
async function filled(): Promise<{ dir: string; ids: string[] }> {
  const dir = tempDir();
  const ids: string[] = [];
  for (let start = 0; start < 2; start++) {
    await withEngine({ shards: 2, persistence: { dir } }, async (engine) => {
      for (let i = 0; i < 4; i++) {
        const id = await engine.create({ title: `t${start}.${i}` });
        await engine.appendMessage(id, { role: 'user', content: `m${start}.${i}` });
        ids.push(id);
      }
    });
  }
  return { dir, ids };
}

/** Every file of the directory, name to bytes (the lock aside). */
function contents(dir: string): Map<string, Buffer> {
  return new Map(
    readdirSync(dir)
      .filter((name) => name !== 'LOCK')
      .map((name) => [name, readFileSync(join(dir, name))]),
  );
}

async function refusal(dir: string): Promise<PersistenceCorruptError> {
  const error: unknown = await SessionEngine.start({ shards: 2, persistence: { dir } }).then(
    async (engine) => {
      await engine.close();
      throw new Error('started');
    },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(PersistenceCorruptError);
  expect((error as PersistenceCorruptError).code).toBe('ERR_PERSISTENCE_CORRUPT');
  return error as PersistenceCorruptError;
}

async function expectAll(dir: string, ids: string[]): Promise<void> {
  await withEngine({ shards: 2, persistence: { dir } }, async (engine) => {
    expect(engine.recovery).toMatchObject({ sessions: ids.length, skippedRecords: 0 });
    for (const id of ids) expect((await engine.get(id))!.context).toHaveLength(1);
  });
}

describe('a missing or damaged manifest', () => {
  it('missing, with the files of one generation: recovers every session from them', async () => {
    const { dir, ids } = await filled();
    rmSync(join(dir, 'manifest.json'));
    await expectAll(dir, ids);
    await expectAll(dir, ids);
  });

  it('missing, with the files of two generations: refuses, naming the manifest and the generations, deleting nothing', async () => {
    const { dir, ids } = await filled();
    const manifest = readFileSync(join(dir, 'manifest.json'));
    const { generation } = JSON.parse(manifest.toString()) as { generation: number };
    rmSync(join(dir, 'manifest.json'));
    // Left by a start that died before its switch: the next generation beside the committed one.
    for (const name of readdirSync(dir)) {
      if (name.startsWith(`g${generation}-`)) copyFileSync(join(dir, name), join(dir, name.replace(`g${generation}-`, `g${generation + 1}-`)));
    }
    const before = contents(dir);
    const error = await refusal(dir);
    expect(error.message).toContain(join(dir, 'manifest.json'));
    expect(error.message).toContain(`generations ${generation}, ${generation + 1}`);
    expect(contents(dir)).toEqual(before);
    writeFileSync(join(dir, 'manifest.json'), manifest);
    await expectAll(dir, ids);
  });

  for (const [what, text] of [
    ['empty', ''],
    ['truncated', '{"format":2,"genera'],
    ['garbage', '\u0000\u0017binary junk'],
    ['not an object', '42'],
    ['holding a negative generation', '{"format":2,"generation":-1,"shards":2}'],
    ['holding generation 0', '{"format":2,"generation":0,"shards":2}'],
    ['holding a fractional shard count', '{"format":2,"generation":3,"shards":1.5}'],
  ] as const) {
    it(`${what}: refuses with a typed error naming the file, deleting nothing; the right manifest then recovers all`, async () => {
      const { dir, ids } = await filled();
      const manifest = readFileSync(join(dir, 'manifest.json'));
      writeFileSync(join(dir, 'manifest.json'), text);
      const before = contents(dir);
      const error = await refusal(dir);
      expect(error.message).toContain(join(dir, 'manifest.json'));
      expect(error.message).toContain('nothing was deleted');
      expect(contents(dir)).toEqual(before);
      writeFileSync(join(dir, 'manifest.json'), manifest);
      await expectAll(dir, ids);
    });
  }

  it('naming a generation whose snapshots are gone, beside files of another: refuses, deleting nothing', async () => {
    const { dir, ids } = await filled();
    const manifest = readFileSync(join(dir, 'manifest.json'));
    writeFileSync(join(dir, 'manifest.json'), '{"format":2,"generation":7,"shards":2}');
    const before = contents(dir);
    const error = await refusal(dir);
    expect(error.message).toContain('generation 7');
    expect(contents(dir)).toEqual(before);
    writeFileSync(join(dir, 'manifest.json'), manifest);
    await expectAll(dir, ids);
  });
});
