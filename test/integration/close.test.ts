import { describe, expect, it } from 'vitest';
import { EngineClosedError, SessionEngine, shardFor } from '../../dist/src/index.js';
import { codeOf, injectFault, settle, waitFor } from '../helpers/engine.js';

const VALID = '01JD2Q3W4E5R6T7Y8Z9ABCDEFG';

/** Resolves `promise`, or rejects if it has not settled within `ms` (close must never hang). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('close()', () => {
  it('finishes the work already submitted: every call issued before close() resolves', async () => {
    const engine = await SessionEngine.start({ shards: 2 });
    const id = await engine.create();
    const appends = Array.from({ length: 2_000 }, (_, i) => engine.appendMessage(id, { role: 'user', content: `${i}` }));
    const creates = Array.from({ length: 50 }, () => engine.create());
    const read = engine.get(id);
    await within(engine.close(), 20_000, 'close()');
    expect(await Promise.all(appends)).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1));
    expect(new Set(await Promise.all(creates)).size).toBe(50);
    expect((await read)!.context).toHaveLength(2_000);
  });

  it('resolves when called twice, and concurrently', async () => {
    const engine = await SessionEngine.start({ shards: 2 });
    await Promise.all([engine.close(), engine.close()]);
    await expect(engine.close()).resolves.toBeUndefined();
  });

  it('resolves on an engine that was never used', async () => {
    const engine = await SessionEngine.start({ shards: 1 });
    await expect(within(engine.close(), 20_000, 'close()')).resolves.toBeUndefined();
  });

  describe('every call after close() rejects ERR_ENGINE_CLOSED', () => {
    const calls: [string, (engine: SessionEngine) => Promise<unknown>][] = [
      ['create', (e) => e.create()],
      ['get', (e) => e.get(VALID)],
      ['appendMessage', (e) => e.appendMessage(VALID, { role: 'user', content: 'x' })],
      ['update', (e) => e.update(VALID, { mcpServers: [] })],
      ['touch', (e) => e.touch(VALID)],
      ['remove', (e) => e.remove(VALID)],
      ['list', (e) => e.list()],
      ['size', (e) => e.size()],
      ['sweep', (e) => e.sweep()],
      ['stats', (e) => e.stats()],
      ['injectFault', (e) => e.injectFault(0, 'exit')],
    ];

    it.each(calls)('%s rejects (never throws) with EngineClosedError', async (_name, call) => {
      const engine = await SessionEngine.start({ shards: 1, faultInjection: true });
      await engine.close();
      let promise: Promise<unknown> | undefined;
      expect(() => {
        promise = call(engine);
      }).not.toThrow();
      const error = await promise!.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EngineClosedError);
      expect(codeOf(error)).toBe('ERR_ENGINE_CLOSED');
    });

    it('even with bad arguments: the closed engine is reported first', async () => {
      const engine = await SessionEngine.start({ shards: 1 });
      await engine.close();
      await expect(engine.get('not an id')).rejects.toMatchObject({ code: 'ERR_ENGINE_CLOSED' });
    });
  });

  it('calls made after close() was called, before it resolved, reject ERR_ENGINE_CLOSED', async () => {
    const engine = await SessionEngine.start({ shards: 2 });
    const id = await engine.create();
    const pending = Array.from({ length: 200 }, () => engine.appendMessage(id, { role: 'user', content: 'x' }));
    const closing = engine.close();
    const late = await settle(engine.get(id));
    await closing;
    expect(late.ok).toBe(false);
    expect(!late.ok && codeOf(late.error)).toBe('ERR_ENGINE_CLOSED');
    expect((await Promise.all(pending)).at(-1)).toBe(200);
  });

  it('emits no events after it resolved, even with a short sweep interval', async () => {
    const engine = await SessionEngine.start({ shards: 2, maxSessionAgeMs: 50, cleanupIntervalMs: 20 });
    const events: unknown[] = [];
    await Promise.all(Array.from({ length: 5 }, () => engine.create()));
    await engine.close();
    engine.on('expired', (ids) => events.push(ids));
    engine.on('shardRestart', (event) => events.push(event));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(events).toEqual([]);
  });
});

describe('close() after a crash', () => {
  it('resolves after a shard has crashed and restarted', async () => {
    const engine = await SessionEngine.start({ shards: 2, faultInjection: true });
    let restarts = 0;
    engine.on('shardRestart', () => restarts++);
    await engine.create();
    await injectFault(engine, 0, 'exit');
    await waitFor(() => restarts === 1, 20_000, 'the restart');
    await expect(within(engine.close(), 20_000, 'close()')).resolves.toBeUndefined();
  });

  it('resolves when called while the crashed shard is still restarting', async () => {
    const engine = await SessionEngine.start({ shards: 2, faultInjection: true });
    let id: string;
    do id = await engine.create();
    while (shardFor(id, 2) !== 0);
    let restarted = false;
    engine.on('shardRestart', () => {
      restarted = true;
    });
    await injectFault(engine, 0, 'exit');
    // Keep calling until a call sees the crash (it rejects, or finds the session gone), then close at once:
    // usually before the fresh worker is up.
    await waitFor(
      async () => {
        const outcome = await settle(engine.get(id));
        return !outcome.ok || outcome.value === undefined;
      },
      20_000,
      'a call to see the crash',
    );
    const sawRestartBeforeClose = restarted;
    await expect(within(engine.close(), 20_000, 'close()')).resolves.toBeUndefined();
    // A restart cut short by close() is not announced.
    if (!sawRestartBeforeClose) expect(restarted).toBe(false);
  });

  it('resolves while a call is in flight on a crashing shard, which rejects ERR_SHARD_CRASHED', async () => {
    const engine = await SessionEngine.start({ shards: 2, faultInjection: true, shardHeapMb: 64 });
    let id: string;
    do id = await engine.create();
    while (shardFor(id, 2) !== 0);
    await injectFault(engine, 0, 'oom');
    const calls = Array.from({ length: 200 }, () => settle(engine.appendMessage(id, { role: 'user', content: 'x' })));
    await within(engine.close(), 20_000, 'close()');
    for (const outcome of await Promise.all(calls)) {
      if (!outcome.ok) expect(['ERR_SHARD_CRASHED', 'ERR_ENGINE_CLOSED']).toContain(codeOf(outcome.error));
    }
  });

  // The watchdog keeps running during close(), so a hung shard is terminated rather than awaited forever.
  it('resolves while a call is in flight on a hung shard, which rejects rather than waits forever', async () => {
    const engine = await SessionEngine.start({ shards: 2, faultInjection: true, shardTimeoutMs: 1_000 });
    let id: string;
    do id = await engine.create();
    while (shardFor(id, 2) !== 0);
    await injectFault(engine, 0, 'hang');
    // Give the busy loop time to start, so that this get is in flight on the hung worker.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const call = settle(engine.get(id));
    await within(engine.close(), 20_000, 'close()');
    const outcome = await within(call, 5_000, 'the call in flight on the hung shard');
    expect(outcome.ok).toBe(false);
    expect(['ERR_SHARD_CRASHED', 'ERR_ENGINE_CLOSED']).toContain(codeOf((outcome as { error: unknown }).error));
  });
});
