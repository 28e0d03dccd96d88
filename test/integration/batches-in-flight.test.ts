/**
 * A memory shard has up to two batches in flight: the second is sent while the worker applies the first.
 * The worker must still apply and answer them in the order sent, even when the first one waits.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { withEngine } from '../helpers/engine.js';

describe('two batches in flight on one shard', () => {
  it('answers a batch that waits (a sweep long enough to yield) before the batch sent after it', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      // Enough sessions that an explicit sweep walks its map in several slices, yielding in between.
      for (let made = 0; made < 400_000; made += 4_096) await Promise.all(Array.from({ length: 4_096 }, () => engine.create()));
      const id = await engine.create();
      const order: string[] = [];
      const swept = engine.sweep().then((removed) => {
        order.push('sweep');
        return removed;
      });
      // Another tick: a batch of its own, sent while the sweep's batch is still in flight.
      await nextTurn();
      const appended = engine.appendMessage(id, { role: 'user', content: 'after the sweep' }).then((length) => {
        order.push('append');
        return length;
      });
      expect(await swept).toBe(0);
      expect(await appended).toBe(1);
      expect(order).toEqual(['sweep', 'append']);
      expect((await engine.get(id))!.context.map((m) => m.content)).toEqual(['after the sweep']);
    });
  }, 60_000);

  it('answers the callers of two long replies in call order, the first reply wholly before the second', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      const id = await engine.create();
      const answered: number[] = [];
      const calls: Promise<unknown>[] = [];
      // Two batches of 600 appends each (10 chunks of results each), the second sent while the first is in flight.
      for (let tick = 0; tick < 2; tick++) {
        for (let i = 0; i < 600; i++) {
          const n = tick * 600 + i;
          calls.push(engine.appendMessage(id, { role: 'user', content: `${n}` }).then(() => answered.push(n)));
        }
        await nextTurn();
      }
      await Promise.all(calls);
      expect(answered).toEqual(Array.from({ length: 1_200 }, (_, n) => n));
    });
  });

  it('keeps call order over many batches issued tick after tick', async () => {
    await withEngine({ shards: 1, maxBatchOps: 16 }, async (engine) => {
      const id = await engine.create();
      const lengths: Promise<number>[] = [];
      for (let tick = 0; tick < 50; tick++) {
        for (let i = 0; i < 40; i++) lengths.push(engine.appendMessage(id, { role: 'user', content: `${tick * 40 + i}` }));
        await nextTurn();
      }
      expect(await Promise.all(lengths)).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1));
      expect((await engine.get(id))!.context.map((m) => m.content)).toEqual(Array.from({ length: 2_000 }, (_, i) => `${i}`));
    });
  });
});
