/**
 * A torn (cut short) or corrupt log at every byte offset of a real log: recovery keeps every record before
 * the damage, skips the rest, counts it, and never throws.
 */
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SessionEngine } from '../../dist/src/index.js';
import { decode } from '../../src/protocol/codec.js';
import type { ShardPersistenceConfig } from '../../src/protocol/messages.js';
import { FRAME_BYTES, frameLength, HEADER_BYTES } from '../../src/shard/memory/persistence/frames.js';
import { LOG_STRIDE, recoverFiles } from '../../src/shard/memory/persistence/recovery.js';
import { withEngine } from '../helpers/engine.js';
import { fixtureDir, tempDir } from './helpers.js';

interface Recovered {
  restored: number;
  replayed: number;
  skippedRecords: number;
  warnings: string[];
}

function recoverFrom(dir: string): Recovered {
  const config: ShardPersistenceConfig = {
    dir,
    fsync: 'no',
    generation: 2,
    recoverGeneration: 1,
    recoverAll: true,
    shards: 1,
    compactAfterBytes: 1 << 30,
    eraseWithinMs: 300_000,
  };
  const out: Recovered = { restored: 0, replayed: 0, skippedRecords: 0, warnings: [] };
  const found = recoverFiles(
    config,
    0,
    {
      restore: () => void out.restored++,
      replay: () => {
        out.replayed++;
        return true;
      },
    },
    (message) => out.warnings.push(message),
  );
  out.skippedRecords = found.skippedRecords;
  return out;
}

describe('a torn or corrupt log tail', () => {
  const source = fixtureDir();
  let logName = '';
  let log = Buffer.alloc(0);
  /** [end offset of each record, ops in the log up to and including it] */
  const ends: [number, number][] = [];

  beforeAll(async () => {
    // One engine start writes generation 1; its log then holds every change of the session below. The
    // files are copied while it runs: at close, the removal's erasure would fold the log into a snapshot.
    const live = tempDir();
    await withEngine({ shards: 1, persistence: { dir: live, fsync: 'no' } }, async (engine: SessionEngine) => {
      const ids = [await engine.create({ mcpServers: ['a'] }), await engine.create({ clientCapabilities: { terminal: true } })];
      for (let i = 0; i < 4; i++) await engine.appendMessage(ids[i % 2]!, { role: 'user', content: `m${i} ü` });
      await engine.update(ids[0]!, { mcpServers: ['b', 'c'] });
      await engine.touch(ids[1]!);
      await engine.get(ids[0]!);
      await engine.remove(ids[1]!);
      for (const name of readdirSync(live)) if (name !== 'LOCK') copyFileSync(join(live, name), join(source, name));
    });
    logName = readdirSync(source).find((name) => name.endsWith('.log'))!;
    log = readFileSync(join(source, logName));
    let at = HEADER_BYTES;
    let ops = 0;
    while (at < log.length) {
      const length = frameLength(log, at);
      ops += (decode(log.subarray(at + FRAME_BYTES, at + FRAME_BYTES + length)) as unknown[]).length / LOG_STRIDE;
      at += FRAME_BYTES + length;
      ends.push([at, ops]);
    }
  }, 60_000);

  function scratchWith(bytes: Uint8Array): string {
    const dir = tempDir();
    for (const name of readdirSync(source)) if (name.endsWith('.snap')) copyFileSync(join(source, name), join(dir, name));
    writeFileSync(join(dir, logName), bytes);
    return dir;
  }

  const opsBefore = (offset: number): number => ends.filter(([end]) => end <= offset).reduce((_, [, ops]) => ops, 0);

  it('the real log holds one record per batch, and reads back whole', () => {
    expect(ends.length).toBeGreaterThanOrEqual(9);
    expect(recoverFrom(scratchWith(log))).toMatchObject({ replayed: ends.at(-1)![1], skippedRecords: 0 });
  });

  it('cut at every byte offset: the prefix of whole records is replayed, the torn rest is skipped once', () => {
    for (let offset = 0; offset < log.length; offset++) {
      const result = recoverFrom(scratchWith(log.subarray(0, offset)));
      const atBoundary = offset === HEADER_BYTES || ends.some(([end]) => end === offset);
      expect(result.replayed, `cut at ${offset}`).toBe(opsBefore(offset));
      expect(result.skippedRecords, `cut at ${offset}`).toBe(atBoundary ? 0 : 1);
      expect(result.warnings).toHaveLength(result.skippedRecords);
    }
  });

  it('a flipped byte at every offset past the header: the records before the damaged one are replayed', () => {
    for (let offset = HEADER_BYTES; offset < log.length; offset++) {
      const damaged = Buffer.from(log);
      damaged[offset]! ^= 0x5a;
      const result = recoverFrom(scratchWith(damaged));
      const recordStart = [HEADER_BYTES, ...ends.map(([end]) => end)].filter((start) => start <= offset).at(-1)!;
      expect(result.replayed, `flip at ${offset}`).toBe(opsBefore(recordStart));
      expect(result.skippedRecords, `flip at ${offset}`).toBe(1);
    }
  });

  it('an engine starts on a torn log, keeps the prefix and warns with a fixed code', async () => {
    const cut = ends[2]![0] + 5;
    const dir = scratchWith(log.subarray(0, cut));
    writeFileSync(join(dir, 'manifest.json'), readFileSync(join(source, 'manifest.json')));
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      await withEngine({ shards: 1, persistence: { dir } }, async (engine) => {
        expect(engine.recovery?.skippedRecords).toBe(1);
        expect(engine.recovery?.sessions).toBe(2);
      });
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((warning) => (warning as { code?: string }).code)).toContain('SESSION_SHARDS_SKIPPED_RECORDS');
  });
});
