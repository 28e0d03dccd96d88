/**
 * Two hosts on one Redis: a conversation the SDK's runner started through one engine goes on through another,
 * and ends with the history MemorySession keeps for the same turns in one process.
 */
import { MemorySession } from '@openai/agents-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionEngine } from '../../dist/src/index.js';
import { EngineSession } from '../../dist/src/openai-agents/index.js';
import { hasRedis, RedisServer } from '../redis/redis-server.js';
import { converse, TURNS, weatherAgent } from './helpers.js';

let server: RedisServer;
let a: SessionEngine;
let b: SessionEngine;

describe.skipIf(!hasRedis)('an EngineSession on two engines sharing one Redis', () => {
  beforeAll(async () => {
    server = await RedisServer.start();
    a = await SessionEngine.start({ shards: 2, store: { redis: server.url } });
    b = await SessionEngine.start({ shards: 1, store: { redis: server.url } });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await server?.stop();
  });

  it('continues through the second engine the conversation the first one began', async () => {
    const reference = weatherAgent();
    const memory = new MemorySession();
    await converse(reference.agent, memory, TURNS);

    // One agent (one scripted model) plays the whole conversation; the hosts share only Redis.
    const tested = weatherAgent();
    const onA = new EngineSession(a);
    await converse(tested.agent, onA, TURNS.slice(0, 2));
    const onB = new EngineSession(b, { sessionId: await onA.getSessionId() });
    await converse(tested.agent, onB, TURNS.slice(2));

    // The model was sent, on B, the history written on A.
    expect(tested.model.requests).toStrictEqual(reference.model.requests);
    const expected = await memory.getItems();
    expect(await onB.getItems()).toStrictEqual(expected);
    expect(await onA.getItems()).toStrictEqual(expected);
    expect(await onB.getItems(2)).toStrictEqual(await memory.getItems(2));
    expect(await onA.popItem()).toStrictEqual(await memory.popItem());
    expect(await onB.getItems()).toStrictEqual(await memory.getItems());
  });
});
