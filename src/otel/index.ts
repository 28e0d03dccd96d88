/**
 * session-shards/otel: the engine's metrics as OpenTelemetry instruments. It listens on the engine's
 * `diagnostics_channel` channels (`METRICS_CHANNELS`) and reads `engine.stats()` when a metric reader
 * collects; it imports nothing of OpenTelemetry itself: the host passes the `Meter` of the SDK it runs.
 *
 * ```ts
 * import { metrics } from '@opentelemetry/api';
 * import { instrumentEngine } from 'session-shards/otel';
 * const stop = instrumentEngine(engine, metrics.getMeter('my-host'));
 * ```
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { Attributes, BatchObservableCallback, Meter } from '@opentelemetry/api';
import { type BatchMessage, type CallMessage, METRICS_CHANNELS } from '../main/metrics.js';
import type { SessionEngine } from '../main/session-engine.js';

/** The instruments' names, for dashboards. */
export const INSTRUMENT_NAMES = Object.freeze({
  callDuration: 'session_shards.call.duration',
  calls: 'session_shards.calls',
  batchOps: 'session_shards.batch.operations',
  restarts: 'session_shards.shard.restarts',
  pendingOps: 'session_shards.shard.pending_operations',
  sessions: 'session_shards.shard.sessions',
  heapUsed: 'session_shards.shard.heap_used',
  logBytes: 'session_shards.shard.log_bytes',
});

/**
 * Records `engine`'s calls, batches and restarts on `meter`, and reports each shard's pending operations,
 * sessions, worker heap and log bytes when the host's reader collects. Returns the function that stops
 * listening (the observable instruments then report nothing).
 */
export function instrumentEngine(engine: SessionEngine, meter: Meter): () => void {
  const duration = meter.createHistogram(INSTRUMENT_NAMES.callDuration, {
    unit: 'ms',
    description: 'engine calls, from the call to its promise settling, on the host',
  });
  const calls = meter.createCounter(INSTRUMENT_NAMES.calls, { description: 'engine calls settled, by operation and outcome (the error code, or ok)' });
  const batchOps = meter.createHistogram(INSTRUMENT_NAMES.batchOps, { description: 'operations per batch sent to a shard' });
  const restarts = meter.createCounter(INSTRUMENT_NAMES.restarts, { description: 'shard workers replaced after a crash or hang' });
  const onCall = (message: unknown): void => {
    const call = message as CallMessage;
    if (call.engine !== engine) return;
    const attributes: Attributes = { op: call.op, outcome: call.code ?? 'ok' };
    duration.record(call.durationMs, attributes);
    calls.add(1, attributes);
  };
  const onBatch = (message: unknown): void => {
    const batch = message as BatchMessage;
    if (batch.engine === engine) batchOps.record(batch.ops, { shard: batch.shard });
  };
  const onRestart = (message: unknown): void => {
    const restart = message as { engine: object; shard: number };
    if (restart.engine === engine) restarts.add(1, { shard: restart.shard });
  };
  diagnosticsChannel.subscribe(METRICS_CHANNELS.call, onCall);
  diagnosticsChannel.subscribe(METRICS_CHANNELS.batch, onBatch);
  diagnosticsChannel.subscribe(METRICS_CHANNELS.restart, onRestart);

  const gauges = {
    pendingOps: meter.createObservableGauge(INSTRUMENT_NAMES.pendingOps, { description: 'operations queued or in flight on a shard' }),
    sessions: meter.createObservableGauge(INSTRUMENT_NAMES.sessions, { description: 'sessions a shard holds' }),
    heapUsed: meter.createObservableGauge(INSTRUMENT_NAMES.heapUsed, { unit: 'By', description: "a memory shard's worker V8 heap in use" }),
    logBytes: meter.createObservableGauge(INSTRUMENT_NAMES.logBytes, { unit: 'By', description: "a memory shard's message log bytes, outside the V8 heap" }),
  };
  let stopped = false;
  const callback: BatchObservableCallback = async (result) => {
    if (stopped) return;
    const stats = await engine.stats().catch(() => null);
    if (stats === null) return;
    stats.shards.forEach((shard, index) => {
      const attributes = { shard: index };
      result.observe(gauges.pendingOps, shard.pendingOps, attributes);
      result.observe(gauges.sessions, shard.sessions, attributes);
      result.observe(gauges.heapUsed, shard.heapUsedBytes, attributes);
      result.observe(gauges.logBytes, shard.logBytes, attributes);
    });
  };
  const observables = Object.values(gauges);
  meter.addBatchObservableCallback(callback, observables);
  return () => {
    if (stopped) return;
    stopped = true;
    diagnosticsChannel.unsubscribe(METRICS_CHANNELS.call, onCall);
    diagnosticsChannel.unsubscribe(METRICS_CHANNELS.batch, onBatch);
    diagnosticsChannel.unsubscribe(METRICS_CHANNELS.restart, onRestart);
    meter.removeBatchObservableCallback(callback, observables);
  };
}
