/**
 * What a host can see: `engine.metrics()`, the `diagnostics_channel` messages behind it, and the
 * OpenTelemetry bridge (`session-shards/otel`) read by the SDK's own in-memory exporter.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { type BatchMessage, type CallMessage, METRICS_CHANNELS } from '../../dist/src/index.js';
import { INSTRUMENT_NAMES, instrumentEngine } from '../../dist/src/otel/index.js';
import { withEngine } from '../helpers/engine.js';

describe('metrics', () => {
  it('counts calls, errors by code and latency per operation, and batch sizes', async () => {
    await withEngine({ shards: 2 }, async (engine) => {
      const id = await engine.create();
      await Promise.all([engine.appendMessage(id, { role: 'user', content: 'a' }), engine.appendMessage(id, { role: 'user', content: 'b' })]);
      await engine.get(id);
      await engine.appendMessage('01M8ZZZZZZZZZZZZZZZZZZZZZZ', { role: 'user', content: 'x' }).catch(() => undefined);
      await engine.appendMessages(id, [{ id: 'same', role: 'user', content: 'c' }]);
      await engine.appendMessages(id, [{ id: 'same', role: 'user', content: 'other' }]).catch(() => undefined);
      const metrics = await engine.metrics();
      expect(metrics.operations.create).toMatchObject({ calls: 1, errors: {} });
      expect(metrics.operations.append).toMatchObject({ calls: 3, errors: { ERR_SESSION_NOT_FOUND: 1 } });
      expect(metrics.operations.appendMany).toMatchObject({ calls: 2, errors: { ERR_CONFLICT: 1 } });
      const latency = metrics.operations.get!.latencyMs;
      expect(latency.count).toBe(1);
      expect(latency.counts.reduce((sum, n) => sum + n, 0)).toBe(1);
      expect(latency.sum).toBeGreaterThan(0);
      expect(metrics.batchOps.count).toBeGreaterThan(0);
      expect(metrics.batchBytes).toBeGreaterThan(0);
      // Each shard's figures now, as stats() gives them.
      expect(metrics.shards).toHaveLength(2);
      expect(metrics.shards.every((shard) => typeof shard.heapUsedBytes === 'number' && typeof shard.pendingOps === 'number')).toBe(true);
    });
  });

  it('counts a call cut short once, by its code, and not again when its reply comes', async () => {
    await withEngine({ shards: 1, faultInjection: true, shardTimeoutMs: 30_000 }, async (engine) => {
      const id = await engine.create();
      const controller = new AbortController();
      const queued = engine.get(id, { signal: controller.signal });
      controller.abort();
      await queued.catch(() => undefined);
      const sent = new AbortController();
      const inFlight = engine.get(id, { signal: sent.signal });
      // Sent with this tick's batch; cut short while the shard answers it.
      await Promise.resolve();
      sent.abort();
      await inFlight.catch(() => undefined);
      await engine.touch(id);
      const metrics = await engine.metrics();
      expect(metrics.operations.get).toMatchObject({ calls: 2, errors: { ERR_ABORTED: 2 } });
    });
  });

  it('publishes each settled call and each batch on diagnostics_channel, naming its engine', async () => {
    const calls: CallMessage[] = [];
    const batches: BatchMessage[] = [];
    const onCall = (message: unknown) => calls.push(message as CallMessage);
    const onBatch = (message: unknown) => batches.push(message as BatchMessage);
    diagnosticsChannel.subscribe(METRICS_CHANNELS.call, onCall);
    diagnosticsChannel.subscribe(METRICS_CHANNELS.batch, onBatch);
    try {
      await withEngine({ shards: 1 }, async (engine) => {
        const id = await engine.create();
        await engine.popMessage(id, { ifLength: 3 }).catch(() => undefined);
        const mine = calls.filter((call) => call.engine === engine);
        expect(mine.map(({ op, shard, code }) => ({ op, shard, code }))).toEqual([
          { op: 'create', shard: 0, code: null },
          { op: 'pop', shard: 0, code: 'ERR_CONFLICT' },
        ]);
        expect(mine.every((call) => call.durationMs >= 0)).toBe(true);
        expect(batches.filter((batch) => batch.engine === engine).every((batch) => batch.ops >= 1 && batch.bytes > 0)).toBe(true);
      });
    } finally {
      diagnosticsChannel.unsubscribe(METRICS_CHANNELS.call, onCall);
      diagnosticsChannel.unsubscribe(METRICS_CHANNELS.batch, onBatch);
    }
  });

  it('feeds OpenTelemetry instruments that the SDK exports, and stops when asked', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
    const provider = new MeterProvider({ readers: [reader] });
    try {
      await withEngine({ shards: 2 }, async (engine) => {
        const stop = instrumentEngine(engine, provider.getMeter('test'));
        const id = await engine.create();
        await engine.appendMessage(id, { role: 'user', content: 'hello' });
        await engine.get('01M8ZZZZZZZZZZZZZZZZZZZZZZ');
        await reader.forceFlush();
        const metrics = exporter.getMetrics().flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics));
        const byName = new Map(metrics.map((metric) => [metric.descriptor.name, metric]));
        const calls = byName.get(INSTRUMENT_NAMES.calls)!;
        const points = calls.dataPoints.map((point) => ({ attributes: point.attributes, value: point.value }));
        expect(points).toEqual(
          expect.arrayContaining([
            { attributes: { op: 'create', outcome: 'ok' }, value: 1 },
            { attributes: { op: 'append', outcome: 'ok' }, value: 1 },
            { attributes: { op: 'get', outcome: 'ok' }, value: 1 },
          ]),
        );
        expect(byName.get(INSTRUMENT_NAMES.callDuration)!.dataPoints.length).toBeGreaterThan(0);
        // The gauges read stats() at collection: one point per shard.
        expect(
          byName
            .get(INSTRUMENT_NAMES.sessions)!
            .dataPoints.map((point) => point.value)
            .reduce((a, b) => Number(a) + Number(b), 0),
        ).toBe(1);
        stop();
        await engine.get(id);
        exporter.reset();
        await reader.forceFlush();
        const after = exporter.getMetrics().flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics));
        const getPoints = after
          .find((metric) => metric.descriptor.name === INSTRUMENT_NAMES.calls)
          ?.dataPoints.filter((point) => point.attributes.op === 'get' && point.attributes.outcome === 'ok');
        // Cumulative: the get recorded before stop stays 1; the one after stop is not counted.
        expect(getPoints?.[0]?.value).toBe(1);
      });
    } finally {
      await provider.shutdown();
    }
  });
});
