import { beforeAll, describe, expect, it, vi } from 'vitest';
import type * as BatchWriterModule from '../../src/protocol/batch-writer.js';
import type * as CodecModule from '../../src/protocol/codec.js';
import { checkMessageRecord, encodeMessageRecord, JsonText } from '../../src/protocol/message-record.js';
import { OP_STRIDE, OPS } from '../../src/protocol/ops.js';

/** The host's writer and the worker's codec load as separate module instances, as on two threads. */
let host: typeof BatchWriterModule;
let worker: typeof CodecModule;

beforeAll(async () => {
  vi.resetModules();
  host = await import('../../src/protocol/batch-writer.js');
  vi.resetModules();
  worker = await import('../../src/protocol/codec.js');
});

const ID = '01JD2Q3W4E5R6T7Y8Z9ABCDEFG';

/** The batch as the worker reads it: triples, with each APPEND's record checked and decoded. */
function read(bytes: Uint8Array): unknown[][] {
  const flat = worker.decode(bytes) as unknown[];
  const ops: unknown[][] = [];
  for (let i = 0; i < flat.length; i += OP_STRIDE) {
    const [op, id, arg] = flat.slice(i, i + OP_STRIDE);
    if (op === OPS.append.code) {
      expect(arg).toBeInstanceOf(Uint8Array);
      expect(checkMessageRecord(arg as Uint8Array)).toBeGreaterThanOrEqual(0);
      ops.push([op, id, worker.decode(arg as Uint8Array)]);
    } else {
      ops.push([op, id, arg]);
    }
  }
  return ops;
}

describe('a batch written op by op on the host', () => {
  it('decodes on the worker side to the ops written, in order, whatever their arguments', () => {
    const batch = new host.BatchWriter(100);
    // Capabilities of different shapes: each is a record defined inline by its own encoding.
    const expected: unknown[][] = [
      [OPS.create.code, ID, [{ fs: { readTextFile: true, writeTextFile: false }, terminal: true }, ['git'], '/w', 'a title', null]],
      [OPS.append.code, ID, { id: 'm1', role: 'user', content: 'hello', timestamp: 1 }],
      [OPS.create.code, ID, [{ terminal: false, _meta: { x: [1, { y: 2 }] } }, [], null, null, 'owner']],
      [OPS.get.code, ID, -1],
      [OPS.get.code, ID, 5],
      [OPS.append.code, ID, { id: 'm2', role: 'assistant', content: 'é'.repeat(300), timestamp: 1_764_000_000_000.5 }],
      [OPS.create.code, ID, [{ fs: { readTextFile: false, writeTextFile: true }, terminal: true }, [], null, null, null]],
      [OPS.touch.code, ID, null],
      [OPS.append.code, ID, { id: `m3-${'x'.repeat(120)}`, role: 'system', content: 'z'.repeat(70_000), timestamp: 0 }],
      [OPS.update.code, ID, [true, null, false, [], true, '/x', false, null, false, null]],
      [OPS.list.code, null, [10, false, null, null]],
      [OPS.size.code, null, null],
    ];
    for (const [op, id, arg] of expected) {
      if (op === OPS.append.code) {
        const { id: messageId, role, content, timestamp } = arg as { id: string; role: 'user'; content: string; timestamp: number };
        batch.addAppend(id as string, messageId, role, content, timestamp);
      } else {
        batch.add(op as number, id as string | null, arg);
      }
    }
    const taken = batch.take()!;
    expect(taken.ops).toBe(expected.length);
    expect(read(taken.bytes)).toEqual(expected);
  });

  it('writes the messages of appendMany and splice straight into the batch, as their encodeArgs lay them out', () => {
    const messages = [
      { id: 'a', role: 'user' as const, content: 'plain', timestamp: 1, metadata: null },
      { id: 'b', role: 'assistant' as const, content: new JsonText('[{"type":"text","text":"é"}]'), timestamp: 2, metadata: new JsonText('{"model":"m"}') },
      { id: 'c'.repeat(128), role: 'tool' as const, content: Buffer.from(`[{"type":"text","text":"${'x'.repeat(70_000)}"}]`), timestamp: 3.5, metadata: null },
      { id: 'd', role: 'system' as const, content: 'ü'.repeat(40), timestamp: 0, metadata: Buffer.from('{}') },
    ];
    const direct = new host.BatchWriter(100);
    direct.addMessages(OPS.appendMany.code, ID, [messages, [true, false, true, false], -1]);
    direct.addMessages(OPS.splice.code, ID, [-3, 2, messages.slice(1, 2), 7]);
    const encoded = new host.BatchWriter(100);
    const records = messages.map(encodeMessageRecord);
    encoded.add(OPS.appendMany.code, ID, OPS.appendMany.encodeArgs({ records, stamped: [true, false, true, false], ifLength: -1 }));
    encoded.add(OPS.splice.code, ID, OPS.splice.encodeArgs({ start: -3, deleteCount: 2, records: records.slice(1, 2), ifLength: 7 }));
    const [appendMany, splice] = read(direct.take()!.bytes);
    expect([appendMany, splice]).toEqual(read(encoded.take()!.bytes));
    expect(OPS.appendMany.decodeArgs(appendMany![2]).records.map((record) => Buffer.from(record))).toEqual(records.map((record) => Buffer.from(record)));
  });

  it('seals a batch at maxOps and hands batches out oldest first', () => {
    const batch = new host.BatchWriter(3);
    for (let n = 0; n < 7; n++) batch.add(OPS.get.code, ID, n);
    expect(batch.pendingOps).toBe(7);
    const sizes: number[] = [];
    const firsts: unknown[] = [];
    for (let taken = batch.take(); taken !== null; taken = batch.take()) {
      sizes.push(taken.ops);
      firsts.push(read(taken.bytes)[0]![2]);
    }
    expect(sizes).toEqual([3, 3, 1]);
    expect(firsts).toEqual([0, 3, 6]);
    expect(batch.pendingOps).toBe(0);
  });

  it('writes nothing for an argument the codec cannot encode, and goes on', () => {
    const batch = new host.BatchWriter(10);
    batch.add(OPS.get.code, ID, 1);
    expect(() => batch.add(OPS.create.code, ID, [Symbol('no')])).toThrow();
    batch.add(OPS.get.code, ID, 2);
    const taken = batch.take()!;
    expect(taken.ops).toBe(2);
    expect(read(taken.bytes)).toEqual([
      [OPS.get.code, ID, 1],
      [OPS.get.code, ID, 2],
    ]);
  });

  it('drops everything written when cleared', () => {
    const batch = new host.BatchWriter(2);
    for (let n = 0; n < 5; n++) batch.addAppend(ID, `m${n}`, 'user', 'x', n);
    batch.clear();
    expect(batch.pendingOps).toBe(0);
    expect(batch.take()).toBeNull();
    batch.add(OPS.size.code, null, null);
    expect(read(batch.take()!.bytes)).toEqual([[OPS.size.code, null, null]]);
  });

  it('leaves the batch as it was when an operation does not fit the buffer, and goes on', () => {
    const batch = new host.BatchWriter(10, 1_024 * 1_024);
    batch.add(OPS.get.code, ID, 1);
    batch.addAppend(ID, 'm1', 'user', 'small', 1);
    // Needs about 3 MiB of room (3 bytes a UTF-16 unit): more than the writer may take.
    expect(() => batch.addAppend(ID, 'm2', 'user', 'x'.repeat(1_048_576), 2)).toThrow(RangeError);
    expect(() => batch.add(OPS.create.code, ID, [null, ['y'.repeat(1_100_000)], null, null, null])).toThrow(RangeError);
    batch.add(OPS.get.code, ID, 2);
    const taken = batch.take()!;
    expect(taken.ops).toBe(3);
    expect(read(taken.bytes)).toEqual([
      [OPS.get.code, ID, 1],
      [OPS.append.code, ID, { id: 'm1', role: 'user', content: 'small', timestamp: 1 }],
      [OPS.get.code, ID, 2],
    ]);
    expect(batch.take()).toBeNull();
  });

  it('seals a batch at MAX_BATCH_BYTES: a large operation goes out in a batch of its own', () => {
    const batch = new host.BatchWriter(1_000);
    const large = 'L'.repeat(host.MAX_BATCH_BYTES / 2);
    batch.add(OPS.get.code, ID, 1);
    batch.addAppend(ID, 'm1', 'user', large, 1);
    batch.addAppend(ID, 'm2', 'user', large, 2);
    batch.add(OPS.create.code, ID, [null, [large], null, null, null]);
    batch.add(OPS.get.code, ID, 2);
    expect(batch.pendingOps).toBe(5);
    const sizes: number[] = [];
    const ops: unknown[][] = [];
    for (let taken = batch.take(); taken !== null; taken = batch.take()) {
      expect(taken.bytes.length).toBeLessThanOrEqual(host.MAX_BATCH_BYTES * 2);
      sizes.push(taken.ops);
      ops.push(...read(taken.bytes));
    }
    expect(batch.pendingOps).toBe(0);
    expect(sizes.length).toBeGreaterThanOrEqual(3);
    expect(sizes.reduce((a, b) => a + b)).toBe(5);
    expect(ops.map((op) => (op[2] !== null && typeof op[2] === 'object' && 'timestamp' in op[2] ? op[2].timestamp : op[0]))).toEqual([
      OPS.get.code,
      1,
      2,
      OPS.create.code,
      OPS.get.code,
    ]);
  });

  it('gives its buffer back after a burst of large operations', () => {
    const batch = new host.BatchWriter(1_000);
    const idle = batch.bufferBytes;
    for (let n = 0; n < 20; n++) batch.addAppend(ID, `m${n}`, 'user', 'B'.repeat(3_000_000), n);
    expect(batch.bufferBytes).toBeGreaterThan(idle);
    let taken = 0;
    for (let sealed = batch.take(); sealed !== null; sealed = batch.take()) taken += sealed.ops;
    expect(taken).toBe(20);
    batch.add(OPS.get.code, ID, 1);
    expect(batch.bufferBytes).toBeLessThanOrEqual(host.MAX_BATCH_BYTES * 2);
    expect(read(batch.take()!.bytes)).toEqual([[OPS.get.code, ID, 1]]);
  });
});
