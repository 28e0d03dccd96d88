/**
 * The SDK's own runner on an `EngineSession`: the same conversation, run once on the SDK's reference store
 * (`MemorySession`) and once on the engine, leaves the same history, is fed back to the model the same way, and
 * goes on after an engine restart with persistence.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemorySession } from '@openai/agents-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionEngine } from '../../dist/src/index.js';
import { EngineSession } from '../../dist/src/openai-agents/index.js';
import { converse, TURNS, weatherAgent } from './helpers.js';

describe('run(agent, input, { session }) with an EngineSession', () => {
  let engine: SessionEngine;
  beforeAll(async () => {
    engine = await SessionEngine.start({ shards: 2 });
  });
  afterAll(async () => {
    await engine?.close();
  });

  it('leaves the history MemorySession leaves: getItems(), getItems(2) and popItem() are deep-equal', async () => {
    const reference = weatherAgent();
    const memory = new MemorySession();
    const memoryOutputs = await converse(reference.agent, memory, TURNS);

    const tested = weatherAgent();
    const session = new EngineSession(engine);
    const outputs = await converse(tested.agent, session, TURNS);

    expect(outputs).toEqual(['Sunny in Paris, 21 °C.', 'Oslo: rain, 9 °C. Rome: sunny, 24 °C.', 'See the national weather service.', 'You are welcome.']);
    expect(outputs).toEqual(memoryOutputs);
    // Each model call was sent the same history: what the runner read back from the engine is what it wrote.
    expect(tested.model.requests).toStrictEqual(reference.model.requests);
    expect(tested.model.requests).toHaveLength(6);

    const items = await session.getItems();
    expect(items).toStrictEqual(await memory.getItems());
    // The turns stored every kind of item they produced: user input, reasoning, calls, the tool's results, a
    // hosted tool call and answers.
    expect(new Set(items.map((item) => item.type))).toEqual(new Set(['message', 'reasoning', 'function_call', 'function_call_result', 'hosted_tool_call']));
    expect(items.filter((item) => item.type === 'function_call_result')).toHaveLength(3);
    expect(await session.getItems(2)).toStrictEqual(await memory.getItems(2));
    expect(await session.popItem()).toStrictEqual(await memory.popItem());
    expect(await session.popItem()).toStrictEqual(await memory.popItem());
    expect(await session.getItems()).toStrictEqual(await memory.getItems());
    expect((await engine.get(await session.getSessionId()))!.length).toBe(items.length - 2);
  });

  it('stores one engine message per item, with a role a reader of the engine can use', async () => {
    const { agent } = weatherAgent(TURNS.slice(0, 1));
    const session = new EngineSession(engine);
    await converse(agent, session, TURNS.slice(0, 1));
    const stored = (await engine.get(await session.getSessionId()))!;
    expect(stored.context.map((message) => [message.role, (message.content as { type: string }[]).map((part) => part.type)])).toEqual([
      ['user', ['openai_item']],
      ['assistant', ['openai_item']],
      ['assistant', ['openai_item']],
      ['tool', ['openai_item']],
      ['assistant', ['openai_item']],
    ]);
    expect(stored.context[3].content).toEqual([
      {
        type: 'openai_item',
        item: {
          type: 'function_call_result',
          name: 'get_weather',
          callId: 'call_1',
          status: 'completed',
          output: { type: 'text', text: 'Paris: sunny, 21 °C' },
        },
      },
    ]);
  });

  it('goes on from a fork of the engine session, which keeps the history up to the fork', async () => {
    const { agent } = weatherAgent(TURNS.slice(0, 2));
    const session = new EngineSession(engine);
    await converse(agent, session, TURNS.slice(0, 2));
    const items = await session.getItems();
    const firstTurn = items.findIndex((item, i) => i > 0 && 'role' in item && item.role === 'user');
    const forkId = await engine.fork(await session.getSessionId(), { messages: firstTurn });
    const fork = new EngineSession(engine, { sessionId: forkId });
    expect(await fork.getItems()).toStrictEqual(items.slice(0, firstTurn));

    const other = weatherAgent(TURNS.slice(3, 4));
    await converse(other.agent, fork, TURNS.slice(3, 4));
    expect((await fork.getItems()).slice(0, firstTurn)).toStrictEqual(items.slice(0, firstTurn));
    expect(await fork.getItems(1)).toStrictEqual([TURNS[3].responses[0][0]]);
    expect(await session.getItems()).toStrictEqual(items);
  });
});

describe('an EngineSession across an engine restart with persistence', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ss-openai-agents-'));
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('continues the conversation after the engine is closed and reopened, as MemorySession does without a restart', async () => {
    const reference = weatherAgent();
    const memory = new MemorySession();
    await converse(reference.agent, memory, TURNS);

    const tested = weatherAgent();
    const before = await SessionEngine.start({ shards: 2, persistence: { dir, fsync: 'always' } });
    let sessionId: string;
    try {
      const session = new EngineSession(before);
      await converse(tested.agent, session, TURNS.slice(0, 2));
      sessionId = await session.getSessionId();
    } finally {
      await before.close();
    }

    const after = await SessionEngine.start({ shards: 2, persistence: { dir, fsync: 'always' } });
    try {
      expect(after.recovery?.sessions).toBe(1);
      const session = new EngineSession(after, { sessionId });
      await converse(tested.agent, session, TURNS.slice(2));
      expect(tested.model.requests).toStrictEqual(reference.model.requests);
      expect(await session.getItems()).toStrictEqual(await memory.getItems());
      expect(await session.getItems(2)).toStrictEqual(await memory.getItems(2));
      expect(await session.popItem()).toStrictEqual(await memory.popItem());
    } finally {
      await after.close();
    }
  });
});
