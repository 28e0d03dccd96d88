/**
 * Writing a shard's snapshot: every session in one file, made durable and put in place atomically
 * (a temp file, fsync, rename, fsync of the directory), so a crash leaves either the old snapshot or the new.
 *
 * Each session is one record of its fields (`serialiseSessionFields`, plus `logPieces`) followed by its log
 * in that many records of at most `LOG_PIECE_BYTES`: a session may hold more than one buffer (or one msgpack
 * value) can.
 */
import { closeSync, fsync, fsyncSync, openSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { encode } from '../../../protocol/codec.js';
import { FILE_MODE, fsyncDir, snapshotFileName, writeFully } from '../../../protocol/persistence-files.js';
import { readLogBytes, serialiseSessionFields, type StoredSession } from '../stored-session.js';
import { encodeHeader, FileKind, FRAME_BYTES, writeFrame } from './frames.js';

/** Records are gathered into writes of about this size. */
const CHUNK_BYTES = 1 << 20;
/** The most log bytes one record of a snapshot carries. */
export const LOG_PIECE_BYTES = 8 << 20;

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
  /** Called after each record (a recovery reports its progress with it). */
  wrote: () => void = () => undefined,
): Promise<void> {
  const name = snapshotFileName(target.generation, target.shard);
  const temp = join(target.dir, `${name}.tmp`);
  const fd = openSync(temp, 'w', FILE_MODE);
  try {
    writeFully(fd, encodeHeader(FileKind.SNAPSHOT, target.coversLog));
    let chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    let used = 0;
    let sliceStarted = performance.now();
    const piece = Buffer.allocUnsafe(LOG_PIECE_BYTES);
    const put = (payload: Uint8Array): void => {
      if (used + FRAME_BYTES + payload.length > chunk.length) {
        writeFully(fd, chunk.subarray(0, used));
        used = 0;
        if (FRAME_BYTES + payload.length > chunk.length) chunk = Buffer.allocUnsafe(FRAME_BYTES + payload.length);
      }
      used = writeFrame(chunk, used, payload);
      wrote();
    };
    for (const session of sessions) {
      const end = session.logBytes;
      put(encode({ ...serialiseSessionFields(session), logPieces: Math.ceil(end / LOG_PIECE_BYTES) }));
      // No pause inside a session: a capture's copy is to be read whole before the store serves again.
      for (let at = 0; at < end; at += LOG_PIECE_BYTES) {
        const length = Math.min(LOG_PIECE_BYTES, end - at);
        readLogBytes(session, at, at + length, piece);
        put(piece.subarray(0, length));
      }
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
