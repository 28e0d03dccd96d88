/**
 * Reading a persistence directory back: snapshots, then the logs after them, in order.
 *
 * Only the shard `shardFor(id, shards)` names keeps a session, so a start with a different shard count
 * reads every shard's files and each shard takes its own share. A torn or corrupt tail (a crash mid-write,
 * flipped bytes) ends that file: the records before it are kept, the rest is counted and reported.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decode } from '../../../protocol/codec.js';
import type { ShardPersistenceConfig } from '../../../protocol/messages.js';
import { parseDataFileName, type DataFileName } from '../../../protocol/persistence-files.js';
import { shardFor } from '../../../protocol/shard-for.js';
import { FileKind, FrameReader } from './frames.js';

/**
 * The log's own operation for sessions a sweep or an access found expired: `[time, LOG_EXPIRED, null, ids]`.
 * Outside the wire's op codes, so a batch can never carry it.
 */
export const LOG_EXPIRED = 100;

/**
 * The log's record of a fork: `[time, LOG_FORKED, newId, session]`, the new session whole (as a snapshot
 * stores it), under its own id. Not the fork operation itself, which names the source: with another shard
 * count the source and the copy may belong to different shards, and each shard replays only its own ids.
 */
export const LOG_FORKED = 101;

/** Log records are flat `[time, op, id, arg]` quadruples, one record (one batch) after another. */
export const LOG_STRIDE = 4;

/** Where recovered state goes. */
export interface RecoverySink {
  /**
   * A session record from a snapshot (`serialiseStoredSession`'s, or `serialiseSessionFields`' with its log
   * in `logPieces`); throws a TypeError if it is not one, or if its pieces are cut short.
   */
  restore(record: object, logPieces: Iterable<Uint8Array>): void;
  /** One logged operation, to apply as of `time`; false if it could not be applied. */
  replay(time: number, op: number, id: string | null, arg: unknown): boolean;
}

/** What `recoverFiles` found. */
export interface RecoveredFiles {
  /** Torn or corrupt tails, undecodable records, and records that failed to apply. */
  skippedRecords: number;
  /** The highest log number of this shard's own files in the generation read (0 if none). */
  lastLogSeq: number;
  /**
   * Files damaged beyond what a crash leaves (a torn tail of a shard's newest log): a bad snapshot, a bad
   * record before a log's end or in an older log, a record that cannot be applied again.
   */
  damaged: string[];
}

/**
 * Feeds `sink` everything this shard must recover from generation `config.recoverGeneration`: every shard's
 * files when `config.recoverAll`, else only its own. `warn` receives one line per skipped tail or record.
 */
export function recoverFiles(config: ShardPersistenceConfig, shard: number, sink: RecoverySink, warn: (message: string) => void): RecoveredFiles {
  const result: RecoveredFiles = { skippedRecords: 0, lastLogSeq: 0, damaged: [] };
  if (config.recoverGeneration === null) return result;
  const bySource = new Map<number, { snapshot: string | null; logs: { name: string; seq: number }[] }>();
  for (const name of readdirSync(config.dir)) {
    const parsed: DataFileName | null = parseDataFileName(name);
    if (parsed === null || parsed.kind === 'temp' || parsed.generation !== config.recoverGeneration) continue;
    if (!config.recoverAll && parsed.shard !== shard) continue;
    let source = bySource.get(parsed.shard);
    if (source === undefined) {
      source = { snapshot: null, logs: [] };
      bySource.set(parsed.shard, source);
    }
    if (parsed.kind === 'snapshot') source.snapshot = name;
    else source.logs.push({ name, seq: parsed.seq });
    if (parsed.shard === shard && parsed.seq > result.lastLogSeq) result.lastLogSeq = parsed.seq;
  }
  const mine = (id: unknown): id is string => typeof id === 'string' && shardFor(id, config.shards) === shard;
  const skip = (message: string, damaged: string | null): void => {
    result.skippedRecords++;
    warn(message);
    if (damaged !== null && !result.damaged.includes(damaged)) result.damaged.push(damaged);
  };
  for (const source of bySource.values()) {
    let coversLog = 0;
    if (source.snapshot !== null) {
      const file = new FrameReader(join(config.dir, source.snapshot), FileKind.SNAPSHOT, source.snapshot);
      coversLog = file.number;
      for (let payload = file.next(); payload !== null; payload = file.next()) {
        let pieces = 0;
        try {
          const record: unknown = decode(payload);
          if (typeof record !== 'object' || record === null || typeof (record as { id?: unknown }).id !== 'string') throw new TypeError('not a session record');
          const { id, logPieces } = record as { id: string; logPieces?: unknown };
          // Format 2 stores the log in the records after the session's own (see `snapshot.ts`).
          if (Number.isSafeInteger(logPieces) && (logPieces as number) > 0) pieces = logPieces as number;
          // Only this shard's: a restored session takes pieces of its shard's log arena.
          if (mine(id))
            sink.restore(
              record,
              takePieces(file, () => pieces--),
            );
        } catch (error) {
          skip(`${source.snapshot}: undecodable session record (${(error as Error).message})`, source.snapshot);
        }
        // Another shard's session, or one that failed: its pieces are passed over.
        while (pieces-- > 0 && file.next() !== null);
      }
      // A snapshot is renamed into place whole: any bad record in it is damage.
      if (file.torn !== null) skip(file.torn, source.snapshot);
    }
    if (coversLog > result.lastLogSeq && source === bySource.get(shard)) result.lastLogSeq = coversLog;
    source.logs.sort((a, b) => a.seq - b.seq);
    const newest = source.logs.at(-1);
    for (const log of source.logs) {
      if (log.seq <= coversLog) continue;
      const file = new FrameReader(join(config.dir, log.name), FileKind.LOG, log.name);
      for (let payload = file.next(); payload !== null; payload = file.next())
        replayRecord(payload, log.name, mine, sink, (message) => skip(message, log.name));
      // A crash mid-append tears the newest log's tail; anything else is damage.
      if (file.torn !== null) skip(file.torn, log === newest ? null : log.name);
    }
  }
  return result;
}

/** The next `count()` records of `file` (each call to `count` takes one), ending early at a torn tail. */
function* takePieces(file: FrameReader, count: () => number): Generator<Uint8Array> {
  while (count() > 0) {
    const piece = file.next();
    if (piece === null) return;
    yield piece;
  }
}

function replayRecord(payload: Uint8Array, file: string, mine: (id: unknown) => id is string, sink: RecoverySink, skip: (message: string) => void): void {
  let ops: unknown;
  try {
    ops = decode(payload);
  } catch (error) {
    skip(`${file}: undecodable log record (${(error as Error).message})`);
    return;
  }
  if (!Array.isArray(ops) || ops.length % LOG_STRIDE !== 0) {
    skip(`${file}: malformed log record`);
    return;
  }
  for (let i = 0; i < ops.length; i += LOG_STRIDE) {
    const time = ops[i];
    const op = ops[i + 1];
    const id = ops[i + 2];
    let arg = ops[i + 3];
    if (typeof time !== 'number' || typeof op !== 'number') {
      skip(`${file}: malformed log operation`);
      continue;
    }
    if (op === LOG_EXPIRED) {
      if (!Array.isArray(arg)) {
        skip(`${file}: malformed expiry record`);
        continue;
      }
      arg = arg.filter(mine);
      if ((arg as string[]).length === 0) continue;
    } else if (!mine(id)) continue;
    if (!sink.replay(time, op, op === LOG_EXPIRED ? null : (id as string), arg)) skip(`${file}: operation ${op} on ${String(id)} could not be applied again`);
  }
}
