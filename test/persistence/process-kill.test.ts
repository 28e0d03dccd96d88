/**
 * The whole host process is SIGKILLed under load, at a random moment: after a restart on the same
 * directory (taking over the dead process's lock), every write it acknowledged is there.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PersistenceLockedError, SessionEngine } from '../../dist/src/index.js';
import { waitFor, withEngine } from '../helpers/engine.js';
import { tempDir } from './helpers.js';

const CHILD = fileURLToPath(new URL('./fixtures/load-child.mjs', import.meta.url));

interface Acknowledged {
  pid: number;
  /** id -> highest acknowledged append number */
  appended: Map<string, number>;
}

/** Runs the child until it has acknowledged about `writes` appends, kills it, and returns what it acknowledged. */
async function runAndKill(dir: string, writes: number, whileRunning: (pid: number) => Promise<void>): Promise<Acknowledged> {
  const child = spawn(process.execPath, [CHILD, dir, 'always'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acknowledged: Acknowledged = { pid: 0, appended: new Map() };
  let total = 0;
  let buffered = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      const [what, a, b] = line.split(' ');
      if (what === 'ready') acknowledged.pid = Number(a);
      else if (what === 'created') acknowledged.appended.set(a!, 0);
      else if (what === 'appended') {
        acknowledged.appended.set(a!, Number(b));
        total++;
      }
    }
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    await waitFor(() => acknowledged.pid !== 0, 30_000, 'the child to start');
    await whileRunning(acknowledged.pid);
    await waitFor(() => total >= writes || child.exitCode !== null, 60_000, `${writes} acknowledged writes`);
    expect(child.exitCode).toBeNull();
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  // What arrived on the pipe before the kill: only writes the engine acknowledged were reported.
  return acknowledged;
}

describe('a SIGKILLed host process', () => {
  it("loses no acknowledged write with fsync 'always', and its lock is taken over at once", async () => {
    const dir = tempDir();
    const expected = new Map<string, number>();
    for (let round = 0; round < 3; round++) {
      const writes = 50 + Math.floor(Math.random() * 400);
      const acknowledged = await runAndKill(dir, writes, async (pid) => {
        // While the child runs, its lock refuses this process.
        const refused = await SessionEngine.start({ shards: 1, persistence: { dir } }).catch((error: unknown) => error);
        expect(refused).toBeInstanceOf(PersistenceLockedError);
        expect((refused as Error).message).toContain(String(pid));
      });
      for (const [id, n] of acknowledged.appended) expected.set(id, n);
      await withEngine({ shards: 3, persistence: { dir } }, async (engine) => {
        expect(engine.recovery?.sessions).toBeGreaterThanOrEqual(expected.size);
        for (const [id, n] of expected) {
          const session = await engine.get(id);
          expect(session, id).toBeDefined();
          const contents = session!.context.map((message) => Number(message.content));
          // Every acknowledged append, in order; at most the one in flight at the kill beyond them.
          expect(contents.slice(0, n)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
        }
      });
    }
  }, 180_000);
});
