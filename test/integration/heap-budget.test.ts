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
});
