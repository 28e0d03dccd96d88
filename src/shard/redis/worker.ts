/**
 * The entry of a shard worker whose sessions live in Redis: piscina calls the default export with one
 * encoded batch at a time (see `batch-runner.ts` and `redis-backend.ts`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ShardConfig } from '../../protocol/messages.js';
import { BatchRunner, ReplySequence } from '../batch-runner.js';
import { RedisBackend } from './redis-backend.js';

const sequence = new ReplySequence();
const backend = new RedisBackend(workerData as ShardConfig, sequence, (event) => parentPort?.postMessage(event));
// A worker that is terminated (engine closed, shard restarted) must not leave sockets behind.
process.once('exit', () => backend.close());

export default new BatchRunner(backend, sequence).handle;
