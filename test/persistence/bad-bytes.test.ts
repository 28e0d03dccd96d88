/**
 * Bad bytes fed straight to a real shard worker's batch decoder: random bytes and mutated valid batches
 * never crash or hang it, and each gets a reply with typed errors; the worker answers a ping afterwards.
 */
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Piscina } from 'piscina';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../dist/src/index.js';
import { encode } from '../../dist/src/protocol/codec.js';
import type { ShardConfig } from '../../dist/src/protocol/messages.js';
import { OPS } from '../../dist/src/protocol/ops.js';
import { decodeReply } from '../../dist/src/protocol/reply.js';

const WORKER = fileURLToPath(new URL('../../dist/src/shard/memory/worker.js', import.meta.url));
const CODES = new Set<unknown>(Object.values(ErrorCode));
const ID = '01JD0000000000000000000000';

/** Valid batches of every op, to mutate. */
const VALID: Uint8Array[] = [
  encode([OPS.create.code, ID, [null, []], OPS.append.code, ID, { role: 'user', content: 'hello', timestamp: 1 }, OPS.get.code, ID, -1]),
  encode([OPS.update.code, ID, [true, { fs: { readTextFile: true } }, false, null], OPS.touch.code, ID, null, OPS.list.code, null, -1]),
  encode([OPS.remove.code, ID, null, OPS.size.code, null, null, OPS.stats.code, null, null, OPS.sweep.code, null, null]),
];

describe("a shard worker's batch decoder", () => {
  let pool: Piscina;
  beforeAll(() => {
    pool = new Piscina({
      filename: WORKER,
      minThreads: 1,
      maxThreads: 1,
      atomics: 'disabled',
      workerData: {
        shard: 0,
        maxSessionAgeMs: 60_000,
        cleanupIntervalMs: 60_000,
        maxMessagesPerSession: 100,
        maxSessionBytes: 1_000_000,
        faultInjection: false,
        spin: { us: 0, board: new SharedArrayBuffer(4), spinners: 0 },
        replies: new SharedArrayBuffer(4),
        persistence: null,
      } satisfies ShardConfig,
    });
  });
  afterAll(() => pool.destroy());

  async function feed(bytes: Uint8Array): Promise<void> {
    const copy = new Uint8Array(bytes);
    // A hang would hit this bound (and fail the run) instead of the test's timeout.
    const reply = decodeReply(await pool.run(copy, { transferList: [copy.buffer], signal: AbortSignal.timeout(10_000) }));
    const errors = reply.errors ?? [];
    for (let i = 0; i < errors.length; i += 3) {
      expect(typeof errors[i]).toBe('number');
      expect(CODES.has(errors[i + 1])).toBe(true);
      expect(typeof errors[i + 2]).toBe('string');
    }
  }

  it('survives random bytes', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), feed), { numRuns: 300 });
    await feed(encode([OPS.ping.code, null, null]));
  }, 60_000);

  it('survives mutated valid batches: flipped, cut, inserted and deleted bytes', async () => {
    const mutated = fc
      .tuple(
        fc.constantFrom(...VALID),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      )
      .map(([batch, edits]) => {
        let bytes = [...batch];
        for (const [at, kind, value] of edits) {
          const i = at % Math.max(1, bytes.length);
          if (kind === 0) bytes[i] = value;
          else if (kind === 1) bytes = bytes.slice(0, i);
          else if (kind === 2) bytes.splice(i, 0, value);
          else bytes.splice(i, 1);
        }
        return Uint8Array.from(bytes);
      });
    await fc.assert(fc.asyncProperty(mutated, feed), { numRuns: 500 });
    const reply = decodeReply(await pool.run(encode([OPS.ping.code, null, null])));
    expect(reply.results).toEqual([0]);
  }, 60_000);

  it('refuses what is not a batch as a whole, with ERR_PROTOCOL', async () => {
    for (const bytes of [new Uint8Array(0), Uint8Array.of(0xc1), encode({ not: 'a batch' }), encode([1, 2])]) {
      const copy = new Uint8Array(bytes);
      const reply = decodeReply(await pool.run(copy, { transferList: [copy.buffer] }));
      expect(reply.errors?.slice(0, 2)).toEqual([-1, 'ERR_PROTOCOL']);
    }
  });
});
