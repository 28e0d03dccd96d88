import { describe, expect, it } from 'vitest';
import type { SessionEngine } from '../../dist/src/index.js';
import { codeOf, settle, withEngine } from '../helpers/engine.js';
import { NEVER_ISSUED_ID } from '../helpers/ids.js';

const TOTAL = 10_000;
const CALLERS = 100;

/**
 * `CALLERS` async callers append `TOTAL` messages to one session between them. Each caller yields to the
 * event loop in varying ways between its calls, so the calls of different callers interleave. Every call
 * takes a number from a shared counter at the moment it is made: that number is its place in call order.
 */
async function appendFromManyCallers(engine: SessionEngine, id: string): Promise<{ lengthByCall: number[] }> {
  let issued = 0;
  const lengthByCall = new Array<number>(TOTAL + 1).fill(0);
  const pending: Promise<void>[] = [];
  const caller = async (c: number): Promise<void> => {
    for (let k = 0; issued < TOTAL; k++) {
      const call = ++issued;
      const promise = engine.appendMessage(id, { role: 'user', content: String(call), timestamp: call }).then((length) => {
        lengthByCall[call] = length;
      });
      // Some calls are awaited, some are fired and left; the yields differ per caller.
      switch ((c + k) % 4) {
        case 0:
          await promise;
          break;
        case 1:
          pending.push(promise);
          await Promise.resolve();
          break;
        case 2:
          pending.push(promise);
          await new Promise((resolve) => setImmediate(resolve));
          break;
        default:
          pending.push(promise);
      }
      if (c % 7 === 0 && k % 13 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
  };
  await Promise.all(Array.from({ length: CALLERS }, (_, c) => caller(c)));
  await Promise.all(pending);
  return { lengthByCall };
}

describe('per-session ordering', () => {
  for (const options of [{ shards: 2 }, { shards: 3, maxBatchOps: 7 }]) {
    describe(`with ${JSON.stringify(options)}`, () => {
      it('applies 10 000 concurrent appends to one session in call order', async () => {
        await withEngine(options, async (engine) => {
          const id = await engine.create();
          await appendFromManyCallers(engine, id);
          const context = (await engine.get(id))!.context;
          expect(context).toHaveLength(TOTAL);
          const contents = context.map((message) => Number(message.content));
          expect(contents).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
        });
      });

      it('resolves the 10 000 concurrent appends with the lengths 1..10 000, in call order', async () => {
        await withEngine(options, async (engine) => {
          const id = await engine.create();
          const { lengthByCall } = await appendFromManyCallers(engine, id);
          expect(lengthByCall.slice(1)).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
        });
      });
    });
  }

  it('keeps each session in its own call order when appends to many sessions on all shards interleave', async () => {
    await withEngine({ shards: 3 }, async (engine) => {
      const ids = await Promise.all(Array.from({ length: 20 }, () => engine.create()));
      const expected = new Map(ids.map((id) => [id, [] as string[]]));
      const calls: Promise<number>[] = [];
      for (let round = 0; round < 200; round++) {
        for (const id of ids) {
          const content = `${round}`;
          expected.get(id)!.push(content);
          calls.push(engine.appendMessage(id, { role: round % 2 === 0 ? 'user' : 'assistant', content }));
        }
        if (round % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(calls);
      for (const id of ids) {
        expect((await engine.get(id))!.context.map((m) => m.content)).toEqual(expected.get(id));
      }
    });
  });

  it('answers every operation of a large mixed batch with its own result, failures included', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      const id = await engine.create();
      // Issued in one tick: one batch of 600 operations, answered in several chunks.
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < 600; i++) {
        if (i % 3 === 0) calls.push(settle(engine.appendMessage(id, { role: 'user', content: `${i}` })));
        else if (i % 3 === 1) calls.push(settle(engine.appendMessage(NEVER_ISSUED_ID, { role: 'user', content: 'lost' })));
        else calls.push(settle(engine.get(id)));
      }
      const outcomes = (await Promise.all(calls)) as Awaited<ReturnType<typeof settle<unknown>>>[];
      for (let i = 0; i < 600; i++) {
        const outcome = outcomes[i]!;
        const appendsSoFar = Math.floor(i / 3) + 1;
        if (i % 3 === 0) expect(outcome).toEqual({ ok: true, value: appendsSoFar });
        else if (i % 3 === 1) expect(!outcome.ok && codeOf(outcome.error)).toBe('ERR_SESSION_NOT_FOUND');
        else {
          expect(outcome.ok).toBe(true);
          const session = (outcome as { value: { context: { content: string }[] } }).value;
          expect(session.context).toHaveLength(appendsSoFar);
          expect(session.context.at(-1)!.content).toBe(`${i - 2}`);
        }
      }
    });
  });

  it('applies a get, update and remove issued after appends after those appends', async () => {
    await withEngine({ shards: 2 }, async (engine) => {
      const id = await engine.create();
      const appends = Array.from({ length: 500 }, (_, i) => engine.appendMessage(id, { role: 'user', content: `${i}` }));
      // Issued in the same tick, after the appends:
      const [, seen, , removed, late] = await Promise.all([
        Promise.all(appends),
        engine.get(id),
        engine.update(id, { mcpServers: ['after'] }),
        engine.remove(id),
        engine.appendMessage(id, { role: 'user', content: 'too late' }).catch((e: unknown) => e),
      ]);
      expect(seen!.context).toHaveLength(500);
      expect(removed).toMatchObject({ mcpServers: ['after'] });
      expect(removed!.context).toHaveLength(500);
      expect(late).toMatchObject({ code: 'ERR_SESSION_NOT_FOUND' });
    });
  });
});
