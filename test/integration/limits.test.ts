import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CapacityError, LimitExceededError, QueueFullError, shardFor } from '../../dist/src/index.js';
import { codeOf, settle, withEngine } from '../helpers/engine.js';

describe('maxMessagesPerSession', () => {
  it('rejects the append beyond the limit with ERR_LIMIT_EXCEEDED and trims nothing', async () => {
    await withEngine({ shards: 2, maxMessagesPerSession: 5 }, async (engine) => {
      const id = await engine.create();
      for (let i = 1; i <= 5; i++) expect(await engine.appendMessage(id, { role: 'user', content: `${i}` })).toBe(i);
      const error = await engine.appendMessage(id, { role: 'user', content: '6' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LimitExceededError);
      expect(codeOf(error)).toBe('ERR_LIMIT_EXCEEDED');
      expect((error as Error).message).toContain('maxMessagesPerSession');
      expect((await engine.get(id))!.context.map((m) => m.content)).toEqual(['1', '2', '3', '4', '5']);
    });
  });

  it('rejects exactly the appends beyond the limit when many arrive at once', async () => {
    await withEngine({ shards: 2, maxMessagesPerSession: 100 }, async (engine) => {
      const id = await engine.create();
      const outcomes = await Promise.all(Array.from({ length: 150 }, (_, i) => settle(engine.appendMessage(id, { role: 'user', content: `${i}` }))));
      expect(outcomes.slice(0, 100).every((o) => o.ok)).toBe(true);
      expect(outcomes.slice(100).every((o) => !o.ok && codeOf(o.error) === 'ERR_LIMIT_EXCEEDED')).toBe(true);
      expect((await engine.get(id))!.context.map((m) => m.content)).toEqual(Array.from({ length: 100 }, (_, i) => `${i}`));
    });
  });

  it('limits each session on its own: a full session does not stop another', async () => {
    await withEngine({ shards: 1, maxMessagesPerSession: 2 }, async (engine) => {
      const full = await engine.create();
      const other = await engine.create();
      await engine.appendMessage(full, { role: 'user', content: 'a' });
      await engine.appendMessage(full, { role: 'user', content: 'b' });
      await expect(engine.appendMessage(full, { role: 'user', content: 'c' })).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED' });
      expect(await engine.appendMessage(other, { role: 'user', content: 'a' })).toBe(1);
    });
  });
});

describe('maxMessageBytes', () => {
  it('accepts a content of exactly maxMessageBytes UTF-8 bytes', async () => {
    await withEngine({ shards: 1, maxMessageBytes: 64 }, async (engine) => {
      const id = await engine.create();
      expect(await engine.appendMessage(id, { role: 'user', content: 'x'.repeat(64) })).toBe(1);
      expect(await engine.appendMessage(id, { role: 'user', content: 'é'.repeat(32) })).toBe(2);
    });
  });

  it('rejects a content one UTF-8 byte over with ERR_LIMIT_EXCEEDED and appends nothing', async () => {
    await withEngine({ shards: 1, maxMessageBytes: 64 }, async (engine) => {
      const id = await engine.create();
      await expect(engine.appendMessage(id, { role: 'user', content: 'x'.repeat(65) })).rejects.toBeInstanceOf(LimitExceededError);
      await expect(engine.appendMessage(id, { role: 'user', content: `${'é'.repeat(32)}x` })).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED' });
      expect((await engine.get(id))!.context).toEqual([]);
    });
  });
});

describe('maxSessions', () => {
  it('is exact: of many concurrent creates, exactly maxSessions succeed and the rest reject ERR_CAPACITY', async () => {
    await withEngine({ shards: 3, maxSessions: 10 }, async (engine) => {
      const outcomes = await Promise.all(Array.from({ length: 40 }, () => settle(engine.create())));
      const created = outcomes.filter((o) => o.ok);
      const refused = outcomes.filter((o) => !o.ok);
      expect(created).toHaveLength(10);
      for (const o of refused) {
        expect(o.ok === false && o.error).toBeInstanceOf(CapacityError);
        expect(o.ok === false && codeOf(o.error)).toBe('ERR_CAPACITY');
      }
      expect(await engine.size()).toBe(10);
    });
  });

  it('names the option in the ERR_CAPACITY message', async () => {
    await withEngine({ shards: 1, maxSessions: 1 }, async (engine) => {
      await engine.create();
      const error = await engine.create().catch((e: unknown) => e);
      expect((error as Error).message).toContain('maxSessions');
    });
  });

  it('refuses no create below the limit while earlier creates are being answered (1 024 creating in a loop)', async () => {
    await withEngine({ shards: 1, maxSessions: 20_000 }, async (engine) => {
      let issued = 0;
      const refusals: unknown[] = [];
      const lane = async (): Promise<void> => {
        while (issued < 20_000) {
          issued++;
          await engine.create().catch((error: unknown) => refusals.push(error));
        }
      };
      await Promise.all(Array.from({ length: 1_024 }, lane));
      expect(refusals).toEqual([]);
      expect(await engine.size()).toBe(20_000);
      await expect(engine.create()).rejects.toMatchObject({ code: 'ERR_CAPACITY' });
    });
  });

  it('is exact when creates come in waves: never one more than the limit', async () => {
    await withEngine({ shards: 2, maxSessions: 7 }, async (engine) => {
      for (let wave = 0; wave < 4; wave++) {
        await Promise.all(Array.from({ length: 5 }, () => settle(engine.create())));
      }
      expect(await engine.size()).toBe(7);
      expect((await engine.list()).length).toBe(7);
    });
  });

  it('frees a place when a session is removed: exactly one more create then succeeds', async () => {
    await withEngine({ shards: 2, maxSessions: 5 }, async (engine) => {
      const ids = await Promise.all(Array.from({ length: 5 }, () => engine.create()));
      await expect(engine.create()).rejects.toMatchObject({ code: 'ERR_CAPACITY' });
      await engine.remove(ids[0]!);
      const outcomes = await Promise.all(Array.from({ length: 3 }, () => settle(engine.create())));
      expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
      expect(await engine.size()).toBe(5);
    });
  });

  it('leaves the existing sessions intact when a create is refused', async () => {
    await withEngine({ shards: 2, maxSessions: 3 }, async (engine) => {
      const ids = await Promise.all(Array.from({ length: 3 }, () => engine.create({ mcpServers: ['m'] })));
      for (const id of ids) await engine.appendMessage(id, { role: 'user', content: id });
      await expect(engine.create()).rejects.toMatchObject({ code: 'ERR_CAPACITY' });
      for (const id of ids) expect(await engine.get(id)).toMatchObject({ id, mcpServers: ['m'], context: [{ content: id }] });
    });
  });
});

describe('maxPendingOpsPerShard', () => {
  it('rejects the calls beyond the limit with ERR_QUEUE_FULL instead of queueing them', async () => {
    await withEngine({ shards: 1, maxPendingOpsPerShard: 10 }, async (engine) => {
      const id = await engine.create();
      const outcomes = await Promise.all(Array.from({ length: 50 }, () => settle(engine.get(id))));
      const served = outcomes.filter((o) => o.ok);
      const refused = outcomes.filter((o) => !o.ok);
      expect(served).toHaveLength(10);
      expect(refused).toHaveLength(40);
      for (const o of refused) {
        expect(o.ok === false && o.error).toBeInstanceOf(QueueFullError);
        expect(o.ok === false && codeOf(o.error)).toBe('ERR_QUEUE_FULL');
      }
    });
  });

  it('names the option in the ERR_QUEUE_FULL message', async () => {
    await withEngine({ shards: 1, maxPendingOpsPerShard: 1 }, async (engine) => {
      const id = await engine.create();
      const first = engine.touch(id);
      const error = await engine.touch(id).catch((e: unknown) => e);
      await first;
      expect((error as Error).message).toContain('maxPendingOpsPerShard');
    });
  });

  it('serves calls again once the queue has drained', async () => {
    await withEngine({ shards: 1, maxPendingOpsPerShard: 5 }, async (engine) => {
      const id = await engine.create();
      await Promise.all(Array.from({ length: 20 }, () => settle(engine.appendMessage(id, { role: 'user', content: 'x' }))));
      expect(await engine.appendMessage(id, { role: 'user', content: 'later' })).toBe(6);
      expect((await engine.get(id))!.context).toHaveLength(6);
    });
  });

  it('applies the limit per shard: a full shard does not refuse calls for another shard', async () => {
    await withEngine({ shards: 2, maxPendingOpsPerShard: 5 }, async (engine) => {
      // Find one session on each shard.
      const byShard = new Map<number, string>();
      while (byShard.size < 2) {
        const id = await engine.create();
        byShard.set(shardFor(id, 2), id);
      }
      const busy = byShard.get(0)!;
      const quiet = byShard.get(1)!;
      const flood = Array.from({ length: 20 }, () => settle(engine.touch(busy)));
      const other = settle(engine.touch(quiet));
      expect((await Promise.all(flood)).filter((o) => !o.ok)).toHaveLength(15);
      expect(await other).toEqual({ ok: true, value: true });
    });
  });

  it('refused calls change nothing: the session keeps exactly the appends that were accepted', async () => {
    await withEngine({ shards: 1, maxPendingOpsPerShard: 8 }, async (engine) => {
      const id = await engine.create();
      const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => settle(engine.appendMessage(id, { role: 'user', content: `${i}` }))));
      const accepted = outcomes.flatMap((o, i) => (o.ok ? [`${i}`] : []));
      expect(accepted).toHaveLength(8);
      expect((await engine.get(id))!.context.map((m) => m.content)).toEqual(accepted);
    });
  });
});

describe('maxSessionBytes', () => {
  it("counts a session's messages and fields together: the append past it rejects ERR_LIMIT_EXCEEDED naming it, and trims nothing", async () => {
    await withEngine({ shards: 1, maxSessionBytes: 8_192, maxMessageBytes: 4_096 }, async (engine) => {
      const id = await engine.create({ clientCapabilities: { extra: 'c'.repeat(3_000) }, mcpServers: ['s'.repeat(1_000)] });
      const content = 'm'.repeat(960);
      let taken = 0;
      let refusal: unknown = null;
      while (refusal === null && taken < 10) {
        await engine.appendMessage(id, { role: 'user', content }).then(
          () => taken++,
          (error: unknown) => {
            refusal = error;
          },
        );
      }
      expect(refusal).toBeInstanceOf(LimitExceededError);
      expect((refusal as Error).message).toContain('maxSessionBytes');
      // 4 000 bytes of fields leave room for 4 messages of about 1 005 bytes (a 26-character minted id each), not 8.
      expect(taken).toBe(4);
      const session = (await engine.get(id))!;
      expect(session.context).toHaveLength(taken);
      // Fields that would take the session past it are refused too; smaller ones are taken.
      await expect(engine.update(id, { mcpServers: ['s'.repeat(4_000)] })).rejects.toMatchObject({
        code: 'ERR_LIMIT_EXCEEDED',
        message: expect.stringContaining('maxSessionBytes'),
      });
      await engine.update(id, { mcpServers: [] });
      expect(await engine.appendMessage(id, { role: 'user', content })).toBe(taken + 1);
    });
  });

  it('refuses a create whose fields alone pass it', async () => {
    await withEngine({ shards: 1, maxSessionBytes: 4_096 }, async (engine) => {
      await expect(engine.create({ clientCapabilities: { a: 'x'.repeat(2_500) }, mcpServers: ['y'.repeat(2_500)] })).rejects.toMatchObject({
        code: 'ERR_LIMIT_EXCEEDED',
        message: expect.stringContaining('maxSessionBytes'),
      });
      expect(await engine.size()).toBe(0);
    });
  });
});

describe('a session restored past a lowered maxSessionBytes', () => {
  it('is never handed out whole: get() rejects ERR_LIMIT_EXCEEDED unless lastMessages fits, remove() removes it and resolves its newest messages that fit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'session-shards-limit-'));
    try {
      const content = (n: number) => `${n}`.padEnd(100_000, '.');
      const persistence = { dir };
      let id = '';
      await withEngine({ shards: 1, maxSessionBytes: 1_048_576, persistence }, async (engine) => {
        id = await engine.create({ title: 'large' });
        for (let n = 0; n < 6; n++) await engine.appendMessage(id, { role: 'user', content: content(n) });
      });
      // A start writes a snapshot of what it recovered: the next start restores the session from it whole.
      await withEngine({ shards: 1, maxSessionBytes: 1_048_576, persistence }, async (engine) => {
        expect((await engine.get(id))!.context).toHaveLength(6);
      });
      await withEngine({ shards: 1, maxSessionBytes: 262_144, persistence }, async (engine) => {
        const error = await engine.get(id).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(LimitExceededError);
        expect((error as Error).message).toMatch(/maxSessionBytes.*lastMessages/);
        expect((await engine.get(id, { lastMessages: 2 }))!.context.map((m) => m.content)).toEqual([content(4), content(5)]);
        await expect(engine.get(id, { lastMessages: 3 })).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED' });
        const removed = (await engine.remove(id))!;
        expect(removed.title).toBe('large');
        expect(removed.context.map((m) => m.content)).toEqual([content(4), content(5)]);
        expect(await engine.get(id)).toBeUndefined();
        expect(await engine.size()).toBe(0);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('maxFieldBytes', () => {
  it('rejects clientCapabilities or mcpServers past it with ERR_LIMIT_EXCEEDED naming it, on create and update', async () => {
    await withEngine({ shards: 1, maxFieldBytes: 1_024 }, async (engine) => {
      const big = 'b'.repeat(1_100);
      for (const init of [
        { clientCapabilities: { big } },
        { mcpServers: [big] },
        { clientCapabilities: { list: Array.from({ length: 200 }, () => 123_456.5) } },
      ]) {
        await expect(engine.create(init)).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED', message: expect.stringContaining('maxFieldBytes') });
      }
      const id = await engine.create({ clientCapabilities: { small: 'b'.repeat(900) } });
      await expect(engine.update(id, { mcpServers: [big] })).rejects.toMatchObject({
        code: 'ERR_LIMIT_EXCEEDED',
        message: expect.stringContaining('maxFieldBytes'),
      });
      expect((await engine.get(id))!.clientCapabilities).toEqual({ small: 'b'.repeat(900) });
    });
  });

  it('refuses a 100 MiB capability under the defaults before encoding it', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      const huge = 'h'.repeat(100 * 1_048_576);
      await expect(engine.create({ clientCapabilities: { huge } })).rejects.toMatchObject({
        code: 'ERR_LIMIT_EXCEEDED',
        message: expect.stringContaining('maxFieldBytes'),
      });
      await expect(engine.create({ mcpServers: [huge] })).rejects.toMatchObject({
        code: 'ERR_LIMIT_EXCEEDED',
        message: expect.stringContaining('maxFieldBytes'),
      });
      expect(await engine.size()).toBe(0);
    });
  });
});
