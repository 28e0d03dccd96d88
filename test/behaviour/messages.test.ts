/**
 * Structured messages, on every store: what is appended is what is read back (every part type, metadata,
 * a string kept a string), and what cannot be stored faithfully is refused, naming the field, with nothing
 * changed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MessageInput, Role, SessionEngine } from '../../dist/src/index.js';
import { asJson, type ContentPart, EVERY_PART, held, jsonObject, message, part, read, refusal, stored } from './helpers.js';
import { STORES, useStores } from './stores.js';

useStores();

describe.each(STORES)('messages on $name', (store) => {
  const test = store.skip === null ? it : it.skip;
  if (store.skip !== null) it.skip(`skipped: ${store.skip}`, () => {});

  describe('a round trip', () => {
    test('gives back every part type deep-equal to what was given, in one message and one a part', async () => {
      let engine = await store.start();
      const id = await engine.create();
      const whole = message([...EVERY_PART], { role: 'assistant' });
      const single = EVERY_PART.map((p) => message([p], { role: 'tool' }));
      await engine.appendMessage(id, whole);
      await engine.appendMessages(id, single);
      engine = await store.restart(engine);
      const session = await read(engine, id);
      expect(session.context).toEqual([whole, ...single].map(stored));
      expect(session.length).toBe(1 + EVERY_PART.length);
    });

    test('keeps a plain string content a string, with or without metadata, in every role', async () => {
      let engine = await store.start();
      const id = await engine.create();
      const roles: Role[] = ['user', 'assistant', 'system', 'tool'];
      const plain = roles.map((role, i) => message(`${role} says ${'é'.repeat(i)}`, { role }));
      const withMetadata = message('a string', { role: 'assistant', metadata: { model: 'm-1', usage: { input: 10, output: 3 }, tags: ['a'] } });
      const empty = message('');
      await engine.appendMessages(id, [...plain, withMetadata, empty]);
      engine = await store.restart(engine);
      const { context } = await read(engine, id);
      expect(context).toEqual([...plain, withMetadata, empty].map(stored));
      for (const m of context) expect(typeof m.content).toBe('string');
    });

    test('leaves metadata out of a message given none (no key, not null), and keeps an empty one', async () => {
      let engine = await store.start();
      const id = await engine.create();
      await engine.appendMessage(id, { role: 'user', content: 'minted id, stamped now' });
      await engine.appendMessage(id, message([{ type: 'text', text: 'parts, no metadata' }]));
      await engine.appendMessage(id, message('empty metadata', { metadata: {} }));
      engine = await store.restart(engine);
      const [minted, parts, empty] = (await read(engine, id)).context;
      expect(Object.keys(minted!).sort()).toEqual(['content', 'id', 'role', 'timestamp']);
      expect(minted!.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(Object.keys(parts!).sort()).toEqual(['content', 'id', 'role', 'timestamp']);
      expect(empty!.metadata).toEqual({});
    });

    test('gives the same messages back from every path that returns them: a window, pop, splice, fork', async () => {
      const engine = await store.start();
      const id = await engine.create();
      const given = [message([...EVERY_PART.slice(0, 5)]), message('x', { metadata: { k: [1, { v: null }] } }), message([...EVERY_PART.slice(5)])];
      await engine.appendMessages(id, given);
      expect((await engine.get(id, { fromMessage: 1, maxMessages: 1 }))!.context).toEqual([stored(given[1]!)]);
      const forked = await engine.fork(id);
      expect((await read(engine, forked)).context).toEqual(given.map(stored));
      expect(await engine.popMessage(id)).toEqual(stored(given[2]!));
      expect(await engine.spliceMessages(id, 0, 1)).toEqual([stored(given[0]!)]);
      expect((await read(engine, id)).context).toEqual([stored(given[1]!)]);
    });

    test('holds for arbitrary JSON inside parts and metadata (property)', async () => {
      const engine = await store.start();
      const id = await engine.create();
      let length = 0;
      const input: fc.Arbitrary<MessageInput> = fc.record(
        {
          role: fc.constantFrom<Role>('user', 'assistant', 'system', 'tool'),
          content: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.array(part, { maxLength: 4 })),
          metadata: jsonObject(),
        },
        { requiredKeys: ['role', 'content'] },
      );
      await fc.assert(
        fc.asyncProperty(fc.array(input, { minLength: 1, maxLength: 3 }), async (inputs) => {
          const given = inputs.map((m) => message(m.content as string | ContentPart[], m));
          length = await engine.appendMessages(id, given);
          const { context } = (await engine.get(id, { lastMessages: given.length }))!;
          expect(context).toEqual(asJson(given.map(stored)));
          for (const [i, m] of context.entries()) {
            expect('metadata' in m).toBe(given[i]!.metadata !== undefined);
            expect(typeof m.content).toBe(typeof given[i]!.content);
          }
        }),
        { numRuns: 30 },
      );
      expect((await read(engine, id)).length).toBe(length);
    });

    test('keeps session metadata of arbitrary JSON (property)', async () => {
      const engine = await store.start();
      await fc.assert(
        fc.asyncProperty(jsonObject(4), jsonObject(2), async (first, second) => {
          const id = await engine.create({ metadata: first });
          expect((await read(engine, id)).metadata).toEqual(asJson(first));
          await engine.update(id, { metadata: second });
          expect((await read(engine, id)).metadata).toEqual(asJson(second));
        }),
        { numRuns: 30 },
      );
    });
  });

  describe('what is refused', () => {
    /** Deeper than the 32 levels JSON data may nest. */
    const deep = (levels: number): unknown => {
      let node: unknown = 'leaf';
      for (let i = 0; i < levels; i++) node = { down: node };
      return node;
    };
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    class Usage {
      tokens = 1;
    }

    /** [what, the message, what the refusal names] */
    const BAD_MESSAGES: [string, unknown, string][] = [
      ['an unknown message field', { role: 'assistant', content: 'x', toolCalls: [] }, 'message.toolCalls is not a message field'],
      ['an unknown role', { role: 'developer', content: 'x' }, 'message.role'],
      ['a part without a type', { role: 'user', content: [{ text: 'x' }] }, 'message.content[0].type'],
      ['a part with an empty type', { role: 'user', content: [{ type: '' }] }, 'message.content[0].type'],
      ['a part type of 65 characters', { role: 'user', content: [{ type: 't'.repeat(65) }] }, 'message.content[0].type'],
      ['a part that is a string', { role: 'user', content: ['text'] }, 'message.content[0]'],
      ['a text part without text', { role: 'user', content: [{ type: 'text' }] }, 'message.content[0].text'],
      ['a thought whose text is a number', { role: 'user', content: [{ type: 'thought', text: 1 }] }, 'message.content[0].text'],
      ['an image without data or uri', { role: 'user', content: [{ type: 'image', mimeType: 'image/png' }] }, 'message.content[0] needs data'],
      ['an image without mimeType', { role: 'user', content: [{ type: 'image', data: 'AA==' }] }, 'message.content[0].mimeType'],
      ['a resource_link without name', { role: 'user', content: [{ type: 'resource_link', uri: 'file:///a' }] }, 'message.content[0].name'],
      ['a resource without text or blob', { role: 'user', content: [{ type: 'resource', resource: { uri: 'file:///a' } }] }, 'message.content[0].resource'],
      ['a tool_call without input', { role: 'assistant', content: [{ type: 'tool_call', toolCallId: 'c', name: 'n' }] }, 'message.content[0].input'],
      ['a tool_result without output', { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'c' }] }, 'message.content[0].output'],
      ['a tool_result whose isError is a string', { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'c', output: 1, isError: 'yes' }] }, '.isError'],
      ['NaN in metadata', { role: 'user', content: 'x', metadata: { n: Number.NaN } }, 'message.metadata.n'],
      ['Infinity in a part', { role: 'user', content: [{ type: 'x', n: Number.POSITIVE_INFINITY }] }, 'message.content[0].n'],
      ['a NaN timestamp', { role: 'user', content: 'x', timestamp: Number.NaN }, 'message.timestamp'],
      ['undefined in metadata', { role: 'user', content: 'x', metadata: { u: undefined } }, 'message.metadata.u'],
      ['undefined in a part array', { role: 'user', content: [{ type: 'x', list: [1, undefined] }] }, 'message.content[0].list[1]'],
      ['a function in metadata', { role: 'user', content: 'x', metadata: { f: () => 1 } }, 'message.metadata.f'],
      ['a cycle in metadata', { role: 'user', content: 'x', metadata: cycle }, 'message.metadata'],
      ['metadata nested 33 levels deep', { role: 'user', content: 'x', metadata: deep(33) }, 'nested deeper than 32'],
      ['content nested 33 levels deep', { role: 'user', content: [{ type: 'x', v: deep(31) }] }, 'nested deeper than 32'],
      ['a lone surrogate in a string content', { role: 'user', content: 'cut \uD83D' }, 'message.content'],
      ['a lone surrogate in a part', { role: 'user', content: [{ type: 'text', text: '\uDC00' }] }, 'message.content[0].text'],
      ['a lone surrogate in a metadata key', { role: 'user', content: 'x', metadata: { '\uD800': 1 } }, 'message.metadata key'],
      ['a __proto__ key in metadata', { role: 'user', content: 'x', metadata: JSON.parse('{"__proto__": {"polluted": true}}') }, '"__proto__"'],
      ['a __proto__ key in a part', { role: 'user', content: [JSON.parse('{"type": "x", "__proto__": 1}')] }, '"__proto__"'],
      ['a class instance as metadata', { role: 'user', content: 'x', metadata: new Usage() }, 'message.metadata'],
      ['a Date in metadata', { role: 'user', content: 'x', metadata: { at: new Date(0) } }, 'an instance of Date'],
      ['a Map as a part', { role: 'user', content: [new Map([['type', 'text']])] }, 'message.content[0]'],
      ['metadata that is an array', { role: 'user', content: 'x', metadata: [1] }, 'message.metadata'],
      ['an id with a control character', { id: 'line\nbreak', role: 'user', content: 'x' }, 'message.id'],
      ['an id of 129 characters', { id: 'i'.repeat(129), role: 'user', content: 'x' }, 'message.id'],
      ['an empty id', { id: '', role: 'user', content: 'x' }, 'message.id'],
      ['an id that is a number', { id: 7, role: 'user', content: 'x' }, 'message.id'],
      ['an id with a non-ASCII character', { id: 'é', role: 'user', content: 'x' }, 'message.id'],
    ];

    /** Starts an engine holding one session with a message and metadata: what every refusal must leave as it is. */
    async function fixture(): Promise<{ engine: SessionEngine; id: string; before: ReturnType<typeof held> }> {
      const engine = await store.start();
      const id = await engine.create({ title: 'kept', metadata: { kept: true } });
      await engine.appendMessage(id, message([{ type: 'text', text: 'kept' }], { metadata: { kept: 1 } }));
      return { engine, id, before: held(await engine.get(id)) };
    }

    test('refuses each bad shape in appendMessage, appendMessages and spliceMessages with ERR_INVALID_ARGUMENT naming the field; nothing changes', async () => {
      const { engine, id, before } = await fixture();
      // Every case is tried, and every way it went wrong is told at the end.
      const problems: string[] = [];
      const expectRefusal = async (call: string, promise: () => Promise<unknown>, named: string) => {
        await refusal(promise(), 'ERR_INVALID_ARGUMENT', named).catch((error: Error) => problems.push(`${call}: ${error.message.split('\n')[0]}`));
      };
      for (const [what, bad, named] of BAD_MESSAGES) {
        // In a batch, the message's path names it (`messages[1]`, `insert[0]`), and the whole call is refused.
        const inCall = (path: string) => named.replace('message', path);
        await expectRefusal(`appendMessage with ${what}`, () => engine.appendMessage(id, bad as MessageInput), named);
        await expectRefusal(`appendMessages with ${what}`, () => engine.appendMessages(id, [message('fine'), bad as MessageInput]), inCall('messages[1]'));
        await expectRefusal(`spliceMessages with ${what}`, () => engine.spliceMessages(id, 0, 1, [bad as MessageInput]), inCall('insert[0]'));
      }
      expect(problems).toEqual([]);
      expect(held(await engine.get(id))).toEqual(before);
    });

    test('refuses an unknown option key of every call, naming it; nothing changes', async () => {
      const { engine, id, before } = await fixture();
      const calls: [string, () => Promise<unknown>][] = [
        ['options.ifLenght', () => engine.appendMessage(id, message('x'), { ifLenght: 1 } as never)],
        ['options.ifLenght', () => engine.appendMessages(id, [message('x')], { ifLenght: 1 } as never)],
        ['options.ifLenght', () => engine.popMessage(id, { ifLenght: 1 } as never)],
        ['options.ifLenght', () => engine.spliceMessages(id, 0, 0, [], { ifLenght: 1 } as never)],
        ['options.copy', () => engine.fork(id, { copy: true } as never)],
        ['options.last', () => engine.get(id, { last: 1 } as never)],
        ['options.lastMessages cannot be combined', () => engine.get(id, { lastMessages: 1, fromMessage: 0 })],
        ['options.ifLength', () => engine.appendMessage(id, message('x'), { ifLength: -1 })],
        ['options.ifLength', () => engine.popMessage(id, { ifLength: 1.5 })],
        ['options.messages', () => engine.fork(id, { messages: -1 })],
        ['start', () => engine.spliceMessages(id, 0.5, 0)],
        ['deleteCount', () => engine.spliceMessages(id, 0, -1)],
        ['deleteCount', () => engine.spliceMessages(id, 0, Number.NaN)],
        ['insert must be an array', () => engine.spliceMessages(id, 0, 0, message('x') as never)],
        ['messages must be an array', () => engine.appendMessages(id, message('x') as never)],
      ];
      for (const [named, call] of calls) await refusal(call(), 'ERR_INVALID_ARGUMENT', named);
      expect(held(await engine.get(id))).toEqual(before);
    });

    test('refuses bad session metadata in create, update and fork, naming the field; nothing changes', async () => {
      const { engine, id, before } = await fixture();
      const sizeBefore = store.name === 'Redis' ? 0 : await engine.size();
      await refusal(engine.create({ metadata: [1] as never }), 'ERR_INVALID_ARGUMENT', 'init.metadata');
      await refusal(engine.create({ metadata: { n: Number.NaN } }), 'ERR_INVALID_ARGUMENT', 'init.metadata.n');
      await refusal(engine.update(id, { metadata: { f: (() => 1) as never } }), 'ERR_INVALID_ARGUMENT', 'update.metadata.f');
      await refusal(engine.update(id, { metadata: JSON.parse('{"__proto__": 1}') }), 'ERR_INVALID_ARGUMENT', '"__proto__"');
      await refusal(engine.fork(id, { metadata: 'x' as never }), 'ERR_INVALID_ARGUMENT', 'metadata');
      await refusal(engine.fork(id, { title: 5 as never }), 'ERR_INVALID_ARGUMENT', 'title');
      expect(held(await engine.get(id))).toEqual(before);
      if (store.name !== 'Redis') expect(await engine.size()).toBe(sizeBefore);
    });

    test('accepts the edges of what is allowed: 32 levels of nesting, 128-character ids of printable ASCII, a 64-character type', async () => {
      const engine = await store.start();
      const id = await engine.create();
      const edges = [
        message('x', { id: `${'~'.repeat(64)} !${'z'.repeat(62)}`, metadata: deep(32) as never }),
        message([{ type: 't'.repeat(64), v: deep(30) as never }]),
      ];
      await engine.appendMessages(id, edges);
      expect((await read(engine, id)).context).toEqual(edges.map(stored));
    });
  });
});
