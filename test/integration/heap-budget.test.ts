/**
 * A shard whose sessions fill its share of `shardHeapMb` refuses more work with ERR_CAPACITY instead of
 * growing until it (or the whole process) dies with every session in it.
 */
import { describe, expect, it } from 'vitest';
import { CapacityError } from '../../dist/src/index.js';
import { withEngine } from '../helpers/engine.js';

const MIB = 1_048_576;

describe('a shard full to its share of shardHeapMb', () => {
  it('refuses appends with ERR_CAPACITY naming shardHeapMb, keeps every session it holds, and takes work again once sessions go', async () => {
    // 96 MiB (3/4 of 128) for sessions: about 300 messages of 256 KiB fit, with their logs' spare room.
    await withEngine({ shards: 1, shardHeapMb: 128, maxMessageBytes: MIB }, async (engine) => {
      const restarts: unknown[] = [];
      engine.on('shardRestart', (event) => restarts.push(event));
      const content = 'm'.repeat(MIB / 4);
      const ids: string[] = [];
      let refusal: unknown = null;
      for (let i = 0; i < 1_000 && refusal === null; i++) {
        const id = await engine.create();
        ids.push(id);
        await engine.appendMessage(id, { role: 'user', content }).catch((error: unknown) => {
          refusal = error;
        });
      }
      expect(refusal).toBeInstanceOf(CapacityError);
      expect((refusal as CapacityError).code).toBe('ERR_CAPACITY');
      expect((refusal as Error).message).toContain('shardHeapMb');
      expect(ids.length).toBeGreaterThan(250);
      expect(restarts).toEqual([]);
      // Every message taken is there, whole; the refused one left its session empty.
      const full = ids.slice(0, -1);
      for (const id of [full[0]!, full[full.length - 1]!]) expect((await engine.get(id))!.context[0]!.content).toBe(content);
      expect((await engine.get(ids[ids.length - 1]!))!.context).toEqual([]);
      // Removing sessions frees their share: the shard takes the refused message now.
      for (const id of full.slice(0, 10)) await engine.remove(id);
      expect(await engine.appendMessage(ids[ids.length - 1]!, { role: 'user', content })).toBe(1);
      expect(restarts).toEqual([]);
    });
  }, 60_000);

  it('refuses creates carrying large capabilities and servers before the worker runs out of heap, losing none of its sessions', async () => {
    // 12 MiB (3/4 of 16) for sessions: 60 creates of about 1 MiB each, all in one tick, cannot all fit.
    await withEngine({ shards: 1, shardHeapMb: 16 }, async (engine) => {
      const restarts: unknown[] = [];
      engine.on('shardRestart', (event) => restarts.push(event));
      const others: string[] = [];
      for (let i = 0; i < 10; i++) {
        const id = await engine.create({ title: `other ${i}` });
        await engine.appendMessage(id, { role: 'user', content: `message ${i}` });
        others.push(id);
      }
      const field = 'c'.repeat(MIB - 64);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 60 }, (_, i) => engine.create(i % 2 === 0 ? { clientCapabilities: { field } } : { mcpServers: [field] })),
      );
      const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason as { code: string; message: string });
      expect(refused.length).toBeGreaterThan(0);
      for (const error of refused) expect(error).toMatchObject({ code: 'ERR_CAPACITY', message: expect.stringContaining('shardHeapMb') });
      expect(restarts).toEqual([]);
      for (const [i, id] of others.entries()) {
        const session = (await engine.get(id))!;
        expect(session.title).toBe(`other ${i}`);
        expect(session.context.map((m) => m.content)).toEqual([`message ${i}`]);
      }
      const created = outcomes.filter((o) => o.status === 'fulfilled').map((o) => (o as PromiseFulfilledResult<string>).value);
      expect(await engine.size()).toBe(others.length + created.length);
      const first = (await engine.get(created[0]!))!;
      expect(first.clientCapabilities ?? first.mcpServers[0]).toBeTruthy();
    });
  });
});
