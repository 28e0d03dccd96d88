/**
 * Two engines (two hosts behind a load balancer) on one Redis: a session is one session wherever a call lands.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, SessionEngine } from '../../dist/src/index.js';
import { codeOf, settle } from '../helpers/engine.js';
import { hasRedis, RedisServer } from './redis-server.js';

let server: RedisServer;
let a: SessionEngine;
let b: SessionEngine;

describe.skipIf(!hasRedis)('two engines on one Redis', () => {
  beforeAll(async () => {
    server = await RedisServer.start();
    a = await SessionEngine.start({ shards: 2, store: { redis: server.url }, maxMessagesPerSession: 50 });
    b = await SessionEngine.start({ shards: 3, store: { redis: server.url }, maxMessagesPerSession: 50 });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await server?.stop();
  });

  it('reads and appends through B, at once, a session created through A', async () => {
    const id = await a.create({ title: 'shared', owner: 'ann' });
    const [session, length] = await Promise.all([b.get(id), b.appendMessage(id, { role: 'user', content: 'via B' })]);
    expect(session).toMatchObject({ id, title: 'shared', owner: 'ann' });
    expect(length).toBe(1);
    expect((await a.get(id))!.context).toEqual([expect.objectContaining({ role: 'user', content: 'via B' })]);
    expect(await b.list({ owner: 'ann' })).toContain(id);
    expect(await a.remove(id)).toMatchObject({ id });
    expect(await b.get(id)).toBeUndefined();
  });

  it('keeps one order of interleaved appends through A and B, as both see it', async () => {
    const id = await a.create();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).appendMessage(id, { role: 'user', content: `${i % 2 === 0 ? 'A' : 'B'}${i}` })),
    );
    // Every append got its own position: no two share a length, none was lost.
    expect([...results].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const viaA = (await a.get(id))!.context.map((m) => m.content as string);
    const viaB = (await b.get(id))!.context.map((m) => m.content as string);
    expect(viaA).toEqual(viaB);
    expect(viaA).toHaveLength(40);
    // Each host's own appends keep its call order, and each lands where its returned length says.
    const positionOf = (content: string) => viaA.indexOf(content);
    for (let i = 0; i < 40; i++) expect(positionOf(`${i % 2 === 0 ? 'A' : 'B'}${i}`)).toBe(results[i]! - 1);
    const fromA = viaA.filter((c) => c.startsWith('A')).map((c) => Number(c.slice(1)));
    expect(fromA).toEqual([...fromA].sort((x, y) => x - y));
    await a.remove(id);
  });

  it('enforces maxMessagesPerSession on the server: racing hosts never exceed it', async () => {
    const id = await a.create();
    const outcomes = await Promise.all(
      Array.from({ length: 80 }, (_, i) => settle((i % 2 === 0 ? a : b).appendMessage(id, { role: 'user', content: String(i) }))),
    );
    const accepted = outcomes.filter((o) => o.ok);
    expect(accepted).toHaveLength(50);
    for (const o of outcomes) if (!o.ok) expect(codeOf(o.error)).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect((await b.get(id))!.context).toHaveLength(50);
    await a.remove(id);
  });
});
