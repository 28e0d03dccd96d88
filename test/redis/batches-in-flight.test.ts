/**
 * A Redis shard keeps several batches in flight: while Redis has yet to answer one, the calls of the next
 * tick go out as a batch of their own (up to eight at once), instead of waiting for the reply. Whatever
 * the batches, the calls on a session apply in the order they were made, reads included.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BatchMessage, METRICS_CHANNELS, SessionEngine } from '../../dist/src/index.js';
import { hasRedis, RedisServer } from './redis-server.js';

let server: RedisServer;
let engine: SessionEngine;

const nextTick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The ops of each batch `engine` sends from now on, in order, until `stop()`. */
function watchBatches(): { batches: number[]; stop(): void } {
  const batches: number[] = [];
  const onBatch = (message: unknown): void => {
    const batch = message as BatchMessage;
    if (batch.engine === engine) batches.push(batch.ops);
  };
  diagnosticsChannel.subscribe(METRICS_CHANNELS.batch, onBatch);
  return { batches, stop: () => diagnosticsChannel.unsubscribe(METRICS_CHANNELS.batch, onBatch) };
}

describe.skipIf(!hasRedis)('batches in flight on a Redis shard', () => {
  beforeAll(async () => {
    server = await RedisServer.start();
    engine = await SessionEngine.start({ shards: 1, store: { redis: server.url }, storeTimeoutMs: 10_000 });
  });
  afterAll(async () => {
    server?.resume();
    await engine?.close();
    await server?.stop();
  });

  it('sends each tick as its own batch while Redis has not answered, and applies them in call order', async () => {
    const id = await engine.create();
    const { batches, stop } = watchBatches();
    // Frozen, Redis answers nothing: every batch sent stays in flight.
    server.pause();
    const appends: Promise<number>[] = [];
    const reads: Promise<number | undefined>[] = [];
    try {
      for (let tick = 0; tick < 8; tick++) {
        // One call per tick; the read of each tick after the first must see exactly the appends before it.
        if (tick % 2 === 1) reads.push(engine.get(id, { lastMessages: 0 }).then((session) => session?.length));
        else appends.push(engine.appendMessage(id, { role: 'user', content: `m${tick / 2}` }));
        await nextTick();
      }
      // Eight batches of one call each went out at once: none waited for the one before to be answered.
      expect(batches).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    } finally {
      server.resume();
      stop();
    }
    expect(await Promise.all(appends)).toEqual([1, 2, 3, 4]);
    expect(await Promise.all(reads)).toEqual([1, 2, 3, 4]);
    expect((await engine.get(id))!.context.map((message) => message.content)).toEqual(['m0', 'm1', 'm2', 'm3']);
  });

  it('holds the calls past eight batches in flight until a reply frees a slot, then sends them together', async () => {
    const id = await engine.create();
    const { batches, stop } = watchBatches();
    server.pause();
    const appends: Promise<number>[] = [];
    try {
      for (let tick = 0; tick < 8; tick++) {
        appends.push(engine.appendMessage(id, { role: 'user', content: `m${tick}` }));
        await nextTick();
      }
      // Three calls in one tick, with every slot taken: they wait, written into the next batch.
      for (let n = 8; n < 11; n++) appends.push(engine.appendMessage(id, { role: 'user', content: `m${n}` }));
      await nextTick();
      expect(batches.slice(0, 8)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    } finally {
      server.resume();
    }
    expect(await Promise.all(appends)).toEqual(Array.from({ length: 11 }, (_, n) => n + 1));
    stop();
    // The held calls went as one batch, once Redis answered or the oldest batch had waited long enough.
    expect(batches.slice(8)).toEqual([3]);
    expect((await engine.get(id))!.context.map((message) => message.content)).toEqual(Array.from({ length: 11 }, (_, n) => `m${n}`));
  });
});
