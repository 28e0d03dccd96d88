/**
 * A host exporting the engine's metrics with OpenTelemetry: calls by operation and outcome, their latency,
 * batch sizes, restarts, and each shard's queue, sessions, heap and log bytes. Here the SDK prints to the
 * console once; a host would configure its own exporter (OTLP, Prometheus).
 * Run it with `npm run build && node dist/examples/otel.js`.
 */
import { ConsoleMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { SessionEngine } from '../src/index.js';
import { instrumentEngine } from '../src/otel/index.js';

const reader = new PeriodicExportingMetricReader({ exporter: new ConsoleMetricExporter(), exportIntervalMillis: 60_000 });
const provider = new MeterProvider({ readers: [reader] });
const engine = await SessionEngine.start({ shards: 2 });
const stop = instrumentEngine(engine, provider.getMeter('my-host'));

const id = await engine.create();
await engine.appendMessage(id, { role: 'user', content: 'Hello!' });
await engine.get(id, { lastMessages: 1 });

await reader.forceFlush();
stop();
await engine.close();
await provider.shutdown();
