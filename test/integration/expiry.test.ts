import { describe, expect, it } from 'vitest';
import { SessionNotFoundError, type SessionEngine } from '../../dist/src/index.js';
import { settle, sleep, waitFor, withEngine } from '../helpers/engine.js';

const TTL = 300;
/** For tests where some sessions must stay alive while others expire. */
const SLOW_TTL = 1_000;

/** Collects the ids of every 'expired' event, and counts how often each was reported. */
function recordExpired(engine: SessionEngine) {
  const reported: string[] = [];
  engine.on('expired', (ids) => reported.push(...ids));
  return {
    reported,
    counts(): Map<string, number> {
      const counts = new Map<string, number>();
      for (const id of reported) counts.set(id, (counts.get(id) ?? 0) + 1);
      return counts;
    },
  };
}

/**
 * Lets more than `ttl` pass since now, when the caller's last access happened: the sessions it accessed
 * are then idle past their TTL. Polls the clock rather than sleeping once, so a slow timer cannot cut it short.
 */
async function letTtlPass(ttl: number): Promise<void> {
  const lastAccess = Date.now();
  await waitFor(() => Date.now() > lastAccess + ttl + 50, ttl + 10_000, 'the TTL to pass');
}

describe('idle expiry with a short TTL and a sweep every 100 ms', () => {
  it('removes idle sessions and reports every expired id exactly once in an "expired" event', async () => {
    await withEngine({ shards: 2, maxSessionAgeMs: TTL, cleanupIntervalMs: 100 }, async (engine) => {
      const expired = recordExpired(engine);
      const ids = await Promise.all(Array.from({ length: 50 }, () => engine.create()));
      await waitFor(() => expired.reported.length >= ids.length, 15_000, 'every session to be reported expired');
      // A few more sweeps must not report anything again.
      await sleep(400);
      expect([...expired.counts().keys()].sort()).toEqual([...ids].sort());
      for (const count of expired.counts().values()) expect(count).toBe(1);
      expect(await engine.size()).toBe(0);
    });
  });

  it('keeps a session that is accessed more often than its TTL', async () => {
    const ttl = 2_000;
    await withEngine({ shards: 2, maxSessionAgeMs: ttl, cleanupIntervalMs: 100 }, async (engine) => {
      const expired = recordExpired(engine);
      const kept = await engine.create();
      const idle = await engine.create();
      // Touch `kept` every 50 ms until `idle` has expired.
      while (!expired.reported.includes(idle)) {
        expect(await engine.touch(kept)).toBe(true);
        await sleep(50);
      }
      expect(await engine.get(kept)).toBeDefined();
      expect(expired.reported).not.toContain(kept);
    });
  });

  it('expires a session TTL after its last access, not after its creation', async () => {
    await withEngine({ shards: 1, maxSessionAgeMs: 2_000, cleanupIntervalMs: 100 }, async (engine) => {
      const expired = recordExpired(engine);
      const id = await engine.create();
      // Past half the TTL, with a second to spare before it: the append must find the session alive.
      await sleep(1_000);
      const appendCalledAt = Date.now();
      expect(await engine.appendMessage(id, { role: 'user', content: 'keeps me alive' })).toBe(1);
      await waitFor(() => expired.reported.includes(id), 15_000, 'the session to expire');
      // The append stamped lastAccessed no earlier than it was called: expiry cannot come sooner than TTL after.
      expect(Date.now() - appendCalledAt).toBeGreaterThanOrEqual(2_000);
    });
  });
});

describe('a timer sweep of many sessions', () => {
  it('runs alongside live traffic: every expired id is reported exactly once, and the live session keeps its order', async () => {
    // A TTL long enough that the live session survives a stall of the loaded machine between two appends.
    await withEngine({ shards: 2, maxSessionAgeMs: 1_000, cleanupIntervalMs: 100 }, async (engine) => {
      const expired = recordExpired(engine);
      const doomed: Promise<string>[] = [];
      for (let i = 0; i < 40_000; i++) doomed.push(engine.create());
      const ids = await Promise.all(doomed);
      const live = await engine.create();
      // Append to `live` (keeping it alive) until every doomed session has been reported.
      let appended = 0;
      await waitFor(
        async () => {
          expect(await engine.appendMessage(live, { role: 'user', content: `${appended}` })).toBe(++appended);
          return expired.reported.length >= ids.length;
        },
        60_000,
        'every session to be reported expired',
      );
      // A few more sweeps must not report anything again (`live` is kept alive meanwhile).
      const until = Date.now() + 400;
      while (Date.now() < until) {
        expect(await engine.appendMessage(live, { role: 'user', content: `${appended}` })).toBe(++appended);
        await sleep(20);
      }
      // Read `live` at once: the checks below take time, and it must not idle past its TTL meanwhile.
      const context = (await engine.get(live))!.context.map((m) => m.content);
      expect(await engine.size()).toBe(1);
      expect(context).toEqual(Array.from({ length: appended }, (_, i) => `${i}`));
      const counts = expired.counts();
      expect(counts.size).toBe(ids.length);
      expect(ids.filter((id) => counts.get(id) !== 1)).toEqual([]);
      expect(counts.has(live)).toBe(false);
    });
  }, 90_000);
});

describe('expiry before the sweep (a cleanup interval far longer than the TTL)', () => {
  const options = { shards: 2, maxSessionAgeMs: TTL, cleanupIntervalMs: 3_600_000 };

  it('get resolves undefined for an expired session', async () => {
    await withEngine(options, async (engine) => {
      const id = await engine.create();
      await letTtlPass(TTL);
      expect(await engine.get(id)).toBeUndefined();
    });
  });

  it('appendMessage rejects an expired session with SessionNotFoundError, and nothing is appended', async () => {
    await withEngine(options, async (engine) => {
      const id = await engine.create();
      await letTtlPass(TTL);
      const error = await engine.appendMessage(id, { role: 'user', content: 'late' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SessionNotFoundError);
      expect(await engine.get(id)).toBeUndefined();
    });
  });

  it('update rejects an expired session with SessionNotFoundError', async () => {
    await withEngine(options, async (engine) => {
      const id = await engine.create();
      await letTtlPass(TTL);
      await expect(engine.update(id, { mcpServers: ['x'] })).rejects.toMatchObject({ code: 'ERR_SESSION_NOT_FOUND' });
    });
  });

  it('touch resolves false and remove resolves undefined for an expired session', async () => {
    await withEngine(options, async (engine) => {
      const a = await engine.create();
      const b = await engine.create();
      await letTtlPass(TTL);
      expect(await engine.touch(a)).toBe(false);
      expect(await engine.remove(b)).toBeUndefined();
    });
  });

  it('list leaves out expired sessions', async () => {
    // Fresh sessions must outlive a stall of a loaded machine: a longer TTL here.
    await withEngine({ ...options, maxSessionAgeMs: SLOW_TTL }, async (engine) => {
      await Promise.all(Array.from({ length: 10 }, () => engine.create()));
      await letTtlPass(SLOW_TTL);
      const fresh = await engine.create();
      expect(await engine.list()).toEqual([fresh]);
    });
  });

  it('reports a session found expired on access in an "expired" event, exactly once', async () => {
    await withEngine(options, async (engine) => {
      const expired = recordExpired(engine);
      const id = await engine.create();
      await letTtlPass(TTL);
      expect(await engine.get(id)).toBeUndefined();
      expect(await engine.get(id)).toBeUndefined();
      expect(await engine.touch(id)).toBe(false);
      expect(await engine.sweep()).toBe(0);
      await waitFor(() => expired.reported.length > 0, 5_000, 'the expired event');
      expect(expired.reported).toEqual([id]);
    });
  });

  it('sweep() removes the expired sessions, resolves how many, and reports each in an "expired" event', async () => {
    // Fresh sessions must outlive a stall of a loaded machine: a longer TTL here.
    await withEngine({ ...options, maxSessionAgeMs: SLOW_TTL }, async (engine) => {
      const expired = recordExpired(engine);
      const old = await Promise.all(Array.from({ length: 25 }, () => engine.create()));
      await letTtlPass(SLOW_TTL);
      const fresh = await Promise.all(Array.from({ length: 3 }, () => engine.create()));
      expect(await engine.size()).toBe(28);
      expect(await engine.sweep()).toBe(25);
      expect(await engine.size()).toBe(3);
      expect(await engine.sweep()).toBe(0);
      await waitFor(() => expired.reported.length >= 25, 5_000, 'the expired events');
      expect([...expired.reported].sort()).toEqual([...old].sort());
      for (const id of fresh) expect(await engine.get(id)).toBeDefined();
    });
  });

  it('frees capacity: once expired sessions are swept, create succeeds again at maxSessions', async () => {
    await withEngine({ ...options, maxSessions: 4 }, async (engine) => {
      await Promise.all(Array.from({ length: 4 }, () => engine.create()));
      await expect(engine.create()).rejects.toMatchObject({ code: 'ERR_CAPACITY' });
      await letTtlPass(TTL);
      expect(await engine.sweep()).toBe(4);
      const outcomes = await Promise.all(Array.from({ length: 5 }, () => settle(engine.create())));
      expect(outcomes.filter((o) => o.ok)).toHaveLength(4);
    });
  });
});
