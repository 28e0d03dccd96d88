/**
 * Editing a session's history, on every store: conditional appends under racing writers, retried appends,
 * all-or-none batches, popping, splicing (checked against `Array.prototype.splice` as the model), forking,
 * and reading windows of it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Message, MessageInput } from '../../dist/src/index.js';
import { ConflictError } from '../../dist/src/main/errors.js';
import { settle } from '../helpers/engine.js';
import { NEVER_ISSUED_ID } from '../helpers/ids.js';
import { EVERY_PART, held, message, read, refusal, stored } from './helpers.js';
import { STORES, useStores } from './stores.js';

useStores();

describe.each(STORES)('the history on $name', (store) => {
  const test = store.skip === null ? it : it.skip;
  if (store.skip !== null) it.skip(`skipped: ${store.skip}`, () => {});

  describe('appendMessage with ifLength', () => {
    test('lets exactly one of 1 000 racing appenders that read the same length win; the rest reject ERR_CONFLICT', async () => {
      const engine = await store.start();
      const id = await engine.create();
      await engine.appendMessage(id, message('first'));
      const { length } = await read(engine, id);
      const racers = Array.from({ length: 1_000 }, (_, i) => message(`racer ${i}`));
      const outcomes = await Promise.all(racers.map((m) => settle(engine.appendMessage(id, m, { ifLength: length }))));
      const winners = outcomes.flatMap((outcome, i) => (outcome.ok ? [i] : []));
      expect(winners).toHaveLength(1);
      expect(outcomes[winners[0]!]).toEqual({ ok: true, value: length + 1 });
      for (const outcome of outcomes) if (!outcome.ok) expect(outcome.error).toBeInstanceOf(ConflictError);
      const session = await read(engine, id);
      expect(session.context.slice(1)).toEqual([stored(racers[winners[0]!]!)]);
      expect(session.length).toBe(length + 1);
    });

    test('under 1 000 appenders that each read the length then append: the history is exactly the winners, each where it read', async () => {
      const engine = await store.start();
      const id = await engine.create();
      const tries = Array.from({ length: 1_000 }, (_, i) => message(`try ${i}`));
      const results = await Promise.all(
        tries.map(async (m) => {
          const { length } = await read(engine, id);
          const outcome = await settle(engine.appendMessage(id, m, { ifLength: length }));
          return { m, read: length, outcome };
        }),
      );
      const won = results.filter((r) => r.outcome.ok);
      for (const r of results) {
        if (r.outcome.ok) expect(r.outcome.value).toBe(r.read + 1);
        else expect((r.outcome.error as { code?: string }).code).toBe('ERR_CONFLICT');
      }
      // Each winner's message sits at the length it read: in order, no gap, no loser.
      won.sort((a, b) => a.read - b.read);
      expect(won.map((r) => r.read)).toEqual(won.map((_, i) => i));
      const session = await read(engine, id);
      expect(session.context).toEqual(won.map((r) => stored(r.m)));
    });

    test('names ifLength and the length held in the refusal, and changes nothing', async () => {
      const engine = await store.start();
      const id = await engine.create();
      await engine.appendMessages(id, [message('a'), message('b')]);
      const before = held(await engine.get(id));
      const error = await refusal(engine.appendMessage(id, message('late'), { ifLength: 1 }), 'ERR_CONFLICT', 'ifLength');
      expect(error.message).toContain('2');
      await refusal(engine.appendMessages(id, [message('late')], { ifLength: 3 }), 'ERR_CONFLICT', 'ifLength');
      expect(held(await engine.get(id))).toEqual(before);
      expect(await engine.appendMessage(id, message('on time'), { ifLength: 2 })).toBe(3);
    });
  });

  describe('retried appends', () => {
    test('append nothing the second time when the ids, content and given timestamps are the same, and resolve the length', async () => {
      let engine = await store.start();
      const id = await engine.create();
      const one = message([{ type: 'text', text: 'once' }], { metadata: { try: 1 } });
      expect(await engine.appendMessage(id, one)).toBe(1);
      expect(await engine.appendMessage(id, one)).toBe(1);
      const batch = [message('b1'), message([{ type: 'thought', text: 'b2' }])];
      expect(await engine.appendMessages(id, batch)).toBe(3);
      engine = await store.restart(engine);
      expect(await engine.appendMessages(id, batch)).toBe(3);
      // The rule is checked before ifLength: a retry whose condition was met the first time still resolves.
      expect(await engine.appendMessages(id, batch, { ifLength: 1 })).toBe(3);
      expect((await read(engine, id)).context).toEqual([one, ...batch].map(stored));
    });

    test('append nothing the second time when the engine stamped the time: a retry without a timestamp is the same message', async () => {
      const engine = await store.start();
      const id = await engine.create();
      const unstamped: MessageInput = { id: 'unstamped-1', role: 'assistant', content: 'stamped by the engine' };
      expect(await engine.appendMessage(id, unstamped)).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(await engine.appendMessage(id, unstamped)).toBe(1);
      const pair: MessageInput[] = [
        { id: 'unstamped-2', role: 'user', content: [{ type: 'text', text: 'two' }] },
        { id: 'unstamped-3', role: 'user', content: 'three', metadata: { n: 3 } },
      ];
      expect(await engine.appendMessages(id, pair)).toBe(3);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(await engine.appendMessages(id, pair)).toBe(3);
      const { context } = await read(engine, id);
      expect(context.map((m) => m.id)).toEqual(['unstamped-1', 'unstamped-2', 'unstamped-3']);
      expect(context.every((m) => typeof m.timestamp === 'number')).toBe(true);
    });

    test('refuse ERR_CONFLICT, naming the id, for an id already held with other content, a different given timestamp, or another role', async () => {
      const engine = await store.start();
      const id = await engine.create();
      const original = message('original');
      await engine.appendMessage(id, original);
      const before = held(await engine.get(id));
      await refusal(engine.appendMessage(id, { ...original, content: 'changed' }), 'ERR_CONFLICT', original.id);
      await refusal(engine.appendMessage(id, { ...original, timestamp: original.timestamp + 1 }), 'ERR_CONFLICT', original.id);
      await refusal(engine.appendMessage(id, { ...original, role: 'assistant' }), 'ERR_CONFLICT', original.id);
      await refusal(engine.appendMessage(id, { ...original, metadata: { added: true } }), 'ERR_CONFLICT', original.id);
      expect(held(await engine.get(id))).toEqual(before);
    });

    test('refuse ERR_CONFLICT for an id twice in one call, or one already in the history, and append none of the call', async () => {
      const engine = await store.start();
      const id = await engine.create();
      const old = message('old');
      await engine.appendMessages(id, [old, message('newest')]);
      const before = held(await engine.get(id));
      const twice = message('twice');
      await refusal(engine.appendMessages(id, [message('fresh'), twice, { ...twice, content: 'other' }]), 'ERR_CONFLICT', twice.id);
      await refusal(engine.appendMessages(id, [twice, twice]), 'ERR_CONFLICT', twice.id);
      // A retry of an older message (not the newest) is no retry: its id is taken.
      await refusal(engine.appendMessage(id, old), 'ERR_CONFLICT', old.id);
      await refusal(engine.appendMessages(id, [message('fresh'), { ...old }]), 'ERR_CONFLICT', old.id);
      expect(held(await engine.get(id))).toEqual(before);
    });

    test('resolve the current length for an empty batch', async () => {
      const engine = await store.start();
      const id = await engine.create();
      expect(await engine.appendMessages(id, [])).toBe(0);
      await engine.appendMessage(id, message('x'));
      expect(await engine.appendMessages(id, [])).toBe(1);
      expect(await engine.appendMessages(id, [], { ifLength: 1 })).toBe(1);
      await refusal(engine.appendMessages(id, [], { ifLength: 0 }), 'ERR_CONFLICT', 'ifLength');
    });
  });

  describe('appendMessages is all or none', () => {
    test('at maxMessagesPerSession: a batch that would pass it appends none, naming the limit', async () => {
      const engine = await store.start({ maxMessagesPerSession: 5 });
      const id = await engine.create();
      await engine.appendMessages(id, [message('1'), message('2'), message('3')]);
      const before = held(await engine.get(id));
      await refusal(engine.appendMessages(id, [message('4'), message('5'), message('6')]), 'ERR_LIMIT_EXCEEDED', 'maxMessagesPerSession');
      expect(held(await engine.get(id))).toEqual(before);
      expect(await engine.appendMessages(id, [message('4'), message('5')])).toBe(5);
      await refusal(engine.appendMessage(id, message('6'), { ifLength: 5 }), 'ERR_LIMIT_EXCEEDED', 'maxMessagesPerSession');
      await refusal(engine.spliceMessages(id, 0, 0, [message('7')]), 'ERR_LIMIT_EXCEEDED', 'maxMessagesPerSession');
      expect((await read(engine, id)).length).toBe(5);
      // A splice that keeps the count within the limit is taken.
      await engine.spliceMessages(id, 0, 1, [message('replacing 1')]);
    });

    test('at maxMessageBytes: one message past it refuses the batch, naming the limit, whatever its place', async () => {
      const engine = await store.start({ maxMessageBytes: 200 });
      const id = await engine.create();
      await engine.appendMessage(id, message('kept'));
      const before = held(await engine.get(id));
      const big = [message('x'.repeat(201)), message([{ type: 'text', text: 'y'.repeat(190) }]), message('small', { metadata: { padding: 'z'.repeat(200) } })];
      for (const tooBig of big) {
        await refusal(engine.appendMessages(id, [message('fine'), tooBig]), 'ERR_LIMIT_EXCEEDED', 'maxMessageBytes');
        await refusal(engine.appendMessages(id, [tooBig, message('fine')]), 'ERR_LIMIT_EXCEEDED', 'maxMessageBytes');
      }
      expect(held(await engine.get(id))).toEqual(before);
      // At the limit, not past it.
      expect(await engine.appendMessages(id, [message('x'.repeat(200)), message('é'.repeat(100))])).toBe(3);
    });
  });

  describe('popMessage', () => {
    test('resolves undefined for a session without messages, and refuses an unknown session', async () => {
      const engine = await store.start();
      const id = await engine.create();
      expect(await engine.popMessage(id)).toBeUndefined();
      expect(await engine.popMessage(id, { ifLength: 0 })).toBeUndefined();
      await refusal(engine.popMessage(NEVER_ISSUED_ID), 'ERR_SESSION_NOT_FOUND');
    });

    test('removes and resolves the newest message as it was given, until none is left', async () => {
      let engine = await store.start();
      const id = await engine.create();
      const given = [message('a'), message([{ type: 'tool_call', toolCallId: 'c', name: 'n', input: {} }], { metadata: { m: 1 } }), message('c')];
      await engine.appendMessages(id, given);
      expect(await engine.popMessage(id)).toEqual(stored(given[2]!));
      engine = await store.restart(engine);
      expect((await read(engine, id)).context).toEqual(given.slice(0, 2).map(stored));
      expect(await engine.popMessage(id)).toEqual(stored(given[1]!));
      expect(await engine.popMessage(id)).toEqual(stored(given[0]!));
      expect(await engine.popMessage(id)).toBeUndefined();
      expect(await read(engine, id)).toMatchObject({ context: [], length: 0 });
      // A popped id is free again.
      expect(await engine.appendMessage(id, given[2]!)).toBe(1);
    });

    test('with ifLength pops only when the session holds exactly that many', async () => {
      const engine = await store.start();
      const id = await engine.create();
      const given = [message('a'), message('b')];
      await engine.appendMessages(id, given);
      const before = held(await engine.get(id));
      await refusal(engine.popMessage(id, { ifLength: 1 }), 'ERR_CONFLICT', 'ifLength');
      await refusal(engine.popMessage(id, { ifLength: 3 }), 'ERR_CONFLICT', 'ifLength');
      expect(held(await engine.get(id))).toEqual(before);
      expect(await engine.popMessage(id, { ifLength: 2 })).toEqual(stored(given[1]!));
      expect((await read(engine, id)).length).toBe(1);
    });
  });

  describe('spliceMessages', () => {
    test('edits the history as Array.prototype.splice edits an array, and resolves what it removed (property)', async () => {
      let engine = await store.start();
      /** Every session the property made, with its model: checked again after a restart. */
      const models = new Map<string, Message[]>();
      const step = fc.record({
        start: fc.integer({ min: -12, max: 12 }),
        deleteCount: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.constant(Number.POSITIVE_INFINITY)),
        inserts: fc.integer({ min: 0, max: 3 }),
        ifLength: fc.boolean(),
      });
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 8 }), fc.array(step, { minLength: 1, maxLength: 4 }), async (initial, steps) => {
          const id = await engine.create();
          const model: Message[] = [];
          const given = Array.from({ length: initial }, (_, i) => message(i % 2 === 0 ? `initial ${i}` : [{ type: 'text', text: `initial ${i}` }]));
          await engine.appendMessages(id, given);
          model.push(...given.map(stored));
          for (const { start, deleteCount, inserts, ifLength } of steps) {
            const insert = Array.from({ length: inserts }, (_, i) => message(`inserted ${i}`, { role: 'assistant', metadata: { at: start } }));
            const removed = await engine.spliceMessages(id, start, deleteCount, insert, ifLength ? { ifLength: model.length } : undefined);
            expect(removed).toEqual(model.splice(start, deleteCount, ...insert.map(stored)));
            const session = await read(engine, id);
            expect(session.context).toEqual(model);
            expect(session.length).toBe(model.length);
          }
          models.set(id, model);
        }),
        { numRuns: 30 },
      );
      engine = await store.restart(engine);
      for (const [id, model] of models) expect((await read(engine, id)).context).toEqual(model);
    });

    test('compacts (replaces the first k with a summary) and rewinds (drops all from k on)', async () => {
      const engine = await store.start();
      const id = await engine.create();
      const given = Array.from({ length: 6 }, (_, i) => message(`turn ${i}`));
      await engine.appendMessages(id, given);
      const summary = message('summary of turns 0-3', { role: 'system' });
      expect(await engine.spliceMessages(id, 0, 4, [summary])).toEqual(given.slice(0, 4).map(stored));
      expect((await read(engine, id)).context).toEqual([summary, ...given.slice(4)].map(stored));
      expect(await engine.spliceMessages(id, 1, Number.POSITIVE_INFINITY)).toEqual(given.slice(4).map(stored));
      expect(await read(engine, id)).toMatchObject({ context: [stored(summary)], length: 1 });
    });

    test('refuses ERR_CONFLICT for an inserted id still in the history or twice in the call, but takes back an id it removes', async () => {
      const engine = await store.start();
      const id = await engine.create();
      const given = [message('a'), message('b'), message('c')];
      await engine.appendMessages(id, given);
      const before = held(await engine.get(id));
      await refusal(engine.spliceMessages(id, 0, 1, [{ ...given[1]!, content: 'b again' }]), 'ERR_CONFLICT', given[1]!.id);
      const twice = message('twice');
      await refusal(engine.spliceMessages(id, 3, 0, [twice, twice]), 'ERR_CONFLICT', twice.id);
      await refusal(engine.spliceMessages(id, 0, 0, [message('x')], { ifLength: 2 }), 'ERR_CONFLICT', 'ifLength');
      expect(held(await engine.get(id))).toEqual(before);
      // Replacing a message by an edit of it under the same id.
      const edited = { ...given[1]!, content: 'b, edited' };
      expect(await engine.spliceMessages(id, 1, 1, [edited], { ifLength: 3 })).toEqual([stored(given[1]!)]);
      expect((await read(engine, id)).context).toEqual([given[0]!, edited, given[2]!].map(stored));
      await refusal(engine.spliceMessages(NEVER_ISSUED_ID, 0, 0), 'ERR_SESSION_NOT_FOUND');
    });
  });

  describe('fork', () => {
    test('copies the fields and the history into a new session; later edits of either never show in the other', async () => {
      let engine = await store.start();
      const source = await engine.create({
        clientCapabilities: { fs: { readTextFile: true }, terminal: true },
        mcpServers: ['git'],
        cwd: '/work',
        title: 'source',
        owner: 'ann',
        metadata: { project: 'p' },
      });
      const given = [message('a'), message([{ type: 'text', text: 'b' }], { metadata: { k: 'v' } }), message('c')];
      await engine.appendMessages(source, given);
      const before = await read(engine, source);
      const fork = await engine.fork(source);
      expect(fork).not.toBe(source);
      const copy = await read(engine, fork);
      expect(copy).toMatchObject({
        id: fork,
        context: given.map(stored),
        length: 3,
        clientCapabilities: before.clientCapabilities,
        mcpServers: before.mcpServers,
        cwd: before.cwd,
        title: before.title,
        owner: before.owner,
        metadata: before.metadata,
      });
      expect(copy.createdAt).toBeGreaterThanOrEqual(before.createdAt);
      expect(copy.updatedAt).toBe(copy.createdAt);

      await engine.appendMessage(source, message('only in the source'));
      await engine.popMessage(fork);
      await engine.spliceMessages(fork, 0, 1, [message('only in the fork')]);
      await engine.update(fork, { title: 'fork', metadata: { project: 'q' } });
      engine = await store.restart(engine);
      const sourceAfter = await read(engine, source);
      const forkAfter = await read(engine, fork);
      expect(sourceAfter.context.map((m) => m.content)).toEqual(['a', [{ type: 'text', text: 'b' }], 'c', 'only in the source']);
      expect(forkAfter.context.map((m) => m.content)).toEqual(['only in the fork', [{ type: 'text', text: 'b' }]]);
      expect(sourceAfter).toMatchObject({ title: 'source', metadata: { project: 'p' } });
      expect(forkAfter).toMatchObject({ title: 'fork', metadata: { project: 'q' } });
      // Ids are per session: the same id may be appended to each.
      await engine.appendMessage(source, message('same id', { id: 'shared' }));
      await engine.appendMessage(fork, message('same id', { id: 'shared' }));
      await engine.remove(source);
      expect((await read(engine, fork)).context.at(-1)!.id).toBe('shared');
    });

    test('copies only the first `messages` messages (clamped), and replaces or clears the title and metadata given', async () => {
      const engine = await store.start();
      const source = await engine.create({ title: 'T', metadata: { a: 1 } });
      const given = Array.from({ length: 5 }, (_, i) => message(`m${i}`));
      await engine.appendMessages(source, given);
      const two = await engine.fork(source, { messages: 2 });
      expect(await read(engine, two)).toMatchObject({ context: given.slice(0, 2).map(stored), length: 2, title: 'T', metadata: { a: 1 } });
      const none = await engine.fork(source, { messages: 0, title: 'renamed', metadata: { b: [2] } });
      expect(await read(engine, none)).toMatchObject({ context: [], length: 0, title: 'renamed', metadata: { b: [2] } });
      const all = await engine.fork(source, { messages: 99, title: null, metadata: null });
      expect(await read(engine, all)).toMatchObject({ context: given.map(stored), length: 5, title: null, metadata: null });
      expect(await read(engine, source)).toMatchObject({ length: 5, title: 'T', metadata: { a: 1 } });
    });

    test('refuses an unknown source with ERR_SESSION_NOT_FOUND, creating nothing', async () => {
      const engine = await store.start();
      const sizeBefore = store.name === 'Redis' ? 0 : await engine.size();
      await refusal(engine.fork(NEVER_ISSUED_ID), 'ERR_SESSION_NOT_FOUND');
      const gone = await engine.create();
      await engine.remove(gone);
      await refusal(engine.fork(gone, { title: 'x' }), 'ERR_SESSION_NOT_FOUND');
      if (store.name !== 'Redis') expect(await engine.size()).toBe(sizeBefore);
    });
  });

  describe('reading a window', () => {
    test('reads the newest messages, or from an index at most so many, and tells the length held', async () => {
      let engine = await store.start();
      const id = await engine.create();
      const given = Array.from({ length: 10 }, (_, i) => message(i % 3 === 0 ? [{ type: 'text', text: `${i}` }] : `${i}`));
      await engine.appendMessages(id, given);
      engine = await store.restart(engine);
      const all = given.map(stored);
      const windows: [Parameters<typeof engine.get>[1], Message[]][] = [
        [undefined, all],
        [{}, all],
        [{ lastMessages: 3 }, all.slice(7)],
        [{ lastMessages: 0 }, []],
        [{ lastMessages: 10 }, all],
        [{ lastMessages: 50 }, all],
        [{ fromMessage: 4 }, all.slice(4)],
        [{ fromMessage: 4, maxMessages: 3 }, all.slice(4, 7)],
        [{ fromMessage: 8, maxMessages: 5 }, all.slice(8)],
        [{ maxMessages: 2 }, all.slice(0, 2)],
        [{ maxMessages: 0 }, []],
        [{ fromMessage: 0, maxMessages: 10 }, all],
        [{ fromMessage: 9 }, all.slice(9)],
        [{ fromMessage: 10 }, []],
        [{ fromMessage: 50, maxMessages: 5 }, []],
      ];
      for (const [options, expected] of windows) {
        const session = await engine.get(id, options);
        expect(session!.context, JSON.stringify(options)).toEqual(expected);
        expect(session!.length, JSON.stringify(options)).toBe(10);
      }
    });

    test('tells the length of an empty session, and reads undefined for an unknown one', async () => {
      const engine = await store.start();
      const id = await engine.create();
      expect(await engine.get(id, { fromMessage: 3, maxMessages: 2 })).toMatchObject({ context: [], length: 0 });
      expect(await engine.get(NEVER_ISSUED_ID, { lastMessages: 1 })).toBeUndefined();
    });
  });

  describe('reading as JSON text', () => {
    /** Messages whose JSON needs escapes, ids included, with parts, metadata and fractional timestamps. */
    const tricky = (): MessageInput[] => [
      message('plain'),
      message('quotes " and \\ backslash, a tab\t, a newline\n, \u0001 and \u001f, é, 😀, \u2028'),
      message([...EVERY_PART], { metadata: { model: 'm "1"', usage: { input: 1.5, nested: ['\n', null, true] } } }),
      message('', { id: 'an id with "quotes" and \\ a backslash', role: 'assistant', timestamp: 0.25 }),
      message([{ type: 'text', text: 'line\nbreak' }], { role: 'tool' }),
      message('x'.repeat(300), { role: 'system', metadata: {} }),
    ];

    test('is exactly JSON.stringify of what get() reads, for every window, with the length held', async () => {
      let engine = await store.start();
      const id = await engine.create();
      const given = tricky();
      await engine.appendMessages(id, given);
      engine = await store.restart(engine);
      for (const options of [
        undefined,
        {},
        { lastMessages: 2 },
        { lastMessages: 0 },
        { lastMessages: 50 },
        { fromMessage: 1, maxMessages: 3 },
        { fromMessage: 9 },
      ]) {
        const read = await engine.getMessagesJson(id, options);
        const session = await engine.get(id, options);
        expect(read!.json, JSON.stringify(options)).toBe(JSON.stringify(session!.context));
        expect(read!.length).toBe(given.length);
      }
      expect(JSON.parse((await engine.getMessagesJson(id))!.json)).toEqual(given.map(stored));
    });

    test('reads a text of megabytes whole, and the reads after it still read right', async () => {
      const engine = await store.start();
      const [big, small] = await Promise.all([engine.create(), engine.create()]);
      const given = Array.from({ length: 4 }, (_, i) => message([{ type: 'text', text: `${i}`.repeat(500_000) }]));
      await engine.appendMessages(big, given);
      await engine.appendMessage(small, message('small'));
      const [whole, after] = await Promise.all([engine.getMessagesJson(big), engine.getMessagesJson(small)]);
      expect(whole!.json.length).toBeGreaterThan(2_000_000);
      expect(JSON.parse(whole!.json)).toEqual(given.map(stored));
      expect(JSON.parse(after!.json)).toHaveLength(1);
      expect((await engine.getMessagesJson(small))!.json).toBe(JSON.stringify((await engine.get(small))!.context));
    });

    test('reads [] from an empty session and undefined for an unknown one', async () => {
      const engine = await store.start();
      const id = await engine.create();
      expect(await engine.getMessagesJson(id)).toEqual({ json: '[]', length: 0 });
      expect(await engine.getMessagesJson(NEVER_ISSUED_ID, { lastMessages: 1 })).toBeUndefined();
    });

    test('refuses bad options and ids as get() does', async () => {
      const engine = await store.start();
      const id = await engine.create();
      await expect(engine.getMessagesJson(id, { lastMessages: 1, fromMessage: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      await expect(engine.getMessagesJson(id, { lastMessages: -1 })).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
        message: expect.stringContaining('options.lastMessages'),
      });
      await expect(engine.getMessagesJson(id, { asText: true } as never)).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
        message: expect.stringContaining('asText'),
      });
      await expect(engine.getMessagesJson('not-an-id')).rejects.toMatchObject({ code: 'ERR_INVALID_SESSION_ID' });
    });

    test('refuses a read whose text would pass maxSessionBytes, and reads a smaller window of the same session', async () => {
      const engine = await store.start({ maxSessionBytes: 2_048 });
      const id = await engine.create();
      // Short messages: their records fit the limit, their JSON (keys, quotes, the timestamp as text) is twice as long.
      const given = Array.from({ length: 50 }, () => message('0123456789'));
      await engine.appendMessages(id, given);
      expect((await engine.get(id))!.context).toHaveLength(50);
      await expect(engine.getMessagesJson(id)).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED', message: expect.stringContaining('2048 bytes') });
      const window = await engine.getMessagesJson(id, { lastMessages: 5 });
      expect(JSON.parse(window!.json)).toEqual(given.slice(45).map(stored));
      // The shard goes on: its other sessions and reads are untouched.
      expect(await engine.appendMessage(id, message('after'))).toBe(51);
    });
  });
});
