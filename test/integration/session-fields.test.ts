import { describe, expect, it } from 'vitest';
import { codeOf, sleep, withEngine } from '../helpers/engine.js';

describe('cwd, title, updatedAt, owner and the list filters, on the built engine', () => {
  it('creates, reads and updates the new fields; unset ones are null', async () => {
    await withEngine({ shards: 2 }, async (engine) => {
      const id = await engine.create({ cwd: '/repo', title: 'First', owner: 'alice' });
      const bare = await engine.create();
      const created = (await engine.get(id))!;
      expect(created).toMatchObject({ cwd: '/repo', title: 'First', owner: 'alice', updatedAt: created.createdAt });
      expect(await engine.get(bare)).toMatchObject({ cwd: null, title: null, owner: null });

      await sleep(5);
      await engine.appendMessage(id, { role: 'user', content: 'hi' });
      const appended = (await engine.get(id))!;
      expect(appended.updatedAt).toBeGreaterThan(created.updatedAt);

      await sleep(5);
      await engine.get(id);
      await engine.touch(id);
      expect((await engine.get(id))!.updatedAt).toBe(appended.updatedAt);

      await engine.update(id, { title: 'Renamed', cwd: null });
      const updated = (await engine.get(id))!;
      expect(updated).toMatchObject({ cwd: null, title: 'Renamed', owner: 'alice' });
      expect(updated.updatedAt).toBeGreaterThan(appended.updatedAt);
    });
  });

  it('refuses bad fields with ERR_INVALID_ARGUMENT naming the field', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      const error = await engine.create({ cwd: 'not/absolute' }).catch((e: unknown) => e);
      expect(codeOf(error)).toBe('ERR_INVALID_ARGUMENT');
      expect((error as Error).message).toContain('init.cwd');
      await expect(engine.list({ order: 'newest' as 'asc' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      await expect(engine.list({ cwd: 'rel' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      await expect(engine.list({ owner: '' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    });
  });

  it('lists by cwd and owner, newest first, and pages through every session exactly once in both orders', async () => {
    await withEngine({ shards: 3 }, async (engine) => {
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) {
        ids.push(await engine.create({ cwd: i % 2 === 0 ? '/even' : '/odd', owner: i % 3 === 0 ? 'alice' : 'bob' }));
      }
      const ascending = [...ids].sort();
      const descending = [...ascending].reverse();
      expect(await engine.list()).toEqual(ascending);
      expect(await engine.list({ order: 'desc' })).toEqual(descending);
      expect(await engine.list({ cwd: '/even' })).toEqual(ascending.filter((id) => ids.indexOf(id) % 2 === 0));
      expect(await engine.list({ owner: 'alice', order: 'desc' })).toEqual(descending.filter((id) => ids.indexOf(id) % 3 === 0));
      expect(await engine.list({ cwd: '/odd', owner: 'alice' })).toEqual(ascending.filter((id) => ids.indexOf(id) % 6 === 3));

      for (const order of ['asc', 'desc'] as const) {
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await engine.list({ order, limit: 7, ...(after === undefined ? {} : { after }) });
          seen.push(...page);
          if (page.length < 7) break;
          after = page.at(-1);
        }
        expect(seen).toEqual(order === 'asc' ? ascending : descending);
      }
    });
  });
});
