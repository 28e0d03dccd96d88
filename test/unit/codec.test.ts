import { beforeAll, describe, expect, it, vi } from 'vitest';
import type * as CodecModule from '../../src/protocol/codec.js';
import { SHARED_STRUCTURES } from '../../src/protocol/codec.js';
import { OPS } from '../../src/protocol/ops.js';

type Codec = typeof CodecModule;

/**
 * The main thread and each worker load the codec module separately. Two fresh module instances stand in
 * for the two sides: each has its own msgpackr state, as two threads would.
 */
let main: Codec;
let worker: Codec;

beforeAll(async () => {
  vi.resetModules();
  main = await import('../../src/protocol/codec.js');
  vi.resetModules();
  worker = await import('../../src/protocol/codec.js');
  expect(main).not.toBe(worker);
});

const ID = '01JD2Q3W4E5R6T7Y8Z9ABCDEFG';

function session(overrides: Record<string, unknown> = {}) {
  return {
    id: ID,
    createdAt: 1_764_000_000_000,
    lastAccessed: 1_764_000_000_123,
    context: [
      { role: 'user', content: 'hello', timestamp: 1_764_000_000_001 },
      { role: 'assistant', content: 'hi! 👋 こんにちは', timestamp: 1_764_000_000_002 },
      { role: 'system', content: '', timestamp: 0 },
    ],
    clientCapabilities: { fs: { readTextFile: true, writeTextFile: false }, terminal: true },
    mcpServers: ['filesystem', 'git'],
    ...overrides,
  };
}

/** Capabilities of many shapes: the ACP one, extra keys, nesting, arrays, odd keys and values. */
const CAPABILITY_SHAPES: unknown[] = [
  null,
  {},
  { terminal: false },
  { fs: {} },
  { fs: { readTextFile: true } },
  { fs: { writeTextFile: true, readTextFile: false }, terminal: true },
  { terminal: true, fs: { readTextFile: true, writeTextFile: true } },
  { _meta: { vendor: 'acme', version: 3 } },
  { experimental: { a: [1, 2, { b: [null, true, 'x'] }], c: -0.5 } },
  { 'key with spaces': 1, ключ: 'значение', '🔑': '🔒', '': 'empty key' },
  { '0': 'zero', '1': 'one', length: 2 },
  { nested: { deeper: { deepest: { value: Number.MAX_SAFE_INTEGER, negative: -Number.MAX_SAFE_INTEGER } } } },
  { floats: [0.1, 1e-300, 1.7976931348623157e308, -123.456] },
  { big: 2 ** 40, small: -(2 ** 40), byte: 255, negByte: -128 },
  { long: 'x'.repeat(70_000) },
  { many: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i])) },
  { list: Array.from({ length: 1_000 }, (_, i) => ({ i, even: i % 2 === 0 })) },
  { role: 'user', content: 'looks like a message', timestamp: 1 },
  { id: 'looks like a session', createdAt: 1, lastAccessed: 2, context: [], clientCapabilities: null, mcpServers: [] },
];

/** Everything the wire carries: batches of ops and replies, with sessions and messages inside. */
function wireShapes(): unknown[] {
  const shapes: unknown[] = [];
  for (const capabilities of CAPABILITY_SHAPES) {
    shapes.push([OPS.create.code, ID, [capabilities, ['a', 'b']]]);
    shapes.push([OPS.update.code, ID, [true, capabilities, false, []]]);
    shapes.push([[session({ clientCapabilities: capabilities })], null, null, 7, 1]);
    shapes.push(capabilities);
  }
  shapes.push([OPS.append.code, ID, { role: 'user', content: 'x', timestamp: 1 }, OPS.get.code, ID, -1, OPS.list.code, null, 10]);
  shapes.push([[1, null, [ID, ID]], [1, 'ERR_SESSION_NOT_FOUND', 'no session'], [ID], 99, 12]);
  shapes.push([[session(), session({ context: [] }), null, 3, true], null, null, 1, 0]);
  shapes.push([OPS.ping.code, null, null]);
  shapes.push([]);
  return shapes;
}

describe('codec', () => {
  it('shares a frozen structure table for sessions and messages', () => {
    expect(Object.isFrozen(SHARED_STRUCTURES)).toBe(true);
    expect(SHARED_STRUCTURES[0]).toEqual(['id', 'createdAt', 'lastAccessed', 'context', 'clientCapabilities', 'mcpServers']);
    expect(SHARED_STRUCTURES[1]).toEqual(['role', 'content', 'timestamp']);
  });

  it('round-trips a session with its messages', () => {
    const value = session();
    expect(worker.decode(main.encode(value))).toEqual(value);
  });

  it('round-trips a session with an empty context, null capabilities and no servers', () => {
    const value = session({ context: [], clientCapabilities: null, mcpServers: [] });
    expect(worker.decode(main.encode(value))).toEqual(value);
  });

  it('round-trips a message', () => {
    const value = { role: 'assistant', content: 'answer', timestamp: 1_764_000_000_000 };
    expect(worker.decode(main.encode(value))).toEqual(value);
  });

  it.each(CAPABILITY_SHAPES.map((shape, i) => [i, shape]))('round-trips capabilities shape #%i inside a session', (_i, capabilities) => {
    const value = session({ clientCapabilities: capabilities });
    expect(worker.decode(main.encode(value))).toEqual(value);
  });

  it('round-trips message contents of every length class and odd characters', () => {
    const contents = [
      '',
      'a',
      'é',
      '€',
      '😀',
      '\u0000',
      'x'.repeat(31),
      'x'.repeat(32),
      'é'.repeat(255),
      'x'.repeat(256),
      'ü'.repeat(65_536),
      '😀'.repeat(100_000),
      'line\nbreak\ttab\r\n',
    ];
    for (const content of contents) {
      const value = { role: 'user', content, timestamp: 5 };
      expect(worker.decode(main.encode(value))).toEqual(value);
    }
  });

  it('round-trips timestamps and numbers exactly (ms since epoch, zero, fractions, extremes)', () => {
    for (const timestamp of [0, 1, 1_764_000_000_000, 2 ** 48 - 1, Number.MAX_SAFE_INTEGER, 0.5, 1_764_000_000_000.25]) {
      const value = { role: 'user', content: 'x', timestamp };
      expect(worker.decode(main.encode(value))).toEqual(value);
    }
  });

  it('encodes into a fresh buffer that later encodes never overwrite (it may be transferred)', () => {
    const first = main.encode(session());
    const copy = first.slice();
    for (let i = 0; i < 100; i++) main.encode(session({ mcpServers: [`s${i}`] }));
    expect(first).toEqual(copy);
    expect(first.byteOffset).toBe(0);
    expect(first.buffer.byteLength).toBe(first.byteLength);
  });

  it('keeps the two sides in step after many varied shapes, in both directions', () => {
    const shapes = wireShapes();
    for (let round = 0; round < 20; round++) {
      for (const shape of shapes) {
        expect(worker.decode(main.encode(shape))).toEqual(shape);
        expect(main.decode(worker.encode(shape))).toEqual(shape);
      }
      // Shapes first seen late must not shift what was learnt early.
      shapes.push({ [`late${round}`]: round, nested: { [`k${round}`]: [round] } });
    }
  });

  it('decodes a buffer made before many other shapes were encoded, on a side that has seen other shapes', () => {
    const early = main.encode(session({ clientCapabilities: { early: true } }));
    for (const shape of wireShapes()) {
      main.encode(shape);
      worker.decode(worker.encode(shape));
    }
    expect(worker.decode(early)).toEqual(session({ clientCapabilities: { early: true } }));
  });

  it('decodes maps as plain objects, never as Map', () => {
    const decoded = worker.decode(main.encode({ a: { b: 1 } })) as { a: unknown };
    expect(decoded.a).not.toBeInstanceOf(Map);
    expect(Object.getPrototypeOf(decoded.a)).toBe(Object.prototype);
  });

  it('throws on truncated input instead of returning garbage', () => {
    const whole = main.encode(session());
    expect(() => worker.decode(whole.subarray(0, whole.length - 3))).toThrow();
    expect(() => worker.decode(new Uint8Array([0xdc, 0xff]))).toThrow();
  });
});
