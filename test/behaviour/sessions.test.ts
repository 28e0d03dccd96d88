/**
 * Session metadata and the lifetime of what is stored, on every store: metadata is set at creation,
 * replaced whole or cleared by an update, bounded by `maxMetadataBytes`; and with a durable store, all of it
 * (messages, parts, metadata, edits, forks) is there after a restart.
 */
import { describe, expect, it } from 'vitest';
import { EVERY_PART, held, message, read, refusal, stored } from './helpers.js';
import { STORES, useStores } from './stores.js';

useStores();

describe.each(STORES)('sessions on $name', (store) => {
  const test = store.skip === null ? it : it.skip;
  if (store.skip !== null) it.skip(`skipped: ${store.skip}`, () => {});

  describe('session metadata', () => {
    test('is null unless given, set at creation, replaced whole by an update, left by other updates, and cleared by null', async () => {
      let engine = await store.start();
      const none = await engine.create({ title: 'no metadata' });
      expect((await read(engine, none)).metadata).toBeNull();
      const id = await engine.create({ metadata: { project: 'p', labels: ['a', 'b'], nested: { depth: { two: true } } } });
      expect((await read(engine, id)).metadata).toEqual({ project: 'p', labels: ['a', 'b'], nested: { depth: { two: true } } });
      const updatedAt = (await read(engine, id)).updatedAt;
      await new Promise((resolve) => setTimeout(resolve, 3));
      await engine.update(id, { metadata: { project: 'q' } });
      engine = await store.restart(engine);
      const replaced = await read(engine, id);
      expect(replaced.metadata).toEqual({ project: 'q' });
      expect(replaced.updatedAt).toBeGreaterThan(updatedAt);
      await engine.update(id, { title: 'renamed' });
      expect(await read(engine, id)).toMatchObject({ title: 'renamed', metadata: { project: 'q' } });
      await engine.update(id, { metadata: null });
      expect((await read(engine, id)).metadata).toBeNull();
      await engine.update(id, { metadata: {} });
      expect((await read(engine, id)).metadata).toEqual({});
    });

    test('past maxMetadataBytes is refused with ERR_LIMIT_EXCEEDED naming the limit, by create, update and fork; nothing changes', async () => {
      const engine = await store.start({ maxMetadataBytes: 64 });
      // {"k":"…"} is 8 bytes of JSON besides the string.
      const atLimit = { k: 'x'.repeat(56) };
      const pastLimit = { k: 'x'.repeat(57) };
      const id = await engine.create({ metadata: atLimit });
      expect((await read(engine, id)).metadata).toEqual(atLimit);
      const before = held(await engine.get(id));
      const sizeBefore = store.name === 'Redis' ? 0 : await engine.size();
      await refusal(engine.create({ metadata: pastLimit }), 'ERR_LIMIT_EXCEEDED', 'maxMetadataBytes');
      await refusal(engine.create({ metadata: { k: 'é'.repeat(29) } }), 'ERR_LIMIT_EXCEEDED', 'maxMetadataBytes');
      await refusal(engine.update(id, { metadata: pastLimit }), 'ERR_LIMIT_EXCEEDED', 'maxMetadataBytes');
      await refusal(engine.fork(id, { metadata: pastLimit }), 'ERR_LIMIT_EXCEEDED', 'maxMetadataBytes');
      expect(held(await engine.get(id))).toEqual(before);
      if (store.name !== 'Redis') expect(await engine.size()).toBe(sizeBefore);
      // Message metadata is bounded by maxMessageBytes instead.
      await engine.appendMessage(id, message('x', { metadata: { k: 'y'.repeat(500) } }));
    });

    test('counts toward maxSessionBytes like the other fields', async () => {
      const engine = await store.start({ maxSessionBytes: 4_096, maxMetadataBytes: 8_192 });
      await refusal(engine.create({ metadata: { k: 'x'.repeat(5_000) } }), 'ERR_LIMIT_EXCEEDED', 'maxSessionBytes');
      const id = await engine.create({ metadata: { k: 'x'.repeat(2_000) } });
      await engine.appendMessage(id, message('m'.repeat(1_500)));
      const before = held(await engine.get(id));
      await refusal(engine.appendMessage(id, message('m'.repeat(1_500))), 'ERR_LIMIT_EXCEEDED', 'maxSessionBytes');
      await refusal(engine.update(id, { metadata: { k: 'x'.repeat(3_000) } }), 'ERR_LIMIT_EXCEEDED', 'maxSessionBytes');
      expect(held(await engine.get(id))).toEqual(before);
      await engine.update(id, { metadata: null });
      expect(await engine.appendMessage(id, message('m'.repeat(1_500)))).toBe(2);
    });
  });

  describe('a restart', () => {
    test(
      store.durable ? 'keeps every session as it was: messages, parts, metadata, edits and forks' : 'is not a thing this store has (its engine holds all)',
      async () => {
        let engine = await store.start();
        const a = await engine.create({ title: 'a', cwd: '/a', owner: 'ann', mcpServers: ['git'], metadata: { a: [1, { two: 2 }] } });
        await engine.appendMessages(a, [message([...EVERY_PART]), message('plain', { metadata: { m: true } }), message('popped'), message('spliced')]);
        await engine.popMessage(a);
        await engine.spliceMessages(a, 2, 1, [message('spliced in', { role: 'assistant' })]);
        const b = await engine.fork(a, { messages: 2, title: 'b', metadata: null });
        await engine.appendMessage(b, { role: 'user', content: 'minted id, stamped now' });
        const c = await engine.create();
        await engine.update(c, { metadata: { c: 'cleared later' } });
        await engine.update(c, { metadata: null });
        const sessions = [a, b, c];
        const before = await Promise.all(sessions.map(async (id) => held(await engine.get(id))));
        engine = await store.restart(engine);
        const after = await Promise.all(sessions.map(async (id) => held(await engine.get(id))));
        expect(after).toEqual(before);
        // And the retry rule and the ids still hold: a retry of what was appended last is recognised.
        const last = (await read(engine, b)).context.at(-1)!;
        expect(await engine.appendMessage(b, { id: last.id, role: last.role, content: last.content, timestamp: last.timestamp })).toBe(3);
        await refusal(engine.appendMessage(a, stored(message('x', { id: (await read(engine, a)).context[0]!.id }))), 'ERR_CONFLICT');
      },
    );
  });
});
