/**
 * Calls that can be cut short: every call takes `{ signal }` in its options (its last argument), and the
 * engine's `callTimeoutMs` bounds how long any call waits. A call cut short before it was sent to its shard
 * never runs; one cut short after was sent rejects at once, and its outcome is unknown.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AbortedError, ErrorCode, type SessionEngine, SessionEngineError, type ShardRestartEvent, TimeoutError } from '../../dist/src/index.js';
import { codeOf, injectFault, settle, sleep, waitFor, withEngine } from '../helpers/engine.js';
import { hasRedis, withRedis } from '../redis/redis-server.js';

const ID = '01ARZ3NDEKTSV4RRFFQ69G5FAV';

/** The rejection of `promise` (fails the test if it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<SessionEngineError> {
  const outcome = await settle(promise);
  if (outcome.ok) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(SessionEngineError);
  return outcome.error as SessionEngineError;
}

/** Lets the engine send what is queued: batches go out in a microtask queued by the call. */
const sent = (): Promise<void> => sleep(20);

/** The contents of a session's messages, in order. */
async function contents(engine: SessionEngine, id: string): Promise<unknown[]> {
  return (await engine.get(id))!.context.map((message) => message.content);
}

function recordRestarts(engine: SessionEngine): ShardRestartEvent[] {
  const events: ShardRestartEvent[] = [];
  engine.on('shardRestart', (event) => events.push(event));
  return events;
}

describe('AbortedError and TimeoutError', () => {
  it('are typed: ERR_ABORTED named AbortError (as fetch names its abort), ERR_TIMEOUT named TimeoutError', () => {
    const reason = new Error('the client went away');
    const aborted = new AbortedError('aborted', { cause: reason });
    expect(aborted).toBeInstanceOf(SessionEngineError);
    expect(aborted).toMatchObject({ code: ErrorCode.ABORTED, name: 'AbortError', cause: reason });
    expect(ErrorCode.ABORTED).toBe('ERR_ABORTED');
    const timeout = new TimeoutError('late');
    expect(timeout).toBeInstanceOf(SessionEngineError);
    expect(timeout).toMatchObject({ code: 'ERR_TIMEOUT', name: 'TimeoutError' });
  });
});

describe('a signal already aborted', () => {
  it('rejects every call at once with ERR_ABORTED, its reason as cause, and nothing runs', async () => {
    await withEngine({ shards: 2 }, async (engine) => {
      const id = await engine.create({ title: 'kept' });
      await engine.appendMessage(id, { role: 'user', content: 'one' });
      const reason = new Error('gone');
      const controller = new AbortController();
      controller.abort(reason);
      const signal = controller.signal;
      const calls: [string, () => Promise<unknown>][] = [
        ['create', () => engine.create({ title: 'new' }, { signal })],
        ['get', () => engine.get(id, { signal })],
        ['appendMessage', () => engine.appendMessage(id, { role: 'user', content: 'two' }, { signal })],
        ['appendMessage with ifLength', () => engine.appendMessage(id, { role: 'user', content: 'two' }, { ifLength: 1, signal })],
        ['appendMessages', () => engine.appendMessages(id, [{ role: 'user', content: 'two' }], { signal })],
        ['popMessage', () => engine.popMessage(id, { signal })],
        ['spliceMessages', () => engine.spliceMessages(id, 0, 1, [], { signal })],
        ['fork', () => engine.fork(id, { signal })],
        ['update', () => engine.update(id, { title: 'changed' }, { signal })],
        ['touch', () => engine.touch(id, { signal })],
        ['remove', () => engine.remove(id, { signal })],
        ['list', () => engine.list({ signal })],
        ['size', () => engine.size({ signal })],
        ['sweep', () => engine.sweep({ signal })],
        ['stats', () => engine.stats({ signal })],
      ];
      for (const [name, call] of calls) {
        const error = await rejectionOf(call());
        expect(error, name).toBeInstanceOf(AbortedError);
        expect(error.code, name).toBe('ERR_ABORTED');
        expect(error.name, name).toBe('AbortError');
        expect(error.message, name).toMatch(/never ran/);
        expect(error.cause, name).toBe(reason);
      }
      const session = await engine.get(id);
      expect(session).toMatchObject({ title: 'kept', length: 1 });
      expect(await engine.list()).toEqual([id]);
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    });
  });

  it('is refused like any bad option when options.signal is not an AbortSignal', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      const id = await engine.create();
      for (const bad of [{}, 'abort', 1, null]) {
        const error = await rejectionOf(engine.get(id, { signal: bad as unknown as AbortSignal }));
        expect(error.code).toBe('ERR_INVALID_ARGUMENT');
        expect(error.message).toMatch(/options\.signal must be an AbortSignal/);
      }
      const error = await rejectionOf(engine.touch(id, { signl: new AbortController().signal } as never));
      expect(error.code).toBe('ERR_INVALID_ARGUMENT');
      expect(error.message).toMatch(/options\.signl is not an option/);
    });
  });
});

describe('a call aborted before it is sent', () => {
  it('never runs; the calls around it in the same batch apply, in call order', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      const id = await engine.create();
      const controller = new AbortController();
      const first = engine.appendMessage(id, { role: 'user', content: 'one' });
      const aborted = engine.appendMessage(id, { role: 'user', content: 'two' }, { signal: controller.signal });
      const third = engine.appendMessage(id, { role: 'user', content: 'three' });
      // Same tick: the three are written into the shard's next batch, which has not gone out yet.
      controller.abort();
      const error = await rejectionOf(aborted);
      expect(error).toMatchObject({ code: 'ERR_ABORTED', name: 'AbortError' });
      expect(error.message).toMatch(/before it was sent.*never ran/);
      expect(await first).toBe(1);
      expect(await third).toBe(2);
      expect(await contents(engine, id)).toEqual(['one', 'three']);
    });
  });

  it('leaves the other operations of every kind in its batch intact (the batch is rewritten without it)', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      const id = await engine.create({ title: 'source' });
      await engine.appendMessage(id, { role: 'user', content: 'zero' });
      const controller = new AbortController();
      const { signal } = controller;
      const calls = {
        created: engine.create({ title: 't', cwd: '/w', owner: 'o', metadata: { k: [1, 'ü'] }, clientCapabilities: { fs: { readTextFile: true } } }),
        droppedCreate: engine.create({ title: 'never' }, { signal }),
        appended: engine.appendMessages(id, [
          { id: 'm-1', role: 'assistant', content: [{ type: 'text', text: 'parts' }], metadata: { model: 'x' } },
          { role: 'tool', content: 'result' },
        ]),
        droppedAppend: engine.appendMessage(id, { role: 'user', content: 'never' }, { signal }),
        updated: engine.update(id, { title: 'renamed', metadata: { n: 1 } }),
        droppedUpdate: engine.update(id, { title: 'never' }, { signal }),
        spliced: engine.spliceMessages(id, 0, 1, [{ role: 'system', content: 'summary' }]),
        droppedPop: engine.popMessage(id, { signal }),
        forked: engine.fork(id, { title: 'fork' }),
      };
      controller.abort();
      for (const key of ['droppedCreate', 'droppedAppend', 'droppedUpdate', 'droppedPop'] as const) {
        expect(codeOf(await rejectionOf(calls[key])), key).toBe('ERR_ABORTED');
      }
      const created = await calls.created;
      expect(await calls.appended).toBe(3);
      await calls.updated;
      expect((await calls.spliced).map((message) => message.content)).toEqual(['zero']);
      const forked = await calls.forked;
      expect(await engine.get(created)).toMatchObject({
        title: 't',
        cwd: '/w',
        owner: 'o',
        metadata: { k: [1, 'ü'] },
        clientCapabilities: { fs: { readTextFile: true } },
      });
      const session = await engine.get(id);
      expect(session).toMatchObject({ title: 'renamed', metadata: { n: 1 }, length: 3 });
      expect(session!.context.map((message) => [message.role, message.content])).toEqual([
        ['system', 'summary'],
        ['assistant', [{ type: 'text', text: 'parts' }]],
        ['tool', 'result'],
      ]);
      expect(session!.context[1]).toMatchObject({ id: 'm-1', metadata: { model: 'x' } });
      expect(await engine.get(forked)).toMatchObject({ title: 'fork', length: 3 });
      expect((await engine.list()).sort()).toEqual([id, created, forked].sort());
    });
  });

  it('never runs when its batch was already sealed (maxBatchOps), nor when every op of a batch is aborted', async () => {
    await withEngine({ shards: 1, maxBatchOps: 2 }, async (engine) => {
      const id = await engine.create();
      const controllers = Array.from({ length: 9 }, () => new AbortController());
      const calls = controllers.map((controller, n) => engine.appendMessage(id, { role: 'user', content: `${n}` }, { signal: controller.signal }));
      // Batches of two: [0 1] [2 3] [4 5] [6 7] [8]. Aborts the first of one, both of another, the last.
      for (const n of [0, 2, 3, 8]) controllers[n]!.abort();
      const outcomes = await Promise.all(calls.map(settle));
      expect(outcomes.map((outcome) => (outcome.ok ? outcome.value : codeOf(outcome.error)))).toEqual([
        'ERR_ABORTED',
        1,
        'ERR_ABORTED',
        'ERR_ABORTED',
        2,
        3,
        4,
        5,
        'ERR_ABORTED',
      ]);
      expect(await contents(engine, id)).toEqual(['1', '4', '5', '6', '7']);
      expect((await engine.stats()).shards[0]!.pendingOps).toBe(0);
    });
  });

  it.skipIf(!hasRedis)('never runs on a Redis store either (its batches are rewritten the same way)', async () => {
    await withRedis(async (server) => {
      await withEngine({ shards: 1, store: { redis: server.url } }, async (engine) => {
        const id = await engine.create();
        const controller = new AbortController();
        const calls: Promise<unknown>[] = [
          engine.appendMessage(id, { role: 'user', content: 'one' }),
          engine.appendMessage(id, { role: 'user', content: 'two' }, { signal: controller.signal }),
          engine.create({ title: 'never' }, { signal: controller.signal }),
          engine.appendMessage(id, { role: 'user', content: 'three' }),
        ];
        controller.abort();
        const outcomes = await Promise.all(calls.map(settle));
        expect(outcomes.map((outcome) => (outcome.ok ? outcome.value : codeOf(outcome.error)))).toEqual([1, 'ERR_ABORTED', 'ERR_ABORTED', 2]);
        expect(await contents(engine, id)).toEqual(['one', 'three']);
        expect(await engine.list()).toEqual([id]);
      });
    });
  });

  it('gives back the capacity a create reserved', async () => {
    await withEngine({ shards: 1, maxSessions: 1 }, async (engine) => {
      const controller = new AbortController();
      const dropped = engine.create({}, { signal: controller.signal });
      controller.abort();
      expect(codeOf(await rejectionOf(dropped))).toBe('ERR_ABORTED');
      const id = await engine.create();
      expect(await engine.list()).toEqual([id]);
      expect(codeOf(await rejectionOf(engine.create()))).toBe('ERR_CAPACITY');
    });
  });
});

describe('a call aborted after it was sent', () => {
  it('rejects at once, saying its outcome is unknown; its reply is ignored, and an append may still apply', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      const id = await engine.create();
      const controller = new AbortController();
      const append = engine.appendMessage(id, { role: 'user', content: 'maybe' }, { signal: controller.signal });
      // After this await the batch is with the worker; its reply can only be read in a later turn of the loop.
      await Promise.resolve();
      controller.abort();
      const error = await rejectionOf(append);
      expect(error).toMatchObject({ code: 'ERR_ABORTED', name: 'AbortError' });
      expect(error.message).toMatch(/after it was sent.*outcome is unknown/);
      // The shard applied it (it had it): a reader sees it, and the engine goes on in order.
      expect(await engine.appendMessage(id, { role: 'user', content: 'next' })).toBe(2);
      expect(await contents(engine, id)).toEqual(['maybe', 'next']);
      expect((await engine.stats()).shards[0]!.pendingOps).toBe(0);
    });
  });

  it('against a hung shard: the sent call and the queued one reject at once, before the watchdog acts, each saying what became of it', async () => {
    await withEngine({ shards: 1, faultInjection: true, shardTimeoutMs: 1_000 }, async (engine) => {
      const restarts = recordRestarts(engine);
      const shared = new AbortController();
      const inFlight = new AbortController();
      const queued = new AbortController();
      await injectFault(engine, 0, 'hang');
      // A memory shard has at most two batches in flight: the first two calls are sent, the rest queue.
      const sentCreate = engine.create({ title: 'sent' }, { signal: inFlight.signal });
      await sent();
      const sentGet = engine.get(ID, { signal: shared.signal });
      await sent();
      const droppedCreate = engine.create({ title: 'dropped' }, { signal: queued.signal });
      const keptCreate = engine.create({ title: 'kept' }, { signal: shared.signal });
      // One listener per shard for all the calls that share a signal.
      expect(getEventListeners(shared.signal, 'abort')).toHaveLength(1);

      queued.abort();
      const dropped = await rejectionOf(droppedCreate);
      expect(dropped.code).toBe('ERR_ABORTED');
      expect(dropped.message).toMatch(/before it was sent.*never ran/);
      inFlight.abort();
      const unknown = await rejectionOf(sentCreate);
      expect(unknown.code).toBe('ERR_ABORTED');
      expect(unknown.message).toMatch(/after it was sent.*outcome is unknown/);
      expect(restarts).toEqual([]);

      // The watchdog ends the hung worker: the calls it held, sent or queued, fail as they always have.
      expect(codeOf(await rejectionOf(sentGet))).toBe('ERR_SHARD_CRASHED');
      expect(codeOf(await rejectionOf(keptCreate))).toBe('ERR_SHARD_CRASHED');
      await waitFor(() => restarts.length === 1, 10_000, 'the restart');
      expect(await engine.list()).toEqual([]);
      // Every call settled: none of them left a listener on the signal they shared.
      expect(getEventListeners(shared.signal, 'abort')).toHaveLength(0);
      expect((await engine.stats()).shards[0]!.pendingOps).toBe(0);
    });
  });
});

describe('callTimeoutMs', () => {
  it('rejects ERR_TIMEOUT past it against a hung shard: a sent call with its outcome unknown, a queued one dropped', async () => {
    await withEngine({ shards: 1, faultInjection: true, shardTimeoutMs: 3_000, callTimeoutMs: 200 }, async (engine) => {
      const restarts = recordRestarts(engine);
      await injectFault(engine, 0, 'hang');
      const sentGet = engine.get(ID);
      await sent();
      const sentTouch = engine.touch(ID);
      await sent();
      const queuedCreate = engine.create({ title: 'dropped' });
      const [first, second, third] = await Promise.all([rejectionOf(sentGet), rejectionOf(sentTouch), rejectionOf(queuedCreate)]);
      for (const error of [first, second, third]) {
        expect(error).toBeInstanceOf(TimeoutError);
        expect(error).toMatchObject({ code: 'ERR_TIMEOUT', name: 'TimeoutError' });
      }
      expect(first!.message).toMatch(/callTimeoutMs \(200 ms\); its outcome is unknown/);
      expect(third!.message).toMatch(/not sent .* within callTimeoutMs \(200 ms\); it never ran/);
      // Ended by the calls' own bound, not by the watchdog (3 s).
      expect(restarts).toEqual([]);
      await waitFor(() => restarts.length === 1, 20_000, 'the restart');
      expect(await engine.get(ID)).toBeUndefined();
    });
  });

  it('leaves calls that are answered in time alone, and keeps no timer once they settle', async () => {
    await withEngine({ shards: 2, callTimeoutMs: 60_000 }, async (engine) => {
      const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
      const ids = await Promise.all(Array.from({ length: 50 }, () => engine.create()));
      expect(await Promise.all(ids.map((id) => engine.appendMessage(id, { role: 'user', content: 'hi' })))).toEqual(ids.map(() => 1));
      // Counted in the same synchronous run as the calls, so that no unrelated timer comes or goes between.
      const before = timers();
      const pending = ids.map((id) => engine.get(id));
      expect(timers()).toBeGreaterThanOrEqual(before + ids.length);
      expect((await Promise.all(pending)).map((session) => session?.length)).toEqual(ids.map(() => 1));
      // None of the calls' timers is left (another part of the process may have started one meanwhile).
      expect(timers()).toBeLessThan(before + ids.length);
    });
  });
});

describe('signals and listeners', () => {
  it('a long-lived signal shared by many calls keeps no listener of a settled call, resolved or rejected', async () => {
    await withEngine({ shards: 2 }, async (engine) => {
      const { signal } = new AbortController();
      const id = await engine.create({}, { signal });
      const calls: Promise<unknown>[] = [];
      for (let n = 0; n < 100; n++) {
        calls.push(engine.appendMessage(id, { role: 'user', content: `${n}` }, { signal }));
        calls.push(engine.get(ID, { signal }));
        calls.push(engine.update(ID, { title: 'x' }, { signal })); // rejects ERR_SESSION_NOT_FOUND
      }
      calls.push(engine.list({ signal }), engine.size({ signal }), engine.stats({ signal }));
      // One listener per shard, whatever the number of calls: no leak warning for a shared signal.
      expect(getEventListeners(signal, 'abort')).toHaveLength(2);
      const outcomes = await Promise.all(calls.map(settle));
      expect(outcomes.filter((outcome) => !outcome.ok).map((outcome) => codeOf((outcome as { error: unknown }).error))).toEqual(
        Array.from({ length: 100 }, () => 'ERR_SESSION_NOT_FOUND'),
      );
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
      expect((await engine.get(id))?.length).toBe(100);
    });
  });

  it('one abort ends every pending call that shares the signal, on every shard', async () => {
    await withEngine({ shards: 2 }, async (engine) => {
      const ids = await Promise.all(Array.from({ length: 20 }, () => engine.create()));
      const controller = new AbortController();
      const calls = ids.map((id) => engine.appendMessage(id, { role: 'user', content: 'never' }, { signal: controller.signal }));
      controller.abort();
      const outcomes = await Promise.all(calls.map(settle));
      expect(outcomes.map((outcome) => (outcome.ok ? outcome.value : codeOf(outcome.error)))).toEqual(ids.map(() => 'ERR_ABORTED'));
      expect((await Promise.all(ids.map((id) => engine.get(id)))).map((session) => session?.length)).toEqual(ids.map(() => 0));
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    });
  });

  it('an abort after a call settled changes nothing', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      const controller = new AbortController();
      const id = await engine.create({}, { signal: controller.signal });
      expect(await engine.appendMessage(id, { role: 'user', content: 'a' }, { signal: controller.signal })).toBe(1);
      controller.abort();
      expect(await engine.get(id)).toMatchObject({ length: 1 });
    });
  });
});
