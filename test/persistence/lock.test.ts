/**
 * The directory lock under pid reuse (a container's pid 1 restarted, a pid given to an unrelated process)
 * and under many processes starting at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { PersistenceLockedError, SessionEngine } from '../../dist/src/index.js';
import { waitFor, withEngine } from '../helpers/engine.js';
import { tempDir } from './helpers.js';

const BOOT_ID = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const PERSISTENCE_DIR = fileURLToPath(new URL('../../dist/src/main/persistence-dir.js', import.meta.url));

function startTimeOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

async function withSleeper<T>(fn: (child: ChildProcess) => Promise<T>): Promise<T> {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    await waitFor(() => child.pid !== undefined, 10_000, 'sleep to start');
    return await fn(child);
  } finally {
    child.kill('SIGKILL');
  }
}

/** A directory holding one session, whose lock is then replaced by `lock`. */
async function lockedBy(lock: string): Promise<{ dir: string; id: string }> {
  const dir = tempDir();
  const id = await withEngine({ shards: 1, persistence: { dir } }, (engine) => engine.create({ title: 'kept' }));
  writeFileSync(join(dir, 'LOCK'), lock);
  return { dir, id };
}

async function startsAndKeeps(dir: string, id: string): Promise<void> {
  await withEngine({ shards: 1, persistence: { dir } }, async (engine) => {
    expect((await engine.get(id))?.title).toBe('kept');
    // The lock is now this engine's: a second engine is refused.
    await expect(SessionEngine.start({ shards: 1, persistence: { dir } })).rejects.toBeInstanceOf(PersistenceLockedError);
  });
}

describe.runIf(process.platform === 'linux')('the persistence lock', () => {
  it("takes over a lock holding this process's own pid written by an earlier process (another start time)", async () => {
    const { dir, id } = await lockedBy(`${process.pid} 1 ${BOOT_ID} an-earlier-incarnation\n`);
    await startsAndKeeps(dir, id);
  });

  it("takes over a lock of an older version holding this process's own pid alone", async () => {
    const { dir, id } = await lockedBy(`${process.pid}\n`);
    await startsAndKeeps(dir, id);
  });

  it('takes over a lock whose pid now belongs to an unrelated live process (its start time differs)', async () => {
    await withSleeper(async (sleeper) => {
      const { dir, id } = await lockedBy(`${sleeper.pid!} 1 ${BOOT_ID} the-dead-owner\n`);
      await startsAndKeeps(dir, id);
    });
  });

  it('takes over a lock written before a reboot (another boot id)', async () => {
    await withSleeper(async (sleeper) => {
      const { dir, id } = await lockedBy(`${sleeper.pid!} ${startTimeOf(sleeper.pid!)} 00000000-0000-0000-0000-000000000000 before-reboot\n`);
      await startsAndKeeps(dir, id);
    });
  });

  it('refuses while the owner named by pid and start time runs', async () => {
    await withSleeper(async (sleeper) => {
      const { dir } = await lockedBy(`${sleeper.pid!} ${startTimeOf(sleeper.pid!)} ${BOOT_ID} a-live-owner\n`);
      const refused = await SessionEngine.start({ shards: 1, persistence: { dir } }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(PersistenceLockedError);
      expect((refused as Error).message).toContain(`process ${sleeper.pid!}`);
    });
  });

  it('of many processes taking a stale lock at once, exactly one wins', async () => {
    const dir = tempDir();
    // Rounds of six starters released at the same instant: a takeover that checks the stale lock and then
    // moves it aside lets a second starter move the first one's fresh lock away (two winners) within a few rounds.
    for (let round = 0; round < 6; round++) {
      // A stale lock (a dead owner) to race for.
      writeFileSync(join(dir, 'LOCK'), `${process.pid} 1 ${BOOT_ID} stale-${round}\n`);
      const at = Date.now() + 1_000;
      const script =
        `const { acquireLock } = await import(${JSON.stringify(PERSISTENCE_DIR)});` +
        `while (Date.now() < ${at});` +
        `try { acquireLock(${JSON.stringify(dir)}); console.log('won'); await new Promise((r) => setTimeout(r, 1500)); }` +
        `catch (error) { console.log(error.code ?? error.message); }`;
      const outcomes = await Promise.all(
        Array.from({ length: 6 }, () => {
          const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
          return new Promise<string>((resolve) => child.on('exit', () => resolve(out.trim())));
        }),
      );
      expect(
        outcomes.filter((outcome) => outcome === 'won'),
        outcomes.join(', '),
      ).toHaveLength(1);
      expect(
        outcomes.filter((outcome) => outcome === 'ERR_PERSISTENCE_LOCKED'),
        outcomes.join(', '),
      ).toHaveLength(5);
      // The winner has exited: nothing of the race is left beside the lock.
      expect(readdirSync(dir).filter((name) => name.startsWith('LOCK.'))).toEqual([]);
    }
  }, 120_000);

  it("refuses a starter in another thread of this process while this thread's engine holds the directory", async () => {
    const dir = tempDir();
    await withEngine({ shards: 1, persistence: { dir } }, async () => {
      const script =
        `const { parentPort } = require('node:worker_threads');` +
        `import(${JSON.stringify(PERSISTENCE_DIR)}).then(({ acquireLock }) => {` +
        `try { acquireLock(${JSON.stringify(dir)}); parentPort.postMessage('won'); } catch (error) { parentPort.postMessage(error.code ?? error.message); } });`;
      const worker = new Worker(script, { eval: true });
      const outcome = await new Promise((resolve) => worker.once('message', resolve));
      await worker.terminate();
      expect(outcome).toBe('ERR_PERSISTENCE_LOCKED');
    });
  });

  it('takes over a stale lock whose claimant died while taking it over, and clears what it left', async () => {
    await withSleeper(async (sleeper) => {
      const { dir, id } = await lockedBy(`${process.pid} 1 ${BOOT_ID} stale\n`);
      const stale = readFileSync(join(dir, 'LOCK'), 'utf8');
      // A starter (dead: the pid runs, but started at another time) claimed the stale lock, and died.
      const claim = join(dir, `LOCK.break-${createHash('sha256').update(stale).digest('hex').slice(0, 24)}`);
      writeFileSync(claim, `${sleeper.pid!} 1 ${BOOT_ID} dead-claimant\n`);
      writeFileSync(join(dir, 'LOCK.0123456789abcdef01234567'), `${sleeper.pid!} 1 ${BOOT_ID} 0123456789abcdef01234567\n`);
      await startsAndKeeps(dir, id);
      expect(readdirSync(dir).filter((name) => name.startsWith('LOCK.'))).toEqual([]);
    });
  });

  it('waits for a live claimant of a stale lock, then refuses with a typed error', async () => {
    await withSleeper(async (sleeper) => {
      const { dir } = await lockedBy(`${process.pid} 1 ${BOOT_ID} stale\n`);
      const stale = readFileSync(join(dir, 'LOCK'), 'utf8');
      // A live process holds the claim and never finishes: the starter neither breaks the lock nor hangs.
      const claim = join(dir, `LOCK.break-${createHash('sha256').update(stale).digest('hex').slice(0, 24)}`);
      writeFileSync(claim, `${sleeper.pid!} ${startTimeOf(sleeper.pid!)} ${BOOT_ID} live-claimant\n`);
      const refused = await SessionEngine.start({ shards: 1, persistence: { dir } }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(PersistenceLockedError);
      expect((refused as Error).message).toContain('being taken over by another starter');
      expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(stale);
    });
  });
});
