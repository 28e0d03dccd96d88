import { describe, expect, it } from 'vitest';
import { type SessionEngine, SessionNotFoundError, ShardCrashedError, shardFor, type ShardRestartEvent } from '../../dist/src/index.js';
import { codeOf, injectFault, settle, sleep, waitFor, withEngine } from '../helpers/engine.js';

type FaultKind = 'exit' | 'throw' | 'oom' | 'hang';

const SHARDS = 2;
const TARGET = 0;
const CRASH_OPTIONS = { shards: SHARDS, faultInjection: true, shardHeapMb: 64, shardTimeoutMs: 1_000 };
/** For the load tests: the healthy shard takes many appends per session while the other one hangs. */
const LOAD_OPTIONS = { ...CRASH_OPTIONS, maxMessagesPerSession: 10_000_000 };

/** Records every 'shardRestart' event. */
function recordRestarts(engine: SessionEngine): ShardRestartEvent[] {
  const events: ShardRestartEvent[] = [];
  engine.on('shardRestart', (event) => events.push(event));
  return events;
}

/** Creates sessions until each shard holds `perShard` of them; returns them by shard. */
async function sessionsOnEveryShard(engine: SessionEngine, perShard: number): Promise<string[][]> {
  const byShard: string[][] = Array.from({ length: SHARDS }, () => []);
  while (byShard.some((ids) => ids.length < perShard)) {
    const id = await engine.create();
    const ids = byShard[shardFor(id, SHARDS)]!;
    if (ids.length < perShard) ids.push(id);
    else await engine.remove(id);
  }
  return byShard;
}

interface CallRecord {
  id: string;
  /** Order in which calls on this session were made. */
  n: number;
  outcome: { ok: true; value: number } | { ok: false; error: unknown };
}

/**
 * Appends to every session from one async loop per session, each awaiting its call before the next,
 * until `stop()`; records every outcome in call order.
 */
function startLoad(engine: SessionEngine, ids: string[]) {
  let running = true;
  const records: CallRecord[] = [];
  const loops = ids.map(async (id) => {
    for (let n = 1; running; n++) {
      const outcome = await settle(engine.appendMessage(id, { role: 'user', content: `${n}` }));
      records.push({ id, n, outcome });
      if (!outcome.ok) await sleep(5);
    }
  });
  return {
    records,
    async stop(): Promise<void> {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function crashUnderLoad(kind: FaultKind): Promise<void> {
  await withEngine(LOAD_OPTIONS, async (engine) => {
    const restarts = recordRestarts(engine);
    const [onTarget, onOther] = (await sessionsOnEveryShard(engine, 8)) as [string[], string[]];
    const load = startLoad(engine, [...onTarget, ...onOther]);
    await waitFor(() => load.records.length >= 200, 15_000, 'the load to start');

    await injectFault(engine, TARGET, kind);
    await waitFor(() => restarts.length >= 1, 20_000, `the shard to restart after '${kind}'`);
    // Keep the load running on the fresh worker for a while, then stop it.
    const atRestart = load.records.length;
    await waitFor(() => load.records.length >= atRestart + 200, 15_000, 'the load to continue after the restart');
    await load.stop();

    // Exactly one restart, of the right shard, reporting the sessions it held.
    await sleep(300);
    expect(restarts).toEqual([{ shard: TARGET, lostSessions: onTarget.length }]);

    // Calls on the healthy shard never failed, and its sessions hold exactly what was answered.
    for (const id of onOther) {
      const calls = load.records.filter((r) => r.id === id);
      const failed = calls.filter((r) => !r.outcome.ok).map((r) => String((r.outcome as { error: unknown }).error));
      expect(failed).toEqual([]);
      const lengths = calls.map((r) => (r.outcome as { value: number }).value);
      expect(lengths).toEqual(lengths.map((_, i) => i + 1));
      expect((await engine.get(id))!.context).toHaveLength(calls.length);
    }

    // On the crashed shard: answers before the crash are right, then ShardCrashedError, then the session is
    // gone (SessionNotFoundError). Never a success after a failure: no call is answered as if nothing happened.
    let crashedErrors = 0;
    for (const id of onTarget) {
      const calls = load.records.filter((r) => r.id === id);
      const firstFailure = calls.findIndex((r) => !r.outcome.ok);
      expect(firstFailure).toBeGreaterThanOrEqual(0);
      const before = calls.slice(0, firstFailure).map((r) => (r.outcome as { value: number }).value);
      expect(before).toEqual(before.map((_, i) => i + 1));
      for (const r of calls.slice(firstFailure)) {
        expect(r.outcome.ok).toBe(false);
        const error = (r.outcome as { error: unknown }).error;
        expect([ShardCrashedError, SessionNotFoundError].some((E) => error instanceof E)).toBe(true);
        if (error instanceof ShardCrashedError) {
          expect(codeOf(error)).toBe('ERR_SHARD_CRASHED');
          crashedErrors++;
        }
      }
      expect(await engine.get(id)).toBeUndefined();
    }
    expect(crashedErrors).toBeGreaterThan(0);

    // The engine keeps serving, the restarted shard included.
    const fresh = await sessionsOnEveryShard(engine, 3);
    for (const id of fresh.flat()) {
      expect(await engine.appendMessage(id, { role: 'user', content: 'after' })).toBe(1);
      expect((await engine.get(id))!.context).toHaveLength(1);
    }
    expect(await engine.size()).toBe(onOther.length + 6);
    const stats = await engine.stats();
    expect(stats.shards[TARGET]!.restarts).toBe(1);
    expect(stats.shards[1 - TARGET]!.restarts).toBe(0);
  });
}

describe('a shard worker killed mid-load', () => {
  it.each<FaultKind>(['exit', 'throw', 'oom', 'hang'])(
    "'%s': in-flight calls resolve or reject ShardCrashedError, one 'shardRestart' is emitted, and the engine keeps serving",
    async (kind) => {
      await crashUnderLoad(kind);
    },
    60_000,
  );
});

describe('a shard worker killed while idle', () => {
  it.each<FaultKind>(['exit', 'throw', 'oom'])(
    "'%s': emits one 'shardRestart' with the lost sessions, and the lost sessions are gone",
    async (kind) => {
      await withEngine(CRASH_OPTIONS, async (engine) => {
        const restarts = recordRestarts(engine);
        const [onTarget, onOther] = (await sessionsOnEveryShard(engine, 5)) as [string[], string[]];
        await injectFault(engine, TARGET, kind);
        await waitFor(() => restarts.length >= 1, 20_000, 'the restart');
        expect(restarts).toEqual([{ shard: TARGET, lostSessions: 5 }]);
        for (const id of onTarget) expect(await engine.get(id)).toBeUndefined();
        for (const id of onTarget) await expect(engine.appendMessage(id, { role: 'user', content: 'x' })).rejects.toBeInstanceOf(SessionNotFoundError);
        for (const id of onOther) expect(await engine.get(id)).toBeDefined();
        expect(await engine.size()).toBe(5);
      });
    },
    60_000,
  );

  it("'hang': is found by the watchdog on the next call, which rejects ShardCrashedError", async () => {
    await withEngine(CRASH_OPTIONS, async (engine) => {
      const restarts = recordRestarts(engine);
      const [onTarget] = (await sessionsOnEveryShard(engine, 2)) as [string[], string[]];
      await injectFault(engine, TARGET, 'hang');
      // The fault strikes just after the order is answered: a get or two may still be served, correctly.
      let crashed: unknown;
      await waitFor(
        async () => {
          const outcome = await settle(engine.get(onTarget[0]!));
          if (outcome.ok) expect(outcome.value?.id).toBe(onTarget[0]);
          else crashed = outcome.error;
          return !outcome.ok;
        },
        20_000,
        'a call to find the hang',
      );
      expect(crashed).toBeInstanceOf(ShardCrashedError);
      expect(codeOf(crashed)).toBe('ERR_SHARD_CRASHED');
      await waitFor(() => restarts.length >= 1, 20_000, 'the restart');
      expect(restarts).toEqual([{ shard: TARGET, lostSessions: 2 }]);
      expect(await engine.get(onTarget[1]!)).toBeUndefined();
    });
  }, 60_000);
});

describe('repeated crashes', () => {
  it("emits exactly one 'shardRestart' per crash, each time with the sessions held since the last one", async () => {
    await withEngine(CRASH_OPTIONS, async (engine) => {
      const restarts = recordRestarts(engine);
      for (let round = 1; round <= 3; round++) {
        const [onTarget] = (await sessionsOnEveryShard(engine, round)) as [string[], string[]];
        await injectFault(engine, TARGET, round % 2 === 0 ? 'throw' : 'exit');
        await waitFor(() => restarts.length >= round, 20_000, `restart ${round}`);
        expect(restarts[round - 1]).toEqual({ shard: TARGET, lostSessions: onTarget.length });
      }
      await sleep(300);
      expect(restarts).toHaveLength(3);
      expect((await engine.stats()).shards[TARGET]!.restarts).toBe(3);
    });
  }, 90_000);

  it('crashes of two shards at once are each reported once, with their own shard index', async () => {
    await withEngine(CRASH_OPTIONS, async (engine) => {
      const restarts = recordRestarts(engine);
      await sessionsOnEveryShard(engine, 4);
      await Promise.all([injectFault(engine, 0, 'exit'), injectFault(engine, 1, 'throw')]);
      await waitFor(() => restarts.length >= 2, 20_000, 'both restarts');
      await sleep(300);
      expect([...restarts].sort((a, b) => a.shard - b.shard)).toEqual([
        { shard: 0, lostSessions: 4 },
        { shard: 1, lostSessions: 4 },
      ]);
      expect(await engine.size()).toBe(0);
      expect(await engine.create()).toMatch(/^[0-7]/);
    });
  }, 60_000);
});

describe('capacity after a crash', () => {
  it("gives back the lost sessions' places: maxSessions counts only what survived", async () => {
    await withEngine({ ...CRASH_OPTIONS, maxSessions: 10 }, async (engine) => {
      const restarts = recordRestarts(engine);
      const byShard = await sessionsOnEveryShard(engine, 5);
      await expect(engine.create()).rejects.toMatchObject({ code: 'ERR_CAPACITY' });
      await injectFault(engine, TARGET, 'exit');
      await waitFor(() => restarts.length >= 1, 20_000, 'the restart');
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => settle(engine.create())));
      expect(outcomes.filter((o) => o.ok)).toHaveLength(byShard[TARGET]!.length);
      expect(await engine.size()).toBe(10);
    });
  }, 60_000);
});

describe('injectFault', () => {
  it('rejects ERR_INVALID_ARGUMENT when the engine was started without faultInjection', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      const error = await engine.injectFault(0, 'exit').catch((e: unknown) => e);
      expect(codeOf(error)).toBe('ERR_INVALID_ARGUMENT');
      expect((error as Error).message).toContain('faultInjection');
      // and the shard was not harmed
      const id = await engine.create();
      expect(await engine.get(id)).toBeDefined();
    });
  });

  it.each([
    ['a negative shard', -1, 'exit'],
    ['a shard index out of range', 2, 'exit'],
    ['a fractional shard', 0.5, 'exit'],
    ['an unknown kind', 0, 'explode'],
  ])('rejects %s with ERR_INVALID_ARGUMENT', async (_what, shard, kind) => {
    await withEngine({ shards: 2, faultInjection: true }, async (engine) => {
      const restarts = recordRestarts(engine);
      const error = await engine.injectFault(shard as number, kind as never).catch((e: unknown) => e);
      expect(codeOf(error)).toBe('ERR_INVALID_ARGUMENT');
      expect(restarts).toEqual([]);
    });
  });
});
