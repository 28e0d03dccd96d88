/**
 * The engine's side of a persistence directory: the lock (one engine per directory) and the manifest
 * naming the authoritative generation. The shards own their data files (see `persistence-files.ts`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
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
import { PersistenceCorruptError, PersistenceLockedError } from './errors.js';

/** Whether process `pid` exists (one we may not signal still exists). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When process `pid` started, in clock ticks since boot (field 22 of `/proc/<pid>/stat`, Linux), or `null`
 * where that cannot be read (no such process, no `/proc`). A pid is reused; a pid and its start time are not.
 */
function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count the fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function readBootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** What a lock file says: `pid startTime bootId token` (a lock of an older version holds the pid alone). */
interface LockOwner {
  pid: number;
  startTime: string | null;
  bootId: string | null;
  token: string | null;
}

function parseOwner(text: string): LockOwner | null {
  const [pid, startTime, bootId, token] = text.trim().split(/\s+/);
  const parsed = Number(pid);
  if (!Number.isSafeInteger(parsed) || parsed <= 0) return null;
  const field = (value: string | undefined): string | null => (value === undefined || value === '-' ? null : value);
  return { pid: parsed, startTime: field(startTime), bootId: field(bootId), token: field(token) };
}

function readLock(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * The tokens of the locks this process holds: a lock with this pid is ours only if its token is here.
 * Shared through the global registry, so that two copies of this package in one process agree.
 */
const registry = globalThis as Record<symbol, unknown>;
const TOKENS_KEY = Symbol.for('session-shards.lockTokens');
registry[TOKENS_KEY] ??= new Set<string>();
const heldTokens = registry[TOKENS_KEY] as Set<string>;

/**
 * Whether the lock's owner still runs: its pid is alive and, where the start time can be read, that
 * process started when the lock's writer did, in this boot. A lock with this process's pid and start
 * time is this process's own (another engine, perhaps in another thread): live. With this pid but
 * another start time it was written by the previous process of that pid (a container's pid 1,
 * restarted): gone. Where start times cannot be read, this process's locks are told by their tokens.
 */
function ownerRuns(owner: LockOwner): boolean {
  const bootId = readBootId();
  if (owner.bootId !== null && bootId !== null && owner.bootId !== bootId) return false;
  if (owner.pid === process.pid) {
    const startTime = startTimeOf(process.pid);
    if (owner.startTime !== null && startTime !== null) return owner.startTime === startTime;
    return owner.token !== null && heldTokens.has(owner.token);
  }
  if (!isAlive(owner.pid)) return false;
  if (owner.startTime === null) return true;
  const startTime = startTimeOf(owner.pid);
  return startTime === null ? !existsSync('/proc/self/stat') : startTime === owner.startTime;
}

/** The longest `acquireLock` waits for another starter that is breaking a stale lock (microseconds' work). */
const BREAK_WAIT_MS = 2_000;
/** How deep claims on claims go (each level needs a starter to have died inside the one below). */
const MAX_BREAK_DEPTH = 4;

const waitCell = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(waitCell, 0, 0, ms);
}

/** The claim file of whoever may remove `target` while it holds `text`: one name per content. */
function claimPath(target: string, text: string): string {
  return `${target}.break-${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
}

/**
 * Removes `target` if it still holds `text` (a lock or claim judged stale), with `mine` (this starter's
 * identity, written aside) hard-linked as the claim: only the starter whose link makes the claim removes
 * `target`, and, while the claim stands, nobody else can replace `text`, so checking and removing cannot
 * race. A claim whose owner died is itself broken the same way, one level down. Returns `false` when it
 * could not act yet (another starter's claim is live): the caller looks again.
 */
function breakStale(target: string, text: string, mine: string, depth: number): boolean {
  const claim = claimPath(target, text);
  try {
    linkSync(mine, claim);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const claimText = readLock(claim);
    if (claimText === null) return false;
    const claimOwner = parseOwner(claimText);
    if ((claimOwner !== null && ownerRuns(claimOwner)) || depth >= MAX_BREAK_DEPTH) return false;
    breakStale(claim, claimText, mine, depth + 1);
    return false;
  }
  try {
    if (readLock(target) === text) unlinkSync(target);
  } finally {
    unlinkSync(claim);
  }
  return true;
}

/**
 * Removes what starters that died while taking the lock left beside it: their lock written aside
 * (`LOCK.<token>`), their claims (`LOCK.break-*`), and the `LOCK.<token>.stale` of earlier versions.
 * Called holding the lock; a file whose writer still runs is left alone.
 */
function removeDeadStarterFiles(dir: string): void {
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(`${LOCK_FILE}.`)) continue;
    const path = join(dir, name);
    try {
      const text = readLock(path);
      if (text === null) continue;
      // An unreadable one may be a starter's, caught between creating and writing it: left for a minute.
      const owner = parseOwner(text);
      if (owner === null ? Date.now() - statSync(path).mtimeMs < 60_000 : ownerRuns(owner)) continue;
      unlinkSync(path);
    } catch {
      // Gone meanwhile, or not a file: nothing to clear.
    }
  }
}

/**
 * Takes `dir`'s lock for this process, creating `dir` if needed; returns the function that releases it.
 * A lock whose owner process is gone (a crash, a kill, a restart that reused its pid, a reboot) is taken
 * over at once. Throws `PersistenceLockedError` while a live process holds it (this one included: two
 * engines in one process must not share a directory either).
 *
 * The lock file appears with its content in one step (written aside, then hard-linked into place), so
 * a reader never sees it empty, and of several processes starting at once exactly one links it. A stale
 * lock is removed only by the starter that first claims it (`breakStale`); the others wait for that
 * starter and then find its lock.
 */
export function acquireLock(dir: string): () => void {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  const path = join(dir, LOCK_FILE);
  const token = randomBytes(12).toString('hex');
  const content = `${process.pid} ${startTimeOf(process.pid) ?? '-'} ${readBootId() ?? '-'} ${token}\n`;
  const aside = join(dir, `${LOCK_FILE}.${token}`);
  const fd = openSync(aside, 'wx', FILE_MODE);
  try {
    writeFully(fd, Buffer.from(content));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    const deadline = Date.now() + BREAK_WAIT_MS;
    for (;;) {
      try {
        linkSync(aside, path);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const text = readLock(path);
      if (text === null) continue;
      const owner = parseOwner(text);
      if (owner !== null && ownerRuns(owner)) {
        throw new PersistenceLockedError(
          `persistence.dir ${JSON.stringify(dir)} is in use by process ${owner.pid}${owner.pid === process.pid ? ' (this process: another engine)' : ''}; ` +
            `close that engine first (or, if no such engine runs, remove ${path})`,
        );
      }
      if (breakStale(path, text, aside, 0)) continue;
      if (Date.now() >= deadline) {
        throw new PersistenceLockedError(
          `persistence.dir ${JSON.stringify(dir)}: its stale lock ${path} is being taken over by another starter that has not finished in ${BREAK_WAIT_MS} ms; ` +
            `retry, or remove ${path} and the ${LOCK_FILE}.break-* files beside it if no engine runs`,
        );
      }
      sleepSync(5);
    }
  } finally {
    unlinkSync(aside);
  }
  removeDeadStarterFiles(dir);
  fsyncDir(dir);
  heldTokens.add(token);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    heldTokens.delete(token);
    const text = readLock(path);
    if (text !== null && parseOwner(text)?.token === token) unlinkSync(path);
  };
}

/** What the manifest says. */
export interface Manifest {
  generation: number;
  shards: number;
}

/** The most shards a manifest may name (the `shards` option's bound). */
const MAX_SHARDS = 256;

/**
 * The manifest, or `null` when there is none. Throws `PersistenceCorruptError` for one that is not valid
 * JSON, names no valid generation, or has a newer format: guessing there could delete data.
 */
export function readManifest(dir: string): Manifest | null {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const remedy = `restore it from a backup, or remove it to let the engine recover from the data files (it does when they hold a single generation)`;
  let parsed: { format?: unknown; generation?: unknown; shards?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (error) {
    throw new PersistenceCorruptError(`${path} is not valid JSON (${text.length} characters: ${(error as Error).message}); nothing was deleted; ${remedy}`);
  }
  if (typeof parsed !== 'object' || parsed === null)
    throw new PersistenceCorruptError(`${path} holds ${JSON.stringify(text.slice(0, 40))}, not a manifest; nothing was deleted; ${remedy}`);
  if (typeof parsed.format !== 'number' || parsed.format > PERSISTENCE_FORMAT) {
    throw new PersistenceCorruptError(
      `${path} has format ${String(parsed.format)}; this version of session-shards reads up to ${PERSISTENCE_FORMAT}: use a newer version`,
    );
  }
  const { generation, shards } = parsed;
  if (!Number.isSafeInteger(generation) || (generation as number) < 1) {
    throw new PersistenceCorruptError(`${path}: generation must be a positive integer, got ${JSON.stringify(generation)}; nothing was deleted; ${remedy}`);
  }
  if (!Number.isSafeInteger(shards) || (shards as number) < 1 || (shards as number) > MAX_SHARDS) {
    throw new PersistenceCorruptError(
      `${path}: shards must be an integer from 1 to ${MAX_SHARDS}, got ${JSON.stringify(shards)}; nothing was deleted; ${remedy}`,
    );
  }
  return { generation: generation as number, shards: shards as number };
}

/**
 * The generation to recover from: the manifest's, or, without a manifest, the only generation whose data
 * files are there (`null` when there are none: a new directory). Throws `PersistenceCorruptError`, deleting
 * nothing, when that cannot be proven: no manifest beside files of several generations (which one was
 * committed is unknown), or a manifest naming a generation whose snapshots are gone beside other files.
 */
export function generationToRecover(dir: string): number | null {
  const manifest = readManifest(dir);
  const snapshots = new Set<number>();
  const generations = new Set<number>();
  for (const name of readdirSync(dir)) {
    const parsed = parseDataFileName(name);
    if (parsed === null || parsed.kind === 'temp') continue;
    generations.add(parsed.generation);
    if (parsed.kind === 'snapshot') snapshots.add(parsed.generation);
  }
  const path = join(dir, MANIFEST_FILE);
  const found = [...generations].sort((a, b) => a - b);
  if (manifest !== null) {
    // A committed generation has a snapshot of every shard: without one, the files were lost or mixed.
    if (!snapshots.has(manifest.generation) && found.length > 0) {
      throw new PersistenceCorruptError(
        `${path} names generation ${manifest.generation}, but ${dir} holds no snapshot of it, only files of generation ${found.join(', ')}; ` +
          `nothing was deleted; restore the files of generation ${manifest.generation} from a backup, or remove ${path} to recover from the files there`,
      );
    }
    return manifest.generation;
  }
  if (found.length <= 1) return found[0] ?? null;
  throw new PersistenceCorruptError(
    `${path} is missing, and ${dir} holds data files of generations ${found.join(', ')}: which one was committed is unknown; nothing was deleted; ` +
      `restore ${MANIFEST_FILE} from a backup, or write {"format":${PERSISTENCE_FORMAT},"generation":G,"shards":N} naming the generation to recover (the newest if its start completed)`,
  );
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
