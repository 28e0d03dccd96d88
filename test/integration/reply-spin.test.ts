/**
 * The host polls for the reply to a small batch (`replySpinUs`) instead of sleeping until it comes: the
 * worker tells it, through a shared counter, once the reply is posted.
 */
import { describe, expect, it } from 'vitest';
import { waitFor, withEngine } from '../helpers/engine.js';
import type { SessionEngine } from '../../dist/src/index.js';

async function polls(engine: SessionEngine): Promise<{ caught: number; missed: number }> {
  const [shard] = (await engine.stats()).shards;
  return { caught: shard!.replySpinsCaught, missed: shard!.replySpinsMissed };
}

describe('the host polling for a small batch reply', () => {
  it('catches the replies of one-operation batches, which the worker announces once posted', async () => {
    await withEngine({ shards: 1, replySpinUs: 10_000 }, async (engine) => {
      const id = await engine.create();
      await engine.appendMessage(id, { role: 'user', content: 'hello' });
      // Gets one at a time until polls have caught replies: a loaded machine may delay some past even a
      // 10 ms window (a miss, after which polls are skipped for a while). Without the worker's word, none is caught.
      await waitFor(
        async () => {
          expect((await engine.get(id))!.context).toHaveLength(1);
          return (await polls(engine)).caught >= 10;
        },
        20_000,
        'polls that catch their replies',
      );
    });
  });

  it('does not poll for a batch of many operations', async () => {
    await withEngine({ shards: 1, replySpinUs: 10_000 }, async (engine) => {
      const id = await engine.create();
      const before = await polls(engine);
      const sessions = await Promise.all(Array.from({ length: 100 }, () => engine.get(id)));
      expect(sessions.every((session) => session!.id === id)).toBe(true);
      const after = await polls(engine);
      // A hundred gets go as one batch, not polled for. A poll may end after the reply it watched for has
      // been delivered, so each stats() batch around them may be counted in the other's figures, and on a
      // busy host the first get may leave alone: a few polls at most, where polling each get would give 100.
      expect(after.caught + after.missed - (before.caught + before.missed)).toBeLessThanOrEqual(4);
    });
  });

  it('never polls with replySpinUs 0', async () => {
    await withEngine({ shards: 1, replySpinUs: 0 }, async (engine) => {
      const id = await engine.create();
      for (let i = 0; i < 5; i++) await engine.get(id);
      expect(await polls(engine)).toEqual({ caught: 0, missed: 0 });
    });
  });
});
