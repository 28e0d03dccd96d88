/**
 * One shard's append-only log file: one framed record per batch (group commit), fsynced as the policy says.
 */
import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { FsyncPolicy } from '../../../protocol/messages.js';
import { FILE_MODE, fsyncDir, logFileName, writeFully } from '../../../protocol/persistence-files.js';
import { encodeHeader, FileKind, frame, HEADER_BYTES } from './frames.js';

/** How often `'everysec'` syncs. */
const EVERYSEC_MS = 1_000;

export class ShardLog {
  /** Bytes in the file, header included. */
  bytes = HEADER_BYTES;
  private fd: number;
  private dirty = false;
  private syncing = false;
  private readonly timer: NodeJS.Timeout | null;

  /**
   * Creates log number `seq` (replacing a leftover of that name) and makes its header and its directory
   * entry durable before any record goes in.
   */
  constructor(
    dir: string,
    generation: number,
    shard: number,
    readonly seq: number,
    private readonly policy: FsyncPolicy,
  ) {
    this.fd = openSync(join(dir, logFileName(generation, shard, seq)), 'w', FILE_MODE);
    writeFully(this.fd, encodeHeader(FileKind.LOG, seq));
    fdatasyncSync(this.fd);
    fsyncDir(dir);
    this.timer = policy === 'everysec' ? setInterval(() => this.syncInBackground(), EVERYSEC_MS).unref() : null;
  }

  /**
   * Appends one record in one write. With `'always'` it returns once the record is on disk; a failed
   * write or sync throws (the caller must not acknowledge what it logged).
   */
  append(payload: Uint8Array): void {
    const framed = frame(payload);
    writeFully(this.fd, framed);
    this.bytes += framed.length;
    if (this.policy === 'always') fdatasyncSync(this.fd);
    else this.dirty = true;
  }

  /** Flushes what was written to the disk. */
  sync(): void {
    if (!this.dirty || this.fd < 0) return;
    this.dirty = false;
    fdatasyncSync(this.fd);
  }

  /**
   * `'everysec'`'s sync: on libuv's thread pool, so that a slow disk never stalls the shard's batches.
   * A failure is retried by the next tick (the records stay marked dirty).
   */
  private syncInBackground(): void {
    if (!this.dirty || this.fd < 0 || this.syncing) return;
    this.dirty = false;
    this.syncing = true;
    fdatasync(this.fd, (error) => {
      this.syncing = false;
      if (error !== null) this.dirty = true;
    });
  }

  /** Syncs and closes. Idempotent. */
  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    if (this.fd < 0) return;
    this.dirty = true;
    this.sync();
    closeSync(this.fd);
    this.fd = -1;
  }
}
