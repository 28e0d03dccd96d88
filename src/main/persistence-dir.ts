/**
 * The engine's side of a persistence directory: the lock (one engine per directory) and the manifest
 * naming the authoritative generation. The shards own their data files (see `persistence-files.ts`).
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import {
  DIR_MODE,
  FILE_MODE,
  fsyncDir,
  LOCK_FILE,
  MANIFEST_FILE,
  parseDataFileName,
  PERSISTENCE_FORMAT,
  writeFileAtomic,
  writeFully,
} from '../protocol/persistence-files.js';
import { PersistenceLockedError } from './errors.js';

/** Whether process `pid` exists (one we may not signal still exists). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * Takes `dir`'s lock for this process, creating `dir` if needed; returns the function that releases it.
 * A lock whose owner process is gone (a crash, a kill) is taken over at once. Throws
 * `PersistenceLockedError` while a live process holds it (this one included: two engines in one process
 * must not share a directory either).
 */
export function acquireLock(dir: string): () => void {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', FILE_MODE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 2) throw error;
      const owner = readOwner(path);
      if (owner !== null && isAlive(owner)) {
        throw new PersistenceLockedError(
          `persistence.dir ${JSON.stringify(dir)} is in use by process ${owner}${owner === process.pid ? ' (this process: another engine)' : ''}; ` +
            `close that engine first (or, if no such engine runs, remove ${path})`,
        );
      }
      // The owner is gone (or never finished writing its pid): the lock is stale.
      try {
        unlinkSync(path);
      } catch (unlinkError) {
        if ((unlinkError as NodeJS.ErrnoException).code !== 'ENOENT') throw unlinkError;
      }
      continue;
    }
    try {
      writeFully(fd, Buffer.from(`${process.pid}\n`));
    } finally {
      closeSync(fd);
    }
    fsyncDir(dir);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (readOwner(path) === process.pid) unlinkSync(path);
    };
  }
}

/** What the manifest says. */
export interface Manifest {
  generation: number;
  shards: number;
}

/** The manifest, or `null` in a new directory. Throws for a manifest of a newer format. */
export function readManifest(dir: string): Manifest | null {
  let text: string;
  try {
    text = readFileSync(join(dir, MANIFEST_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const parsed = JSON.parse(text) as { format?: unknown; generation?: unknown; shards?: unknown };
  if (typeof parsed.format !== 'number' || parsed.format > PERSISTENCE_FORMAT) {
    throw new Error(`${join(dir, MANIFEST_FILE)} has format ${String(parsed.format)}; this version reads up to ${PERSISTENCE_FORMAT}`);
  }
  if (!Number.isSafeInteger(parsed.generation) || !Number.isSafeInteger(parsed.shards)) {
    throw new Error(`${join(dir, MANIFEST_FILE)} is malformed`);
  }
  return { generation: parsed.generation as number, shards: parsed.shards as number };
}

/** Makes `generation` the authoritative one (atomically), then deletes every other generation's files. */
export function commitGeneration(dir: string, manifest: Manifest): void {
  writeFileAtomic(dir, MANIFEST_FILE, Buffer.from(JSON.stringify({ format: PERSISTENCE_FORMAT, ...manifest })));
  removeOtherGenerations(dir, manifest.generation);
}

/** Deletes the data files of every generation but `keep`, and every temp file. */
export function removeOtherGenerations(dir: string, keep: number | null): void {
  for (const name of readdirSync(dir)) {
    const parsed = parseDataFileName(name);
    if ((parsed !== null && (parsed.generation !== keep || parsed.kind === 'temp')) || name === `${MANIFEST_FILE}.tmp`) {
      unlinkSync(join(dir, name));
    }
  }
}
