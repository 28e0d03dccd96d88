/**
 * `EngineSession` as a store: every item type comes back deep-equal, each method is one engine call with the
 * engine's guarantees (windows, all-or-none appends, atomic replacement), and bad input or a missing session
 * rejects with the engine's typed errors.
 */
import { type AgentInputItem, MemorySession, protocol } from '@openai/agents-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  CorruptDataError,
  EngineClosedError,
  ErrorCode,
  InvalidArgumentError,
  InvalidSessionIdError,
  LimitExceededError,
  SessionEngine,
  SessionNotFoundError,
} from '../../dist/src/index.js';
import { EngineSession, itemToMessage, messageToItem } from '../../dist/src/openai-agents/index.js';
import { EVERY_ITEM } from './items.js';

let engine: SessionEngine;
beforeAll(async () => {
  engine = await SessionEngine.start({ shards: 2, maxMessagesPerSession: 40 });
});
afterAll(async () => {
  await engine?.close();
});

/** The same operations on the SDK's reference store and on an EngineSession must give the same results. */
async function both<T>(memory: MemorySession, session: EngineSession, call: (store: MemorySession | EngineSession) => Promise<T>): Promise<T> {
  const expected = await call(memory);
  const actual = await call(session);
  expect(actual).toStrictEqual(expected);
  return actual;
}

describe('items come back deep-equal', () => {
  it('the fixtures are items of the SDK (its own schema accepts each one)', () => {
    for (const item of EVERY_ITEM) expect(protocol.ModelItem.safeParse(item).success, JSON.stringify(item.type)).toBe(true);
    expect(new Set(EVERY_ITEM.map((item) => item.type ?? 'message'))).toEqual(
      new Set([
        'message',
        'reasoning',
        'function_call',
        'function_call_result',
        'hosted_tool_call',
        'computer_call',
        'computer_call_result',
        'shell_call',
        'shell_call_output',
        'apply_patch_call',
        'apply_patch_call_output',
        'tool_search_call',
        'tool_search_output',
        'program',
        'program_output',
        'compaction',
        'unknown',
      ]),
    );
  });

  it('every item type, with content parts and binary data, as MemorySession gives them back', async () => {
    const memory = new MemorySession();
    const session = new EngineSession(engine);
    await both(memory, session, (store) => store.addItems(structuredClone(EVERY_ITEM)));
    const items = await both(memory, session, (store) => store.getItems());
    expect(items).toStrictEqual(EVERY_ITEM);
    // Binary data is a Uint8Array again, not the base64 text it is stored as.
    const snapshot = items[7] as { output: { image: { data: unknown } } };
    expect(snapshot.output.image.data).toBeInstanceOf(Uint8Array);
    for (const limit of [1, 2, 5, EVERY_ITEM.length, EVERY_ITEM.length + 3, 0, -1]) await both(memory, session, (store) => store.getItems(limit));
    for (let i = 0; i < 3; i++) await both(memory, session, (store) => store.popItem());
    await both(memory, session, (store) => store.getItems());
  });

  it('undefined fields, undefined in arrays, -0 and bytes inside nested data stay what they were', async () => {
    const item = {
      type: 'function_call_result',
      callId: 'call_u',
      name: 'odd',
      status: 'completed',
      id: undefined,
      providerData: { a: undefined, list: [1, undefined, -0, null], deep: { bytes: new Uint8Array([1, 2, 3]), zero: -0, none: undefined } },
      output: { type: 'text', text: 'ok', providerData: undefined },
    } as unknown as AgentInputItem;
    const given = structuredClone(item);
    const session = new EngineSession(engine);
    await session.addItems([item]);
    // The caller's object is left as it was.
    expect(item).toStrictEqual(given);
    const [back] = await session.getItems();
    expect(back).toStrictEqual(given);
    // toStrictEqual tells an absent key from an undefined one; the key is really there, in its place.
    expect(Object.keys(back)).toEqual(Object.keys(given));
    expect(Object.keys((back as unknown as { providerData: object }).providerData)).toEqual(['a', 'list', 'deep']);
    expect(Object.is((back as unknown as { providerData: { list: unknown[] } }).providerData.list[2], -0)).toBe(true);
    expect(await session.popItem()).toStrictEqual(given);
  });

  it('itemToMessage and messageToItem are the mapping, usable without a session', () => {
    const item = { type: 'reasoning', content: [], providerData: { x: undefined } };
    const message = itemToMessage(item);
    expect(message).toEqual({
      role: 'assistant',
      content: [{ type: 'openai_item', item: { type: 'reasoning', content: [], providerData: { x: null } }, undefined: [['providerData', 'x']] }],
    });
    const stored = { id: 'm1', timestamp: 1, role: message.role, content: structuredClone(message.content) };
    expect(messageToItem(stored, 'S')).toStrictEqual(item);
  });
});

describe('each method is one engine call', () => {
  it('getItems(limit) reads only the newest `limit` messages from the engine', async () => {
    const session = new EngineSession(engine);
    await session.addItems(EVERY_ITEM.slice(0, 6));
    const get = vi.spyOn(engine, 'get');
    try {
      expect(await session.getItems(2)).toStrictEqual(EVERY_ITEM.slice(4, 6));
      expect(get.mock.calls).toEqual([[await session.getSessionId(), { lastMessages: 2 }]]);
    } finally {
      get.mockRestore();
    }
  });

  it('addItems appends all or none: a bad item in the middle, or one past a limit, leaves the history as it was', async () => {
    const session = new EngineSession(engine);
    await session.addItems(EVERY_ITEM.slice(0, 2));
    const bad = [EVERY_ITEM[2], { type: 'function_call', callId: 'c', name: 'f', arguments: '{}', when: new Date(0) }, EVERY_ITEM[3]] as AgentInputItem[];
    const error = await session.addItems(bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(/messages\[1\]\.content\[0\]\.item\.when/);
    await expect(session.addItems([{ type: 'unknown', providerData: { n: Number.NaN } }])).rejects.toThrow(InvalidArgumentError);
    await expect(session.addItems(Array.from({ length: 39 }, () => EVERY_ITEM[0]))).rejects.toThrow(LimitExceededError);
    expect(await session.getItems()).toStrictEqual(EVERY_ITEM.slice(0, 2));
    await expect(session.addItems([null] as unknown as AgentInputItem[])).rejects.toThrow(/items\[0\] must be an item/);
    // biome-ignore lint/suspicious/noSparseArray: a hole is what is tested
    await expect(session.addItems([EVERY_ITEM[0], , EVERY_ITEM[1]] as AgentInputItem[])).rejects.toThrow(
      /items\[1\] must be an item \(an object\), got undefined/,
    );
    await expect(session.addItems('x' as unknown as AgentInputItem[])).rejects.toThrow(InvalidArgumentError);
  });

  it('popItem removes the newest item; undefined when there is none', async () => {
    const session = new EngineSession(engine);
    expect(await session.popItem()).toBeUndefined();
    await session.addItems(EVERY_ITEM.slice(0, 2));
    expect(await session.popItem()).toStrictEqual(EVERY_ITEM[1]);
    expect(await session.popItem()).toStrictEqual(EVERY_ITEM[0]);
    expect(await session.popItem()).toBeUndefined();
  });

  it('clearSession empties the history and keeps the session, its id and its fields', async () => {
    const session = new EngineSession(engine, { init: { title: 'kept', metadata: { app: 'x' } } });
    await session.addItems(EVERY_ITEM.slice(0, 4));
    const id = await session.getSessionId();
    await session.clearSession();
    expect(await session.getSessionId()).toBe(id);
    expect(await session.getItems()).toEqual([]);
    expect(await engine.get(id)).toMatchObject({ id, title: 'kept', metadata: { app: 'x' }, length: 0 });
    await session.addItems([EVERY_ITEM[0]]);
    expect(await session.getItems()).toStrictEqual([EVERY_ITEM[0]]);
  });

  it('replaceHistoryWithCompaction replaces the whole history in one splice; a failure leaves it whole', async () => {
    const session = new EngineSession(engine);
    await session.addItems(EVERY_ITEM.slice(0, 6));
    const compacted = [EVERY_ITEM[EVERY_ITEM.length - 2], EVERY_ITEM[5]];
    const splice = vi.spyOn(engine, 'spliceMessages');
    try {
      await session.replaceHistoryWithCompaction(structuredClone(compacted));
      expect(splice).toHaveBeenCalledTimes(1);
    } finally {
      splice.mockRestore();
    }
    expect(await session.getItems()).toStrictEqual(compacted);
    await expect(session.replaceHistoryWithCompaction([...compacted, { type: 'unknown', providerData: { f: () => 1 } }])).rejects.toThrow(InvalidArgumentError);
    await expect(session.replaceHistoryWithCompaction(Array.from({ length: 41 }, () => EVERY_ITEM[0]))).rejects.toThrow(LimitExceededError);
    expect(await session.getItems()).toStrictEqual(compacted);
  });
});

describe('the session it uses', () => {
  it('without a sessionId, the first call creates one session, also when calls race, with options.init', async () => {
    const before = await engine.size();
    const session = new EngineSession(engine, { init: { title: 'chat', owner: 'ada' } });
    const [items, id, again] = await Promise.all([session.getItems(), session.getSessionId(), session.getSessionId()]);
    expect(items).toEqual([]);
    expect(again).toBe(id);
    expect(await engine.size()).toBe(before + 1);
    expect(await engine.get(id)).toMatchObject({ title: 'chat', owner: 'ada' });
  });

  it('a failed create rejects the call and is tried again by the next one', async () => {
    const session = new EngineSession(engine, { init: { cwd: 'relative/path' } });
    await expect(session.getSessionId()).rejects.toThrow(InvalidArgumentError);
    await expect(session.getItems()).rejects.toThrow(InvalidArgumentError);
  });

  it('with a sessionId, uses that engine session: a second EngineSession sees what the first added', async () => {
    const first = new EngineSession(engine);
    await first.addItems(EVERY_ITEM.slice(0, 3));
    const second = new EngineSession(engine, { sessionId: await first.getSessionId() });
    expect(await second.getItems()).toStrictEqual(EVERY_ITEM.slice(0, 3));
    expect(await second.getSessionId()).toBe(await first.getSessionId());
  });

  it('an unknown, expired or removed session rejects ERR_SESSION_NOT_FOUND on every method', async () => {
    const session = new EngineSession(engine);
    await session.addItems([EVERY_ITEM[0]]);
    await engine.remove(await session.getSessionId());
    for (const call of [
      () => session.getItems(),
      () => session.getItems(3),
      () => session.addItems([EVERY_ITEM[0]]),
      () => session.popItem(),
      () => session.clearSession(),
      () => session.replaceHistoryWithCompaction([EVERY_ITEM[0]]),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SessionNotFoundError);
      expect((error as { code: string }).code).toBe(ErrorCode.SESSION_NOT_FOUND);
    }
  });

  it('refuses unknown option keys, bad ids, and init beside a sessionId, with the engine’s typed errors', () => {
    expect(() => new EngineSession(engine, { sessionID: 'x' } as never)).toThrow(InvalidArgumentError);
    expect(() => new EngineSession(engine, { sessionID: 'x' } as never)).toThrow(/options\.sessionID/);
    expect(() => new EngineSession(engine, { sessionId: '01h' })).toThrow(InvalidSessionIdError);
    expect(() => new EngineSession(engine, 'id' as never)).toThrow(InvalidArgumentError);
    expect(() => new EngineSession(engine, { sessionId: '01ARZ3NDEKTSV4RRFFQ69G5FAV', init: {} })).toThrow(/options\.init/);
    expect(() => new EngineSession({} as never)).toThrow(/engine must be a SessionEngine/);
  });

  it('refuses a limit that is not an integer', async () => {
    const session = new EngineSession(engine);
    for (const limit of [1.5, Number.NaN, '2']) await expect(session.getItems(limit as number)).rejects.toThrow(/limit must be an integer/);
  });

  it('reads messages written with the engine’s own API when they are plain text, and refuses others as not items', async () => {
    const id = await engine.create();
    await engine.appendMessages(id, [
      { role: 'system', content: 'Be brief.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Hello ' },
          { type: 'text', text: 'there' },
        ],
      },
      { role: 'assistant', content: 'Hi.' },
    ]);
    const session = new EngineSession(engine, { sessionId: id });
    expect(await session.getItems()).toStrictEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hello there' },
      { role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Hi.' }] },
    ]);
    await engine.appendMessage(id, { role: 'assistant', content: [{ type: 'tool_call', toolCallId: 't', name: 'ls', input: {} }] });
    const error = await session.getItems().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptDataError);
    expect((error as Error).message).toMatch(/is not an OpenAI Agents item/);
    // Only the window is read: the newest message is the foreign one, an empty window reads nothing.
    expect(await session.getItems(1).catch((e: unknown) => e)).toBeInstanceOf(CorruptDataError);
    expect(await session.getItems(0)).toEqual([]);
  });

  it('a closed engine rejects ERR_ENGINE_CLOSED', async () => {
    const own = await SessionEngine.start({ shards: 1 });
    const session = new EngineSession(own);
    await session.addItems([EVERY_ITEM[0]]);
    await own.close();
    await expect(session.getItems()).rejects.toThrow(EngineClosedError);
    await expect(session.addItems([EVERY_ITEM[0]])).rejects.toThrow(EngineClosedError);
  });
});
