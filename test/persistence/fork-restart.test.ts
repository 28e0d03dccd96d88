/**
 * A fork is logged as the copy it made, under the copy's own id: a restart replays it on the shard that
 * owns the copy, whatever the shard count (with another count, the source and the copy may belong to
 * different shards, and each shard replays only its own ids).
 */
import { describe, expect, it } from 'vitest';
import { withEngine } from '../helpers/engine.js';
import { tempDir } from './helpers.js';

describe('a fork across restarts', () => {
  for (const shards of [1, 2, 3, 5]) {
    it(`is there after a restart from the log with ${shards} shard(s), independent of its source`, async () => {
      const dir = tempDir();
      const forks: string[] = [];
      const source = await withEngine({ shards: 2, persistence: { dir, fsync: 'always' } }, async (engine) => {
        const id = await engine.create({ title: 'source', metadata: { n: 1 } });
        await engine.appendMessages(id, [
          { id: 'a', role: 'user', content: 'one' },
          { id: 'b', role: 'assistant', content: [{ type: 'text', text: 'two' }] },
        ]);
        for (let i = 0; i < 6; i++) forks.push(await engine.fork(id, { messages: 1, title: `fork ${i}` }));
        await engine.appendMessage(forks[0]!, { role: 'user', content: 'only in the fork' });
        return id;
      });
      await withEngine({ shards, persistence: { dir } }, async (engine) => {
        for (const [i, fork] of forks.entries()) {
          const session = await engine.get(fork);
          expect(session).toMatchObject({ title: `fork ${i}`, metadata: { n: 1 }, length: i === 0 ? 2 : 1 });
          expect(session!.context.map((message) => message.id)).toEqual(i === 0 ? ['a', expect.any(String)] : ['a']);
        }
        expect((await engine.get(source))!.context.map((message) => message.id)).toEqual(['a', 'b']);
      });
    });
  }
});
