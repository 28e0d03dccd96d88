/**
 * The engine on Redis tells its host when the store goes down and comes back (`'storeDown'` once, when the
 * first shard loses it; `'storeUp'` once every shard answers again), through its events and its logger,
 * and gives a worker's warning once per engine (the keyspace notifications behind `'expired'`).
 */
import { describe, expect, it } from 'vitest';
import { KEYSPACE_EVENTS_WARNING, type StoreDownEvent } from '../../dist/src/index.js';
import { waitFor, withEngine } from '../helpers/engine.js';
import { hasRedis, withRedis } from './redis-server.js';

describe.skipIf(!hasRedis)('store events', () => {
  it("emits 'storeDown' once when Redis goes away and 'storeUp' once it is back, and logs both", async () => {
    await withRedis(async (server) => {
      const logged: { level: string; code: string }[] = [];
      const logger = {
        error: (_message: string, fields: { code: string }) => logged.push({ level: 'error', code: fields.code }),
        info: (_message: string, fields: { code: string }) => logged.push({ level: 'info', code: fields.code }),
        warn: () => undefined,
      };
      await withEngine({ shards: 2, store: { redis: server.url }, storeTimeoutMs: 300, logger }, async (engine) => {
        const down: StoreDownEvent[] = [];
        let up = 0;
        engine.on('storeDown', (event) => down.push(event));
        engine.on('storeUp', () => up++);
        await engine.create();
        await server.kill();
        await waitFor(() => down.length === 1, 15_000, "'storeDown'");
        expect(down[0]).toMatchObject({ reason: 'connection' });
        await server.restart();
        await waitFor(() => up === 1, 15_000, "'storeUp'");
        // Both shards lost the store, yet each event came once.
        expect(down).toHaveLength(1);
        expect(await engine.create()).toMatch(/^[0-7]/);
        expect(logged).toEqual([
          { level: 'error', code: 'SESSION_SHARDS_STORE_DOWN' },
          { level: 'info', code: 'SESSION_SHARDS_STORE_UP' },
        ]);
      });
    });
  }, 60_000);

  it('warns once per engine when the server does not notify expiries, and not when it does', async () => {
    for (const [args, expected] of [
      [[], 1],
      [['--notify-keyspace-events', 'Ex'], 0],
    ] as const) {
      await withRedis(
        async (server) => {
          const warnings: string[] = [];
          const logger = { warn: (_message: string, fields: { code: string }) => warnings.push(fields.code) };
          await withEngine({ shards: 2, store: { redis: server.url }, logger }, async (engine) => {
            await engine.create();
            if (expected === 1) await waitFor(() => warnings.length === 1, 15_000, 'the keyspace warning');
            else await new Promise((resolve) => setTimeout(resolve, 500));
            // Each shard's worker may post it; the engine gives it once.
            await engine.sweep();
            expect(warnings).toEqual(expected === 1 ? [KEYSPACE_EVENTS_WARNING] : []);
          });
        },
        [...args],
      );
    }
  }, 60_000);
});
