/**
 * A persistence directory written by format 2 (the build of commit d4914fc, see fixtures/make-format2.mjs) still
 * loads: every session, field and message exactly as it was written, the removed ones absent, and again after a
 * restart. Sessions and messages are matched, not compared whole, so that a later format may return more keys.
 */
import { cpSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { SessionEngine } from '../../dist/src/index.js';
import { withEngine } from '../helpers/engine.js';
import { tempDir } from './helpers.js';

const FORMAT2 = fileURLToPath(new URL('./fixtures/format2', import.meta.url));
const TEN_YEARS_MS = 10 * 365 * 86_400_000;
const T = 1_700_000_000_000;

const A = '01M8ZYZQQQ6EX7E4WXKMED1Z1Q';
const B = '01M8ZYZQYBRBCX07H3YQ54K5WB';
const C = '01M8ZYZQR3VDCZ1NS6XH84B3DK';
const D = '01M8ZYZQYNV5XN4658ACXWZWZS';

/** In the snapshot; its title updated and two messages appended in the log. */
const SESSION_A = {
  id: A,
  createdAt: 1796369014521,
  updatedAt: 1796369014744,
  cwd: '/fixture/a',
  title: 'renamed session ✎',
  owner: 'alice@example.com',
  mcpServers: ['filesystem', 'git'],
  context: [
    { role: 'system', content: 'You are a helpful agent.', timestamp: T },
    { role: 'user', content: 'a: Grüße! Lies bitte ./naïve.txt', timestamp: T + 1 },
    { role: 'assistant', content: 'a: はい、読みます ✓\nsecond line', timestamp: T + 2 },
    { role: 'user', content: '', timestamp: T + 3 },
    { role: 'assistant', content: 'a: appended after the snapshot, 5 €', timestamp: T + 20_000 },
    { role: 'user', content: 'a: the last word 🏁', timestamp: T + 40_000 },
  ],
};
const CAPABILITIES_A = { fs: { readTextFile: true, writeTextFile: false }, terminal: true, extra: { note: 'kept as given' } };

/** Only in the log: created, three messages, then updated (cwd cleared, owner set). */
const SESSION_B = {
  id: B,
  createdAt: 1796369014732,
  updatedAt: 1796369014739,
  cwd: null,
  title: 'log session',
  owner: 'bob',
  clientCapabilities: null,
  mcpServers: [],
  context: [
    { role: 'user', content: 'b: hello from the log', timestamp: T + 10_000 },
    { role: 'assistant', content: 'b: ответ — «готово»', timestamp: T + 10_001 },
    { role: 'system', content: 'b: tab\there, quote " and backslash \\', timestamp: T + 10_002 },
  ],
};

async function expectFixtureSessions(engine: SessionEngine): Promise<void> {
  expect(engine.recovery).toMatchObject({ sessions: 2, expired: 0, skippedRecords: 0 });
  expect(await engine.size()).toBe(2);
  expect(await engine.list()).toEqual([A, B]);

  const a = await engine.get(A);
  expect(a).toMatchObject(SESSION_A);
  expect(a!.clientCapabilities).toEqual(CAPABILITIES_A);
  expect(a!.lastAccessed).toEqual(expect.any(Number));

  const b = await engine.get(B);
  expect(b).toMatchObject(SESSION_B);
  expect(b!.lastAccessed).toEqual(expect.any(Number));

  // c was in the snapshot and removed in the log; d was created and removed in the log.
  expect(await engine.get(C)).toBeUndefined();
  expect(await engine.get(D)).toBeUndefined();
  expect(await engine.touch(C)).toBe(false);
}

describe('a persistence directory written by format 2 (commit d4914fc)', () => {
  it('loads every session, field and message exactly, without the removed ones, and again after a restart', async () => {
    const dir = tempDir();
    cpSync(FORMAT2, dir, { recursive: true });
    const options = { shards: 1, maxSessionAgeMs: TEN_YEARS_MS, persistence: { dir } };
    // The first start replays the fixture's snapshot and log; the second reads what the first wrote.
    for (let start = 0; start < 2; start++) {
      await withEngine(options, expectFixtureSessions);
    }
  });

  it('keeps taking writes on the loaded sessions, and they survive a restart', async () => {
    const dir = tempDir();
    cpSync(FORMAT2, dir, { recursive: true });
    const options = { shards: 1, maxSessionAgeMs: TEN_YEARS_MS, persistence: { dir } };
    await withEngine(options, async (engine) => {
      expect(await engine.appendMessage(B, { role: 'user', content: 'b: written after loading ✓', timestamp: T + 50_000 })).toBe(4);
    });
    await withEngine(options, async (engine) => {
      expect(engine.recovery).toMatchObject({ sessions: 2, skippedRecords: 0 });
      const b = await engine.get(B);
      expect(b).toMatchObject({
        ...SESSION_B,
        updatedAt: expect.any(Number),
        context: [...SESSION_B.context, { role: 'user', content: 'b: written after loading ✓', timestamp: T + 50_000 }],
      });
      expect(await engine.get(A)).toMatchObject(SESSION_A);
    });
  });
});
