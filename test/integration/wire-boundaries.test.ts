import { describe, expect, it } from 'vitest';
import { withEngine } from '../helpers/engine.js';

/**
 * Replies are written by the shard by hand and decoded on the main thread by msgpackr: every msgpack
 * size class (fixint / uint8 / uint16 / uint32 / float64, fixstr / str8 / str16 / str32, fixarray /
 * array16 / array32) must come back as what was stored.
 */
describe('reply encoding across msgpack size boundaries', () => {
  it('returns message contents of every string size class exactly (31, 32, 255, 256, 65 535, 65 536 bytes and more)', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      const id = await engine.create();
      const contents = [0, 1, 31, 32, 255, 256, 65_535, 65_536, 200_000].map((n) => 'y'.repeat(n));
      contents.push('é'.repeat(16), 'é'.repeat(128), '😀'.repeat(16_384));
      for (const content of contents) await engine.appendMessage(id, { role: 'user', content });
      expect((await engine.get(id))!.context.map((m) => m.content)).toEqual(contents);
      expect((await engine.get(id, { lastMessages: 3 }))!.context.map((m) => m.content)).toEqual(contents.slice(-3));
      expect((await engine.remove(id))!.context.map((m) => m.content)).toEqual(contents);
    });
  });

  it('returns timestamps at every integer size class exactly', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      const id = await engine.create();
      const timestamps = [
        0,
        0x3f,
        0x40,
        0x7f,
        0x80,
        0xff,
        0x100,
        0xffff,
        0x1_0000,
        0xffff_ffff,
        0x1_0000_0000,
        1_764_028_800_000,
        Number.MAX_SAFE_INTEGER,
        12.75,
      ];
      for (const timestamp of timestamps) await engine.appendMessage(id, { role: 'assistant', content: 't', timestamp });
      expect((await engine.get(id))!.context.map((m) => m.timestamp)).toEqual(timestamps);
    });
  });

  it('returns contexts and server lists of every array size class (15, 16 and 70 000 entries)', async () => {
    await withEngine({ shards: 1, maxMessagesPerSession: 100_000 }, async (engine) => {
      const small = await engine.create({ mcpServers: Array.from({ length: 15 }, (_, i) => `s${i}`) });
      const medium = await engine.create({ mcpServers: Array.from({ length: 16 }, (_, i) => `s${i}`) });
      const large = await engine.create({ mcpServers: Array.from({ length: 70_000 }, (_, i) => `s${i}`) });
      for (let i = 0; i < 16; i++) await engine.appendMessage(medium, { role: 'user', content: `${i}` });
      const appends: Promise<number>[] = [];
      for (let i = 0; i < 70_000; i++) appends.push(engine.appendMessage(large, { role: 'user', content: `${i}` }));
      expect((await Promise.all(appends)).at(-1)).toBe(70_000);
      expect((await engine.get(small))!.mcpServers).toHaveLength(15);
      expect((await engine.get(medium))!.mcpServers).toHaveLength(16);
      expect((await engine.get(medium))!.context.map((m) => m.content)).toEqual(Array.from({ length: 16 }, (_, i) => `${i}`));
      const big = (await engine.get(large))!;
      expect(big.mcpServers).toHaveLength(70_000);
      expect(big.context).toHaveLength(70_000);
      expect(big.context[69_999]!.content).toBe('69999');
      expect((await engine.get(large, { lastMessages: 65_536 }))!.context[0]!.content).toBe(`${70_000 - 65_536}`);
    });
  }, 60_000);

  it('keeps answering correctly after more than 65 536 batches on one shard (reply sequence numbers grow)', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      const id = await engine.create();
      for (let i = 1; i <= 66_000; i++) {
        // One call at a time: every call is a batch of its own.
        const found = await engine.touch(id);
        if (!found) expect(found).toBe(true);
        if (i % 16_500 === 0) expect(await engine.appendMessage(id, { role: 'user', content: `${i}` })).toBe(i / 16_500);
      }
      expect((await engine.get(id))!.context.map((m) => m.content)).toEqual(['16500', '33000', '49500', '66000']);
      expect((await engine.stats()).shards[0]!.batches).toBeGreaterThan(66_000);
      expect(await engine.size()).toBe(1);
    });
  }, 120_000);
});
