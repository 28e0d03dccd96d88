/**
 * Writing a shard's snapshot: every session in one file, made durable and put in place atomically
 * (a temp file, fsync, rename, fsync of the directory), so a crash leaves either the old snapshot or the new.
 */
import { closeSync, fsync, fsyncSync, openSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { encode } from '../../../protocol/codec.js';
import { FILE_MODE, fsyncDir, snapshotFileName, writeFully } from '../../../protocol/persistence-files.js';
import { serialiseStoredSession, type StoredSession } from '../stored-session.js';
import { encodeHeader, FileKind, FRAME_BYTES, writeFrame } from './frames.js';

/** Records are gathered into writes of about this size. */
const CHUNK_BYTES = 1 << 20;

/** Where a snapshot goes and what it covers. */
export interface SnapshotTarget {
  dir: string;
  generation: number;
  shard: number;
  /** The last log number whose records the snapshot includes; recovery replays the logs after it. */
  coversLog: number;
}

/**
 * Writes `sessions` (a point-in-time capture, see `SessionStore.capture()`) as the shard's snapshot.
 * With `pause`, it works in slices of about `sliceMs` and awaits `pause()` between them, so that the
 * shard keeps serving batches while a large snapshot is written.
 */
export async function writeSnapshot(
  target: SnapshotTarget,
  sessions: Iterable<StoredSession>,
  pause: (() => Promise<void>) | null = null,
  sliceMs = 4,
): Promise<void> {
  const name = snapshotFileName(target.generation, target.shard);
  const temp = join(target.dir, `${name}.tmp`);
  const fd = openSync(temp, 'w', FILE_MODE);
  try {
    writeFully(fd, encodeHeader(FileKind.SNAPSHOT, target.coversLog));
    let chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    let used = 0;
    let sliceStarted = performance.now();
    for (const session of sessions) {
      const payload = encode(serialiseStoredSession(session));
      if (used + FRAME_BYTES + payload.length > chunk.length) {
        writeFully(fd, chunk.subarray(0, used));
        used = 0;
        if (FRAME_BYTES + payload.length > chunk.length) chunk = Buffer.allocUnsafe(FRAME_BYTES + payload.length);
      }
      used = writeFrame(chunk, used, payload);
      if (pause !== null && performance.now() - sliceStarted >= sliceMs) {
        await pause();
        sliceStarted = performance.now();
      }
    }
    writeFully(fd, chunk.subarray(0, used));
    // While serving, the flush of a large file must not stall the shard: it runs on libuv's thread pool.
    if (pause === null) fsyncSync(fd);
    else await new Promise<void>((resolve, reject) => fsync(fd, (error) => (error === null ? resolve() : reject(error))));
  } finally {
    closeSync(fd);
  }
  renameSync(temp, join(target.dir, name));
  fsyncDir(target.dir);
}
