/**
 * The entry of a shard worker whose sessions live in its own memory: piscina calls the default export with
 * one encoded batch at a time (see `batch-runner.ts`).
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { ShardConfig } from '../../protocol/messages.js';
import { BatchRunner, ReplySequence } from '../batch-runner.js';
import { IdleSpin } from '../idle-spin.js';
import { MemoryBackend } from './memory-backend.js';

const config = workerData as ShardConfig;
const sequence = new ReplySequence();
const progress = new Int32Array(config.progress ?? new SharedArrayBuffer(4), 0, 1);
const backend = new MemoryBackend(
  config,
  sequence,
  (event) => parentPort?.postMessage(event),
  () => Atomics.add(progress, 0, 1),
);
backend.startCleanupTimer();
const runner = new BatchRunner(backend, sequence, {
  spin: new IdleSpin(config.spin.us / 1_000, config.spin.board, config.spin.spinners, performance.now.bind(performance)),
  replies: config.replies,
});

export default runner.handle;
