/**
 * The watchdog ends shards that stop answering (test/integration/crash.test.ts), and only those: a host
 * whose own thread was held (a long garbage collection, a busy machine) finds every batch overdue at its
 * first timer tick back, while the replies wait behind that timer in the event loop.
 */
import { describe, expect, it } from 'vitest';
import type { ShardRestartEvent } from '../../dist/src/index.js';
import { sleep, withEngine } from '../helpers/engine.js';

const SHARD_TIMEOUT_MS = 200;

/** Holds this thread (and its event loop) for `ms`. */
function holdThread(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: nothing else runs on this thread meanwhile
  }
}

describe('the watchdog', () => {
  it('does not declare a shard hung whose answer waited behind a held host thread', async () => {
    await withEngine({ shards: 1, shardTimeoutMs: SHARD_TIMEOUT_MS }, async (engine) => {
      const restarts: ShardRestartEvent[] = [];
      engine.on('shardRestart', (event) => restarts.push(event));
      const id = await engine.create();
      const read = engine.get(id);
      // The batch goes out in a microtask queued by the call: after this await it is with the worker.
      await Promise.resolve();
      // Held past shardTimeoutMs three times over, in an event-loop phase of its own (as a timer or a
      // long collection would hold it): the worker answers meanwhile, and the loop's next turn runs the
      // watchdog's timer before it reads the answer.
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          holdThread(3 * SHARD_TIMEOUT_MS);
          resolve();
        }),
      );
      expect((await read)?.id).toBe(id);
      // Some more ticks of the watchdog with nothing in flight.
      await sleep(2 * SHARD_TIMEOUT_MS);
      expect(restarts).toEqual([]);
      expect((await engine.get(id))?.id).toBe(id);
    });
  });

});
