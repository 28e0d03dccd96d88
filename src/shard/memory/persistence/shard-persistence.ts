/**
 * A shard worker's persistence: recovery at start, the log of every change it applies (one record per
 * batch), and compaction (a snapshot, then a fresh log) when the log grows past its threshold.
 *
 * The log records operations as they were applied, each with the time it was applied at; recovery
 * replays them through the same code with the store's clock set to that time, so the idle clock, limits
 * and expiry come out as they were.
 */
import { linkSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { encode } from '../../../protocol/codec.js';
import type { RecoveryFigures, ShardPersistenceConfig } from '../../../protocol/messages.js';
import { OPS } from '../../../protocol/ops.js';
import { DAMAGED_DIR, DIR_MODE, fsyncDir, parseDataFileName } from '../../../protocol/persistence-files.js';
import type { SessionStore } from '../session-store.js';
import { restoreStoredSession } from '../stored-session.js';
import { LOG_EXPIRED, recoverFiles, type RecoverySink } from './recovery.js';
import { ShardLog } from './shard-log.js';
import { writeSnapshot } from './snapshot.js';

/** How often a recovery reports progress to the host: well within the smallest `shardTimeoutMs` (100). */
const PROGRESS_MS = 20;

export class ShardPersistence {
  private log: ShardLog | null = null;
  /** The records of the batch being applied. */
  private pending: unknown[] = [];
  private compaction: Promise<void> | null = null;
  /** Set while the files hold content of a removed or expired session (see `eraseSoon`). */
  private eraseTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly config: ShardPersistenceConfig,
    private readonly shard: number,
    private readonly store: SessionStore,
    /** Applies one logged operation to the store as of `time`; false if it failed. */
    private readonly replay: RecoverySink['replay'],
    /** Sets the store's clock (recovery ends with the real time, to expire what went stale meanwhile). */
    private readonly setClock: (time: number) => void,
    /** Tells the host that recovery advances (called every `PROGRESS_MS` or so while it runs). */
    private readonly progress: () => void = () => undefined,
  ) {}

  /** Restores the store from the files, then writes this shard's snapshot and opens its log. */
  async recover(): Promise<RecoveryFigures> {
    const started = performance.now();
    const warnings: string[] = [];
    let reportedAt = started;
    const tick = (): void => {
      if (performance.now() - reportedAt < PROGRESS_MS) return;
      reportedAt = performance.now();
      this.progress();
    };
    const ticking = function* (pieces: Iterable<Uint8Array>): Generator<Uint8Array> {
      for (const piece of pieces) {
        tick();
        yield piece;
      }
    };
    // Also while it awaits the disk (a snapshot's fsync): the turning event loop shows it is not hung.
    const ticker = setInterval(tick, PROGRESS_MS);
    try {
      let found: ReturnType<typeof recoverFiles>;
      this.store.replaying = true;
      try {
        found = recoverFiles(
          this.config,
          this.shard,
          {
            restore: (record, pieces) => {
              tick();
              this.store.restore(restoreStoredSession(record, this.store.rows, this.store.arena, ticking(pieces)));
            },
            replay: (time, op, id, arg) => {
              tick();
              return this.replay(time, op, id, arg);
            },
          },
          (message) => warnings.push(message),
        );
      } finally {
        this.store.replaying = false;
      }
      this.keepDamaged(found.damaged, warnings);
      this.setClock(Date.now());
      const expired = this.store.sweep();
      // Expired while the host was down: counted in the figures, not announced as 'expired' events.
      this.store.drainExpired();
      const ownGeneration = this.config.recoverGeneration === this.config.generation;
      // In slices, reporting progress between them: nothing is served before recovery ends anyway.
      await this.compact(ownGeneration ? found.lastLogSeq : 0, async () => tick(), tick);
      return { sessions: this.store.size, expired, skippedRecords: found.skippedRecords, ms: performance.now() - started, warnings };
    } finally {
      clearInterval(ticker);
    }
  }

  /**
   * Keeps a copy (a hard link) of each damaged file in `damaged/`, before the new snapshot makes the
   * files superseded and they are deleted: what could not be read may still be repaired by hand.
   */
  private keepDamaged(names: readonly string[], warnings: string[]): void {
    if (names.length === 0) return;
    const kept = join(this.config.dir, DAMAGED_DIR);
    mkdirSync(kept, { recursive: true, mode: DIR_MODE });
    for (const name of names) {
      const copy = join(kept, `${name}.${Date.now()}.s${this.shard}`);
      try {
        linkSync(join(this.config.dir, name), copy);
        warnings.push(`${name} is damaged: a copy is kept as ${copy}`);
      } catch (error) {
        warnings.push(`${name} is damaged, and no copy could be kept (${(error as Error).message})`);
      }
    }
    fsyncDir(kept);
    fsyncDir(this.config.dir);
  }

  /** Notes one operation applied by the batch in progress, at `time`. */
  record(time: number, op: number, id: string | null, arg: unknown): void {
    this.pending.push(time, op, id, arg);
    if (op === OPS.remove.code) this.eraseSoon();
  }

  /** Notes sessions found expired at `time` (by a sweep or an access). */
  expired(time: number, ids: readonly string[]): void {
    this.pending.push(time, LOG_EXPIRED, null, ids);
    this.eraseSoon();
  }

  /** A session's content left the store: within `eraseWithinMs`, a compaction removes it from the files. */
  private eraseSoon(): void {
    if (this.eraseTimer !== null) return;
    this.eraseTimer = setTimeout(() => {
      this.eraseTimer = null;
      this.erase();
    }, this.config.eraseWithinMs).unref();
  }

  /** Compacts now, or once the compaction in progress ends (it may have captured the removed session). */
  private erase(): void {
    if (this.log === null) return;
    if (this.compaction !== null) {
      void this.compaction.then(() => this.erase());
      return;
    }
    this.startCompaction();
  }

  private startCompaction(): void {
    this.compaction = this.compact(this.log!.seq, () => yieldToEventLoop()).finally(() => {
      this.compaction = null;
    });
  }

  /**
   * Writes what was noted as one record (fsynced first under `'always'`): call before the batch's reply
   * is released. Starts a compaction when the log has grown past its threshold.
   */
  commit(): void {
    this.writePending();
    if (this.compaction === null && this.log !== null && this.log.bytes > this.config.compactAfterBytes) this.startCompaction();
  }

  /**
   * Waits for a compaction in progress, then makes every record written so far durable. `closing`: the
   * content of sessions removed since the last compaction is erased first (no timer will do it later).
   */
  async flush(closing = false): Promise<void> {
    await this.compaction;
    if (closing && this.eraseTimer !== null) {
      clearTimeout(this.eraseTimer);
      this.eraseTimer = null;
      this.startCompaction();
      await this.compaction;
    }
    this.writePending();
    this.log?.sync();
  }

  /** Flushes and closes the log (the engine is closing). */
  close(): void {
    if (this.eraseTimer !== null) clearTimeout(this.eraseTimer);
    this.eraseTimer = null;
    this.writePending();
    this.log?.close();
    this.log = null;
  }

  private writePending(): void {
    if (this.pending.length === 0) return;
    const payload = encode(this.pending);
    this.pending = [];
    this.log!.append(payload);
  }

  /**
   * Captures the store, switches to log `coversLog + 1` (what happens from now on goes there), writes the
   * captured sessions as the snapshot covering logs 1..coversLog, then deletes those logs.
   */
  private async compact(coversLog: number, pause: (() => Promise<void>) | null, wrote?: () => void): Promise<void> {
    this.writePending();
    // What was removed before the capture is erased by this compaction.
    if (this.eraseTimer !== null) clearTimeout(this.eraseTimer);
    this.eraseTimer = null;
    const sessions = this.store.capture();
    const previous = this.log;
    this.log = new ShardLog(this.config.dir, this.config.generation, this.shard, coversLog + 1, this.config.fsync);
    previous?.close();
    await writeSnapshot({ dir: this.config.dir, generation: this.config.generation, shard: this.shard, coversLog }, sessions, pause, undefined, wrote);
    for (const name of readdirSync(this.config.dir)) {
      const parsed = parseDataFileName(name);
      if (parsed?.kind === 'log' && parsed.generation === this.config.generation && parsed.shard === this.shard && parsed.seq <= coversLog) {
        unlinkSync(join(this.config.dir, name));
      }
    }
  }
}
