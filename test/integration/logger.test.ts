/**
 * The `logger` option: what the engine has to say reaches the host's own logs. Warnings (a recovery that
 * skipped damaged records) go to `logger.warn`, else to `process.emitWarning` as before; a crashed shard
 * goes to `logger.error` and its restart to `logger.info`. Every entry carries a fixed code and its shard.
 */
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LogCode, type LogFields, type SessionEngineOptions } from '../../dist/src/index.js';
import { injectFault, waitFor, withEngine } from '../helpers/engine.js';

type Entry = [level: string, message: string, fields: LogFields];

function recordingLogger(levels: readonly ('warn' | 'error' | 'info')[] = ['warn', 'error', 'info']) {
  const entries: Entry[] = [];
  const logger = Object.fromEntries(levels.map((level) => [level, (message: string, fields: LogFields) => entries.push([level, message, fields])]));
  return { logger, entries };
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A persistence directory whose shard-0 log ends in a torn record: the next start skips it and warns. */
async function dirWithTornLog(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'session-shards-logger-'));
  dirs.push(dir);
  await withEngine({ shards: 1, persistence: { dir, fsync: 'always' } }, async (engine) => {
    const id = await engine.create();
    await engine.appendMessage(id, { role: 'user', content: 'kept' });
  });
  const log = readdirSync(dir).find((name) => name.endsWith('.log'))!;
  // The start of a frame cut short: a length that promises more bytes than follow.
  appendFileSync(join(dir, log), Buffer.from([0x00, 0x00, 0x01, 0x00, 0xde, 0xad]));
  return dir;
}

function withWarningsSeen<T>(fn: (warnings: Error[]) => Promise<T>): Promise<T> {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  return fn(warnings).finally(() => process.off('warning', onWarning));
}

describe('the logger option', () => {
  it("takes a recovery's warnings, with their fixed code and the shard, instead of process.emitWarning", async () => {
    const dir = await dirWithTornLog();
    const { logger, entries } = recordingLogger();
    const emitted = await withWarningsSeen(async (warnings) => {
      await withEngine({ shards: 1, persistence: { dir }, logger }, async (engine) => {
        expect(engine.recovery?.skippedRecords).toBe(1);
        expect(engine.recovery?.sessions).toBe(1);
      });
      return warnings;
    });
    const warned = entries.filter(([level]) => level === 'warn');
    expect(warned.length).toBeGreaterThanOrEqual(1);
    for (const [, message, fields] of warned) {
      expect(message).toMatch(/^shard 0: /);
      expect(fields).toEqual({ code: 'SESSION_SHARDS_SKIPPED_RECORDS', shard: 0 });
    }
    expect(LogCode.SKIPPED_RECORDS).toBe('SESSION_SHARDS_SKIPPED_RECORDS');
    expect(emitted.filter((warning) => (warning as { code?: string }).code === LogCode.SKIPPED_RECORDS)).toEqual([]);
  });

  it('leaves warnings to process.emitWarning without a logger, or with one that has no warn', async () => {
    for (const options of [{}, { logger: recordingLogger(['error']).logger }] as SessionEngineOptions[]) {
      const dir = await dirWithTornLog();
      const emitted = await withWarningsSeen(async (warnings) => {
        await withEngine({ ...options, shards: 1, persistence: { dir } }, async () => undefined);
        // process.emitWarning delivers on the next tick.
        await new Promise((resolve) => setImmediate(resolve));
        return warnings;
      });
      expect(emitted.map((warning) => (warning as { code?: string }).code)).toContain('SESSION_SHARDS_SKIPPED_RECORDS');
    }
  });

  it("reports a crashed shard to error and its restart to info, besides the 'shardRestart' event", async () => {
    const { logger, entries } = recordingLogger();
    await withEngine({ shards: 2, faultInjection: true, shardHeapMb: 64, logger }, async (engine) => {
      const restarts: unknown[] = [];
      engine.on('shardRestart', (event) => restarts.push(event));
      await injectFault(engine, 1, 'exit');
      await waitFor(() => restarts.length === 1, 10_000, 'the restart');
      expect(entries.map(([level, , fields]) => [level, fields])).toEqual([
        ['error', { code: 'SESSION_SHARDS_SHARD_CRASHED', shard: 1 }],
        ['info', { code: 'SESSION_SHARDS_SHARD_RESTARTED', shard: 1 }],
      ]);
      expect(entries[0]![1]).toMatch(/^shard 1 crashed \(.+\); the shard's 0 sessions are lost$/);
      expect(entries[1]![1]).toBe('shard 1 restarted; 0 sessions lost');
    });
  });

  it('is not needed for crashes: without error and info they are only events, as before', async () => {
    const emitWarning = vi.spyOn(process, 'emitWarning');
    try {
      await withEngine({ shards: 1, faultInjection: true, shardHeapMb: 64 }, async (engine) => {
        const restarts: unknown[] = [];
        engine.on('shardRestart', (event) => restarts.push(event));
        await injectFault(engine, 0, 'exit');
        await waitFor(() => restarts.length === 1, 10_000, 'the restart');
      });
      expect(emitWarning).not.toHaveBeenCalled();
    } finally {
      emitWarning.mockRestore();
    }
  });

  it('a logger that throws changes nothing: the shard restarts and serves', async () => {
    const boom = () => {
      throw new Error('the log sink is down');
    };
    await withEngine({ shards: 1, faultInjection: true, shardHeapMb: 64, logger: { warn: boom, error: boom, info: boom } }, async (engine) => {
      const restarts: unknown[] = [];
      engine.on('shardRestart', (event) => restarts.push(event));
      await injectFault(engine, 0, 'throw');
      await waitFor(() => restarts.length === 1, 10_000, 'the restart');
      const id = await engine.create();
      expect(await engine.appendMessage(id, { role: 'user', content: 'still here' })).toBe(1);
    });
  });
});
