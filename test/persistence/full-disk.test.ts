/**
 * A full disk during a write (a 1 MiB tmpfs; needs root, skipped where mounting is not allowed): the calls
 * of the failed batch reject with a typed error, every acknowledged write stays recoverable, and the
 * shard comes back by itself with all of them once there is room again.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ShardCrashedError, SessionEngine } from '../../dist/src/index.js';
import { waitFor, withEngine } from '../helpers/engine.js';
import { tempDir } from './helpers.js';

const mountPoint = mkdtempSync(join(tmpdir(), 'session-shards-tmpfs-'));
const mounted = ((): boolean => {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
afterAll(() => {
  if (mounted) execFileSync('umount', [mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

describe.runIf(mounted)('a full disk', () => {
  it("rejects the failed batch's call with a typed error, loses no acknowledged write, and recovers once there is room", async () => {
    const dir = join(mountPoint, 'data');
    mkdirSync(dir);
    const engine = await SessionEngine.start({ shards: 1, persistence: { dir, fsync: 'always' } });
    let restarts = 0;
    engine.on('shardRestart', () => restarts++);
    try {
      const id = await engine.create();
      let acknowledged = 0;
      let failure: unknown = null;
      while (failure === null) {
        await engine.appendMessage(id, { role: 'user', content: `m${acknowledged} `.padEnd(8_000, 'x') }).then(
          () => acknowledged++,
          (error: unknown) => (failure = error),
        );
      }
      expect(failure).toBeInstanceOf(ShardCrashedError);
      expect((failure as ShardCrashedError).message).toContain('ENOSPC');
      expect(acknowledged).toBeGreaterThan(50);

      // What is on the full disk is recoverable as it is: every acknowledged append.
      const copy = tempDir();
      // The lock aside: it is the running engine's.
      cpSync(dir, copy, { recursive: true, filter: (path) => basename(path) !== 'LOCK' });
      await withEngine({ shards: 1, persistence: { dir: copy } }, async (other) => {
        expect((await other.get(id))!.context).toHaveLength(acknowledged);
      });

      // Room again: the shard restarts by itself from its files, with every acknowledged append.
      execFileSync('mount', ['-o', 'remount,size=16m', mountPoint]);
      await waitFor(() => restarts > 0, 30_000, 'the shard to restart');
      expect((await engine.get(id))!.context).toHaveLength(acknowledged);
      expect(await engine.appendMessage(id, { role: 'user', content: 'after' })).toBe(acknowledged + 1);
    } finally {
      await engine.close();
    }
  }, 60_000);
});
