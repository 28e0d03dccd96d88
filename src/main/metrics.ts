/**
 * What the host can see of its calls: counts, errors by code and latency per operation (call to settled,
 * on the host's thread), and batch sizes per shard. Kept in a few typed arrays per operation (no object per
 * call), published through `node:diagnostics_channel` only while someone listens, and read whole with
 * `engine.metrics()`. The OpenTelemetry bridge (`session-shards/otel`) is one such listener.
 */
import diagnosticsChannel from 'node:diagnostics_channel';

/** The channels the engine publishes on (`diagnostics_channel.subscribe(name, listener)`). */
export const METRICS_CHANNELS = Object.freeze({
  /** A call settled: `CallMessage`. */
  call: 'session-shards:call',
  /** A batch went to a shard: `BatchMessage`. */
  batch: 'session-shards:batch',
  /** A shard's worker was replaced: `{ engine, shard: number, lostSessions: number }`. */
  restart: 'session-shards:restart',
});

/** What `session-shards:call` carries. */
export interface CallMessage {
  /** The engine the call was made on (several may share a process and its channels). */
  engine: object;
  /** The engine method's operation (`get`, `append`, `appendMany`, `splice`, ...). */
  op: string;
  shard: number;
  /** From the call to its promise settling, in milliseconds. */
  durationMs: number;
  /** The error's code (`ERR_...`), or `null` for a call that resolved. */
  code: string | null;
}

/** What `session-shards:batch` carries. */
export interface BatchMessage {
  engine: object;
  shard: number;
  ops: number;
  bytes: number;
}

/**
 * Upper bounds of the latency buckets, in milliseconds: powers of two from 2^-6 ms to
 * 2^15 ms (about 33 s), then everything above.
 */
export const LATENCY_BOUNDS_MS: readonly number[] = Object.freeze(Array.from({ length: 22 }, (_, k) => 2 ** (k - 6)));
/** Upper bounds of the batch-size buckets, in operations: 1, 2, 4, ... 2^20. */
export const BATCH_BOUNDS_OPS: readonly number[] = Object.freeze(Array.from({ length: 21 }, (_, k) => 2 ** k));

/** A histogram as `metrics()` returns it: `counts[i]` values were at most `bounds[i]` (and above the bound before); the last count is above every bound. */
export interface HistogramSnapshot {
  bounds: readonly number[];
  counts: number[];
  count: number;
  sum: number;
}

/** One operation's figures. */
export interface OperationMetrics {
  calls: number;
  /** Calls that rejected, by error code. */
  errors: Record<string, number>;
  /** Host-side latency, call to settled, in milliseconds. */
  latencyMs: HistogramSnapshot;
}

/** What `engine.metrics()` resolves: the host's counters since start, and each shard's figures now. */
export interface MetricsSnapshot {
  operations: Record<string, OperationMetrics>;
  /** Operations per batch sent, over all shards. */
  batchOps: HistogramSnapshot;
  /** Bytes of batches sent, over all shards. */
  batchBytes: number;
}

class Histogram {
  readonly counts: Float64Array;
  count = 0;
  sum = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  record(value: number): void {
    const { bounds } = this;
    let i = 0;
    // A short scan: the buckets are few, and most calls land in the first handful.
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sum += value;
  }

  snapshot(): HistogramSnapshot {
    return { bounds: this.bounds, counts: Array.from(this.counts), count: this.count, sum: this.sum };
  }
}

interface OperationState {
  calls: number;
  errors: Map<string, number>;
  latency: Histogram;
}

const callChannel = diagnosticsChannel.channel(METRICS_CHANNELS.call);
const batchChannel = diagnosticsChannel.channel(METRICS_CHANNELS.batch);
const restartChannel = diagnosticsChannel.channel(METRICS_CHANNELS.restart);

/** The host's counters of one engine. */
export class EngineMetrics {
  /** @param engine what the channels' messages name as their engine. */
  constructor(private readonly engine: object) {}

  private readonly operations = new Map<string, OperationState>();
  private readonly batchOps = new Histogram(BATCH_BOUNDS_OPS);
  private batchBytes = 0;

  /** A call on `shard` settled `durationMs` after it was made; `code`: its error's, or `null`. */
  callSettled(op: string, shard: number, durationMs: number, code: string | null): void {
    let state = this.operations.get(op);
    if (state === undefined) {
      state = { calls: 0, errors: new Map(), latency: new Histogram(LATENCY_BOUNDS_MS) };
      this.operations.set(op, state);
    }
    state.calls++;
    state.latency.record(durationMs);
    if (code !== null) state.errors.set(code, (state.errors.get(code) ?? 0) + 1);
    if (callChannel.hasSubscribers) callChannel.publish({ engine: this.engine, op, shard, durationMs, code } satisfies CallMessage);
  }

  /** A batch of `ops` operations and `bytes` bytes went to `shard`. */
  batchSent(shard: number, ops: number, bytes: number): void {
    this.batchOps.record(ops);
    this.batchBytes += bytes;
    if (batchChannel.hasSubscribers) batchChannel.publish({ engine: this.engine, shard, ops, bytes } satisfies BatchMessage);
  }

  /** A shard's worker was replaced. */
  restarted(shard: number, lostSessions: number): void {
    if (restartChannel.hasSubscribers) restartChannel.publish({ engine: this.engine, shard, lostSessions });
  }

  snapshot(): MetricsSnapshot {
    const operations: Record<string, OperationMetrics> = {};
    for (const [op, state] of [...this.operations].sort(([a], [b]) => (a < b ? -1 : 1))) {
      operations[op] = { calls: state.calls, errors: Object.fromEntries(state.errors), latencyMs: state.latency.snapshot() };
    }
    return { operations, batchOps: this.batchOps.snapshot(), batchBytes: this.batchBytes };
  }
}
