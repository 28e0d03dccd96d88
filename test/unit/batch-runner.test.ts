/**
 * The batch runner and the memory backend built in this thread, without a worker: the shard's side of the
 * protocol as a plain object. Batches go in as bytes, replies come out as bytes, as between the threads.
 */
import { valueSymbol } from 'piscina';
import { describe, expect, it } from 'vitest';
import { encode } from '../../src/protocol/codec.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { encodeMessageRecord } from '../../src/protocol/message-record.js';
import type { ShardConfig } from '../../src/protocol/messages.js';
import { OperationFailure } from '../../src/protocol/operation-failure.js';
import { OPS, type OpName, WHOLE_HISTORY } from '../../src/protocol/ops.js';
import { decodeReply } from '../../src/protocol/reply.js';
import type { OpHandlers, ShardBackend } from '../../src/shard/backend.js';
import { BatchRunner, ReplySequence } from '../../src/shard/batch-runner.js';
import { MemoryBackend } from '../../src/shard/memory/memory-backend.js';

const A = '01JD0000000000000000000001';
const B = '01JD0000000000000000000002';

const CONFIG: ShardConfig = {
  shard: 3,
  maxSessionAgeMs: 60_000,
  cleanupIntervalMs: 60_000,
  maxMessagesPerSession: 2,
  maxSessionBytes: 1_000_000,
  faultInjection: false,
  spin: { us: 0, board: new SharedArrayBuffer(4), spinners: 0 },
  replies: new SharedArrayBuffer(4),
  persistence: null,
};

/** One operation of a batch, written the way the host writes it. */
function op<K extends OpName>(name: K, id: string | null, args: Parameters<(typeof OPS)[K]['encodeArgs']>[0]): unknown[] {
  return [OPS[name].code, id, (OPS[name].encodeArgs as (a: unknown) => unknown)(args)];
}

function memoryRunner(): BatchRunner {
  const sequence = new ReplySequence();
  return new BatchRunner(new MemoryBackend(CONFIG, sequence, () => undefined), sequence);
}

/** The reply's bytes: the runner hands piscina a moved value. */
const bytesOf = (moved: unknown): Uint8Array => (moved as Record<symbol, Uint8Array>)[valueSymbol]!;

async function run(runner: BatchRunner, ...ops: unknown[][]): Promise<ReturnType<typeof decodeReply>> {
  return decodeReply(bytesOf(await runner.handle(encode(ops.flat()))));
}

const message = (content: string) => ({
  record: encodeMessageRecord({ id: `m-${content}`, role: 'user', content, timestamp: 1, metadata: null }),
  contentBytes: content.length,
});
const created = { capabilities: null, servers: [], cwd: null, title: null, owner: null, metadata: null };

describe('the batch runner over the memory backend', () => {
  it('applies a batch in order and answers each operation in its slot', async () => {
    const runner = memoryRunner();
    const reply = await run(runner, op('create', A, created), op('append', A, message('hi')), op('get', A, WHOLE_HISTORY), op('ping', null, null));
    expect(reply.errors).toBeNull();
    expect(reply.size).toBe(1);
    const [createdOk, length, session, shard] = reply.results as [boolean, number, { context: { id: string; content: string }[]; length: number }, number];
    expect([createdOk, length, shard]).toEqual([true, 1, 3]);
    expect(session.context.map((m) => [m.id, m.content])).toEqual([['m-hi', 'hi']]);
    expect(session.length).toBe(1);
  });

  it('fails one operation with its own code and leaves its neighbours answered', async () => {
    const runner = memoryRunner();
    const reply = await run(runner, op('create', A, created), op('append', B, message('nobody')), op('touch', A, null));
    expect(reply.errors).toEqual([1, ErrorCode.SESSION_NOT_FOUND, expect.stringContaining(B)]);
    expect(reply.results).toEqual([true, null, true]);
  });

  it('checks each argument with the op table: a malformed one fails its op, not the batch', async () => {
    const runner = memoryRunner();
    const reply = await run(runner, [OPS.get.code, A, 'all'], [99, null, null], op('size', null, null));
    expect(reply.errors).toEqual([0, ErrorCode.INVALID_ARGUMENT, 'lastMessages: not an integer', 1, ErrorCode.PROTOCOL, 'op: unknown operation 99']);
    expect(reply.results[2]).toBe(0);
  });

  it('refuses a batch it cannot decode as a whole, touching nothing', async () => {
    const runner = memoryRunner();
    const reply = decodeReply(bytesOf(await runner.handle(Uint8Array.of(0xc1))));
    expect(reply.errors?.slice(0, 2)).toEqual([-1, ErrorCode.PROTOCOL]);
  });

  it('reports figures as a named shape, read back by the op table', async () => {
    const runner = memoryRunner();
    const reply = await run(runner, op('create', A, created), op('stats', null, null));
    const figures = OPS.stats.readResult!(reply.results[1]);
    expect(figures).toMatchObject({ sessions: 1, messages: 0, lastSweepSliceMs: 0 });
    expect(figures.sessionBytes).toBeGreaterThan(0);
  });
});

/** A pipelined backend whose handlers answer as the test says. */
function pipelined(handlers: Partial<OpHandlers>, deadlineMs: number): ShardBackend {
  return {
    mode: 'pipelined',
    handlers: handlers as OpHandlers,
    ready: Promise.resolve(),
    deadlineMs,
    size: 0,
    failureOf: (error) => new OperationFailure(ErrorCode.STORE_UNAVAILABLE, `store: ${(error as Error).message}`),
    unanswered: () => new OperationFailure(ErrorCode.STORE_UNAVAILABLE, 'no answer'),
    batchStarted() {},
    chunkStarted() {},
    applied() {},
    drainExpired: () => null,
    batchEnded() {},
  };
}

describe('the batch runner over a pipelined backend', () => {
  it('starts every operation before any answers, and writes the answers in batch order', async () => {
    const started: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const backend = pipelined(
      {
        touch: async (id) => {
          started.push(id);
          await gate;
          return id === A;
        },
      },
      10_000,
    );
    const replying = new BatchRunner(backend, new ReplySequence()).handle(encode([...op('touch', A, null), ...op('touch', B, null)]));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(started).toEqual([A, B]);
    release();
    const reply = decodeReply(bytesOf(await replying));
    expect(reply.results).toEqual([true, false]);
  });

  it('fails what is unanswered at the deadline, and maps store errors through the backend', async () => {
    const backend = pipelined(
      {
        touch: (id) => (id === A ? new Promise<boolean>(() => {}) : Promise.reject(new Error('connection lost'))),
      },
      20,
    );
    const reply = decodeReply(bytesOf(await new BatchRunner(backend, new ReplySequence()).handle(encode([...op('touch', A, null), ...op('touch', B, null)]))));
    expect(reply.errors).toEqual([0, ErrorCode.STORE_UNAVAILABLE, 'no answer', 1, ErrorCode.STORE_UNAVAILABLE, 'store: connection lost']);
  });

  it('lets batches wait side by side, and sends their replies in the order the batches came', async () => {
    const order: string[] = [];
    let releaseFirst!: () => void;
    const first = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const backend = pipelined(
      {
        touch: async (id) => {
          if (id !== A) return false;
          await first;
          return true;
        },
      },
      10_000,
    );
    const runner = new BatchRunner(backend, new ReplySequence());
    const one = runner.handle(encode(op('touch', A, null))).then(() => order.push('A'));
    const two = runner.handle(encode(op('touch', B, null))).then(() => order.push('B'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(order).toEqual([]);
    releaseFirst();
    await Promise.all([one, two]);
    expect(order).toEqual(['A', 'B']);
  });

  it('bounds a batch by the deadline from when the host sent it, not from when the worker read it', async () => {
    const backend = pipelined({ touch: () => new Promise<boolean>(() => {}) }, 60_000);
    const started = performance.now();
    const reply = decodeReply(
      bytesOf(await new BatchRunner(backend, new ReplySequence()).handle({ batch: encode(op('touch', A, null)), sentAt: Date.now() - 59_950 })),
    );
    expect(reply.errors).toEqual([0, ErrorCode.STORE_UNAVAILABLE, 'no answer']);
    expect(performance.now() - started).toBeLessThan(30_000);
  });
});
