/**
 * Real scale (not run by `npm test`: it writes about 7 GiB and takes minutes): one shard holding two
 * sessions of over 1 GiB each (1 100 appends of 1 MiB, within the default limits), so that a session
 * record passes 1 GiB and the shard's snapshot passes 2 GiB. Closes, then starts twice more: the first
 * restart replays the log into a snapshot, the second reads that snapshot. Every acknowledged append must
 * come back, including those written after the big sessions. Exits non-zero on any loss.
 *
 *   npm run soak:big            (BIG_RECORDS_DIR=... to choose the directory; it is removed at the end)
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SessionEngine } from '../../dist/src/index.js';

const MESSAGES = 1_100;
const MESSAGE_BYTES = 1_048_576;
const dir = process.env.BIG_RECORDS_DIR ?? mkdtempSync(join(tmpdir(), 'session-shards-big-'));
const options = {
  shards: 1,
  maxSessionAgeMs: 86_400_000,
  // One snapshot per start, none while filling: the point is the size of the files, not compaction.
  persistence: { dir, fsync: 'no', compactAfterBytes: 2 ** 40 },
};
const content = (session, i) => `${session}:${i}:`.padEnd(MESSAGE_BYTES, String.fromCharCode(97 + (i % 26)));
const gib = (bytes) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
const files = () =>
  readdirSync(dir)
    .filter((name) => !name.endsWith('.json') && name !== 'LOCK')
    .map((name) => `${name} ${gib(statSync(join(dir, name)).size)}`)
    .join(', ');
let failures = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
};

async function timed(what, fn) {
  const started = performance.now();
  const result = await fn();
  console.log(`${what}: ${((performance.now() - started) / 1_000).toFixed(1)} s`);
  return result;
}

try {
  const ids = {};
  await timed('fill (2 x 1 100 appends of 1 MiB, then a small session)', async () => {
    const engine = await SessionEngine.start(options);
    for (const name of ['big1', 'big2']) {
      ids[name] = await engine.create({ title: name });
      for (let i = 0; i < MESSAGES; i++) await engine.appendMessage(ids[name], { role: 'user', content: content(name, i) });
    }
    ids.small = await engine.create({ title: 'small' });
    await engine.appendMessage(ids.small, { role: 'user', content: 'after the big ones' });
    // Acknowledged appends to the first session after the second was written.
    await engine.appendMessage(ids.big1, { role: 'assistant', content: 'last word' });
    console.log(`stats: ${JSON.stringify(await engine.stats())}`);
    await engine.close();
  });
  console.log(`files after fill: ${files()}`);
  for (const start of ['restart 1 (replays the log, writes the snapshot)', 'restart 2 (reads the snapshot)']) {
    await timed(start, async () => {
      const engine = await SessionEngine.start(options);
      console.log(`recovery: ${JSON.stringify(engine.recovery)}`);
      check(engine.recovery.sessions === 3 && engine.recovery.skippedRecords === 0, `${start}: 3 sessions, nothing skipped`);
      const big1 = await engine.get(ids.big1, { lastMessages: 2 });
      check(
        big1?.context[0]?.content === content('big1', MESSAGES - 1) && big1?.context[1]?.content === 'last word',
        'big1 ends with its last 1 MiB message and the later "last word"',
      );
      const big2 = await engine.get(ids.big2, { lastMessages: 3 });
      check(big2?.context.every((m, k) => m.content === content('big2', MESSAGES - 3 + k)) === true, 'big2 ends with its last three 1 MiB messages');
      check((await engine.get(ids.small))?.context[0]?.content === 'after the big ones', 'the session written after the big ones is whole');
      const stats = await engine.stats();
      check(stats.shards[0].messages === 2 * MESSAGES + 2, `every message is held (${stats.shards[0].messages} of ${2 * MESSAGES + 2})`);
      await engine.close();
    });
    console.log(`files: ${files()}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(failures === 0 ? 'PASS: every acknowledged append came back' : `FAIL: ${failures} checks failed`);
process.exitCode = failures === 0 ? 0 : 1;
