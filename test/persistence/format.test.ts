/**
 * The file format: records of any size the engine accepts are read back as records, damage is told from
 * them by checksums, and directories written by format 1 still load.
 */
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeHeader, FileKind, frame, FrameReader, HEADER_BYTES } from '../../src/shard/memory/persistence/frames.js';
import { LOG_PIECE_BYTES } from '../../src/shard/memory/persistence/snapshot.js';
import { PersistenceCorruptError, SessionEngine } from '../../dist/src/index.js';
import { withEngine } from '../helpers/engine.js';
import { tempDir } from './helpers.js';

const FORMAT1 = fileURLToPath(new URL('./fixtures/format1', import.meta.url));
const TEN_YEARS_MS = 10 * 365 * 86_400_000;

function readAll(path: string): { payloads: Buffer[]; torn: string | null } {
  const reader = new FrameReader(path, FileKind.LOG, 'test.log');
  const payloads: Buffer[] = [];
  for (let payload = reader.next(); payload !== null; payload = reader.next()) payloads.push(payload);
  return { payloads, torn: reader.torn };
}

describe('the persistence file format', () => {
  it('loads a directory written by format 1 (snapshot and log), then writes the current format', async () => {
    const dir = tempDir();
    cpSync(FORMAT1, dir, { recursive: true });
    const options = { shards: 1, maxSessionAgeMs: TEN_YEARS_MS, persistence: { dir } };
    /** The ids the messages of format 1 were given when first loaded: the same at every later start. */
    let firstIds: string[] | null = null;
    for (let start = 0; start < 2; start++) {
      await withEngine(options, async (engine) => {
        expect(engine.recovery).toMatchObject({ sessions: 2, skippedRecords: 0 });
        const a = await engine.get('01M8ZKHAKTXYHQE74RHM19KB4M');
        expect(a).toMatchObject({ cwd: '/fixture/a', title: 'snapshot session', mcpServers: ['one'], clientCapabilities: { fs: { readTextFile: true } } });
        expect(a).toMatchObject({ metadata: null, length: 4 });
        expect(a!.context.map((m) => m.content)).toEqual(['a message 0 ✓', 'a message 1 ✓', 'a message 2 ✓', 'a message 3, logged']);
        const b = await engine.get('01M8ZKHAQ7WNT1WD1T13K0CEGZ');
        expect(b).toMatchObject({ cwd: '/fixture/b', title: 'log session', metadata: null, length: 2 });
        expect(b!.context.map((m) => m.content)).toEqual(['b message 0', 'b message 1']);
        const ids = [...a!.context, ...b!.context].map((m) => m.id);
        for (const id of ids) expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
        expect(new Set(ids).size).toBe(ids.length);
        if (firstIds === null) firstIds = ids;
        else expect(ids).toEqual(firstIds);
      });
    }
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { format: number; generation: number };
    expect(manifest).toMatchObject({ format: 3, generation: 4 });
  });

  it(`restores a session whose log spans several snapshot records (over ${LOG_PIECE_BYTES} bytes), with the sessions after it`, async () => {
    const dir = tempDir();
    const options = { shards: 1, persistence: { dir, fsync: 'no' as const } };
    const content = (i: number): string => `${i}:`.padEnd(1_000_000, String.fromCharCode(97 + (i % 26)));
    let big = '';
    let after = '';
    const count = Math.ceil((2.5 * LOG_PIECE_BYTES) / 1_000_000);
    await withEngine(options, async (engine) => {
      big = await engine.create({ title: 'big' });
      for (let i = 0; i < count; i++) await engine.appendMessage(big, { role: 'user', content: content(i) });
      after = await engine.create({ title: 'after' });
      await engine.appendMessage(after, { role: 'user', content: 'written after the big one' });
    });
    // The first restart replays the log and writes the snapshot; the second reads that snapshot.
    for (let start = 0; start < 2; start++) {
      await withEngine(options, async (engine) => {
        expect(engine.recovery).toMatchObject({ sessions: 2, skippedRecords: 0 });
        const session = await engine.get(big);
        expect(session!.context).toHaveLength(count);
        expect(session!.context.every((m, i) => m.content === content(i))).toBe(true);
        expect((await engine.get(after))!.context.map((m) => m.content)).toEqual(['written after the big one']);
      });
    }
  });

  it('tells a damaged record length by the frame checksum, and a record announced past the end of the file as torn', () => {
    const dir = tempDir();
    const good = frame(Buffer.from('a record'));
    // A frame announcing 5 GiB, its own checksum right: a real frame whose record was cut short.
    const announced = frame(Buffer.alloc(0));
    announced.writeUInt32BE(1, 0);
    announced.writeUInt32BE(2 ** 30, 4);
    announced.writeUInt32BE(crc32(announced.subarray(0, 12)), 12);
    const cut = join(dir, 'cut.log');
    writeFileSync(cut, Buffer.concat([encodeHeader(FileKind.LOG, 1), good, announced, Buffer.alloc(100)]));
    expect(readAll(cut)).toEqual({
      payloads: [Buffer.from('a record')],
      torn: `test.log: torn record at byte ${HEADER_BYTES + good.length} (5368709120 bytes announced)`,
    });
    // The same length with a flipped bit: the frame's checksum catches it before the length is believed.
    const flipped = Buffer.from(good);
    flipped[2]! ^= 0x10;
    const damaged = join(dir, 'damaged.log');
    writeFileSync(damaged, Buffer.concat([encodeHeader(FileKind.LOG, 1), good, flipped]));
    expect(readAll(damaged)).toEqual({
      payloads: [Buffer.from('a record')],
      torn: `test.log: corrupt record frame at byte ${HEADER_BYTES + good.length} (checksum mismatch)`,
    });
  });

  it('refuses files of a newer format with a typed error naming the file, and deletes nothing', async () => {
    const dir = tempDir();
    cpSync(FORMAT1, dir, { recursive: true });
    const snapshot = join(dir, 'g2-s0.snap');
    const bytes = readFileSync(snapshot);
    bytes.writeUInt32BE(99, 4);
    writeFileSync(snapshot, bytes);
    const before = readdirSync(dir).sort();
    const refused = await SessionEngine.start({ shards: 1, persistence: { dir } }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(PersistenceCorruptError);
    expect((refused as Error).message).toContain(`${snapshot} has format version 99`);
    expect(readdirSync(dir).sort()).toEqual(before);

    writeFileSync(join(dir, 'manifest.json'), '{"format":99,"generation":2,"shards":1}');
    const manifestRefused = await SessionEngine.start({ shards: 1, persistence: { dir } }).catch((error: unknown) => error);
    expect(manifestRefused).toBeInstanceOf(PersistenceCorruptError);
    expect((manifestRefused as Error).message).toContain('has format 99');
  });
});
