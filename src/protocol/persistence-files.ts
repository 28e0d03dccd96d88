/**
 * The layout of a persistence directory, shared by the engine (which owns the directory: lock, manifest,
 * generations) and the shard workers (which own their snapshot and log files).
 *
 *   LOCK                      the owning process's pid; one engine per directory
 *   manifest.json             `{ format, generation, shards }`: the generation that is authoritative
 *   g<G>-s<S>.snap            shard S's snapshot in generation G (covers its logs 1..n, n in the header)
 *   g<G>-s<S>-<n>.log         shard S's n-th log in generation G, replayed after the snapshot
 *   *.tmp                     a file being written; never read, removed at the next start
 *   damaged/                  copies of files recovery found damaged (beyond a crash's torn tail); never read
 *
 * Every start writes a new generation: each shard recovers from the old one (every shard's files, keeping
 * the sessions `shardFor` gives it, so the shard count may change), writes its snapshot into the new one,
 * and only once all have done so does the engine switch the manifest. A start that dies half-way leaves
 * the old generation authoritative.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** The version of the persistence file format; a reader refuses files of a newer one. 3: messages of format 3 (ids, parts). */
export const PERSISTENCE_FORMAT = 3;

/** Files are readable by their owner only: they hold conversations. */
export const FILE_MODE = 0o600;
/** The directory, when the engine creates it. */
export const DIR_MODE = 0o700;

export const LOCK_FILE = 'LOCK';
export const MANIFEST_FILE = 'manifest.json';
/** Where recovery keeps copies of damaged files (see `ShardPersistence`). */
export const DAMAGED_DIR = 'damaged';

/** Shard `shard`'s snapshot file in generation `generation`. */
export function snapshotFileName(generation: number, shard: number): string {
  return `g${generation}-s${shard}.snap`;
}

/** Shard `shard`'s log number `seq` in generation `generation`. */
export function logFileName(generation: number, shard: number, seq: number): string {
  return `g${generation}-s${shard}-${seq}.log`;
}

/** What a data file's name says about it. */
export interface DataFileName {
  generation: number;
  shard: number;
  kind: 'snapshot' | 'log' | 'temp';
  /** A log's number (0 for a snapshot or a temp file). */
  seq: number;
}

const DATA_FILE = /^g(\d{1,9})-s(\d{1,4})(?:\.snap|-(\d{1,9})\.log)(\.tmp)?$/;

/** Parses a data file's name; `null` for any other file (the lock, the manifest, a stranger's file). */
export function parseDataFileName(name: string): DataFileName | null {
  const match = DATA_FILE.exec(name);
  if (match === null) return null;
  const temp = match[4] !== undefined;
  const isLog = match[3] !== undefined;
  return {
    generation: Number(match[1]),
    shard: Number(match[2]),
    kind: temp ? 'temp' : isLog ? 'log' : 'snapshot',
    seq: isLog ? Number(match[3]) : 0,
  };
}

/** Makes a rename or a new file in `dir` durable (the directory entry itself must reach the disk). */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes all of `bytes` at the file's current position (a write may be partial). */
export function writeFully(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
}

/** Replaces `name` in `dir` with `bytes` atomically: a temp file, fsync, rename, fsync of the directory. */
export function writeFileAtomic(dir: string, name: string, bytes: Uint8Array): void {
  const temp = join(dir, `${name}.tmp`);
  const fd = openSync(temp, 'w', FILE_MODE);
  try {
    writeFully(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, join(dir, name));
  fsyncDir(dir);
}
