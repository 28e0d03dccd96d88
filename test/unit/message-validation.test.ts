/**
 * Structured messages as the caller's thread checks them: JSON read once into a copy, the part types
 * hosts use with their required fields, unknown fields refused with the field named.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, LimitExceededError } from '../../src/main/errors.js';
import { checkJson, MAX_JSON_DEPTH, readJson } from '../../src/main/json-data.js';
import { checkMessage } from '../../src/main/validation.js';
import { JsonText } from '../../src/protocol/message-record.js';
import { checkStructuredMessage } from '../../src/main/message-validation.js';

/** Arbitrary JSON within the limits: well-formed strings, finite numbers, no `__proto__` keys. */
const json = fc.jsonValue({ maxDepth: 6 }).filter((value) => !JSON.stringify(value).includes('"__proto__"'));

function refused(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('reading JSON data once', () => {
  it('copies any JSON value deep-equal to what was given, never the same objects', () => {
    fc.assert(
      fc.property(json, (value) => {
        const copy = readJson(value, 'x');
        expect(JSON.parse(JSON.stringify(copy))).toEqual(JSON.parse(JSON.stringify(value)));
        if (typeof value === 'object' && value !== null) expect(copy).not.toBe(value);
      }),
      { numRuns: 300 },
    );
  });

  // The engine checks in place what it serialises at once (`checkJson`); stores that keep objects copy (`readJson`).
  for (const [walk, read] of [
    ['readJson', readJson],
    ['checkJson', checkJson],
  ] as const) {
    describe(walk, () => {
      it('refuses what JSON cannot hold, naming the path', () => {
        expect(refused(() => read({ a: [1, undefined] }, 'm'))).toContain('m.a[1]');
        expect(refused(() => read({ f: () => 1 }, 'm'))).toContain('m.f must be JSON data');
        expect(refused(() => read({ s: Symbol('x') }, 'm'))).toContain('m.s');
        expect(refused(() => read({ n: Number.NaN }, 'm'))).toContain('m.n must be a finite number');
        expect(refused(() => read({ n: Infinity }, 'm'))).toContain('finite');
        expect(refused(() => read({ b: 1n }, 'm'))).toContain('m.b');
        expect(refused(() => read({ d: new Date(0) }, 'm'))).toContain('an instance of Date');
        expect(refused(() => read({ m: new Map() }, 'm'))).toContain('an instance of Map');
        expect(refused(() => read({ t: 'a\ud800b' }, 'm'))).toContain('well-formed Unicode');
        expect(refused(() => read(JSON.parse('{"__proto__": {"x": 1}}'), 'm'))).toContain('"__proto__"');
      });

      it('refuses cycles and nesting past the depth bound', () => {
        const cycle: Record<string, unknown> = {};
        cycle.self = cycle;
        expect(refused(() => read(cycle, 'm'))).toContain('deeper than');
        let deep: unknown = 1;
        for (let i = 0; i < MAX_JSON_DEPTH; i++) deep = [deep];
        expect(() => read(deep, 'm')).not.toThrow();
        expect(refused(() => read([deep], 'm'))).toContain('deeper than');
      });

      it('refuses getters and Proxies, naming the path', () => {
        expect(
          refused(() =>
            read(
              {
                a: [
                  {
                    get g() {
                      return 1;
                    },
                  },
                ],
              },
              'm',
            ),
          ),
        ).toContain('m.a[0].g must be a data property');
        const array = [1, 2];
        Object.defineProperty(array, 1, { get: () => 2, enumerable: true });
        expect(refused(() => read({ list: array }, 'm'))).toContain('m.list[1] must be a data property');
        expect(refused(() => read({ p: new Proxy([], {}) }, 'm'))).toContain('m.p must be plain data, got a Proxy');
      });
    });
  }

  it('checks in place without copying: the same objects, nothing written to them', () => {
    fc.assert(
      fc.property(json, (value) => {
        const before = JSON.stringify(value);
        expect(checkJson(value, 'x')).toBeUndefined();
        expect(JSON.stringify(value)).toBe(before);
      }),
      { numRuns: 200 },
    );
  });

  it('reads every property once, refuses getters and Proxies, and keeps what it read', () => {
    let reads = 0;
    const tricky = {
      get flips() {
        return ++reads === 1 ? 'checked' : { evil: true };
      },
    };
    expect(refused(() => readJson(tricky, 'm'))).toContain('getter or setter');
    expect(refused(() => readJson(new Proxy({}, {}), 'm'))).toContain('Proxy');
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(refused(() => readJson({ p: proxy }, 'm'))).toContain('m.p must be plain data, got a Proxy');
    const given = { a: { b: [1, 2] } };
    const copy = readJson(given, 'm') as { a: { b: number[] } };
    given.a.b.push(3);
    expect(copy.a.b).toEqual([1, 2]);
  });

  it('keeps keys that look like methods as plain data', () => {
    const copy = readJson({ constructor: 'x', toJSON: 1, hasOwnProperty: true }, 'm');
    expect(JSON.parse(JSON.stringify(copy))).toEqual({ constructor: 'x', toJSON: 1, hasOwnProperty: true });
  });
});

describe('a structured message', () => {
  const text = { type: 'text', text: 'hi' };

  it('keeps a string content a string, and parts as given', () => {
    expect(checkStructuredMessage({ role: 'user', content: 'hello' }).content).toBe('hello');
    const parts = [
      text,
      { type: 'image', mimeType: 'image/png', data: 'iVBORw0KGgo=' },
      { type: 'audio', mimeType: 'audio/wav', uri: 'https://example.com/a.wav' },
      { type: 'resource_link', uri: 'file:///a.ts', name: 'a.ts', size: 12 },
      { type: 'resource', resource: { uri: 'file:///a.ts', text: 'export {}', mimeType: 'text/x-typescript' } },
      { type: 'tool_call', toolCallId: 'call_1', name: 'read_file', input: { path: 'a.ts' } },
      { type: 'tool_result', toolCallId: 'call_1', output: [{ type: 'text', text: 'export {}' }], isError: false },
      { type: 'thought', text: 'The file exports nothing.' },
      { type: 'x-vendor-part', anything: [1, { nested: null }] },
    ];
    const checked = checkStructuredMessage({ id: 'm-1', role: 'assistant', content: parts, timestamp: 5, metadata: { model: 'gpt', usage: { input: 3 } } });
    expect(JSON.parse(JSON.stringify(checked.content))).toEqual(parts);
    expect(checked.id).toBe('m-1');
    expect(JSON.parse(JSON.stringify(checked.metadata))).toEqual({ model: 'gpt', usage: { input: 3 } });
  });

  it('refuses unknown fields instead of dropping them', () => {
    expect(refused(() => checkStructuredMessage({ role: 'user', content: 'x', toolCalls: [] }))).toBe(
      'message.toolCalls is not a message field (id, role, content, timestamp, metadata)',
    );
  });

  it('refuses each invalid shape with the field named', () => {
    const cases: [unknown, string][] = [
      [{ role: 'user', content: 'x', id: '' }, 'message.id'],
      [{ role: 'user', content: 'x', id: 'é' }, 'message.id'],
      [{ role: 'user', content: 'x', id: 'a'.repeat(129) }, 'message.id'],
      [{ role: 'robot', content: 'x' }, 'message.role'],
      [{ role: 'user', content: 3 }, 'message.content'],
      [{ role: 'user', content: [3] }, 'message.content[0]'],
      [{ role: 'user', content: [{ text: 'no type' }] }, 'message.content[0].type'],
      [{ role: 'user', content: [{ type: '' }] }, 'message.content[0].type'],
      [{ role: 'user', content: [{ type: 'x'.repeat(65) }] }, 'message.content[0].type'],
      [{ role: 'user', content: [{ type: 'text' }] }, 'message.content[0].text'],
      [{ role: 'user', content: [{ type: 'image', mimeType: 'image/png' }] }, 'message.content[0] needs data'],
      [{ role: 'user', content: [{ type: 'resource_link', uri: 'u' }] }, 'message.content[0].name'],
      [{ role: 'user', content: [{ type: 'resource', resource: { uri: 'u' } }] }, 'message.content[0].resource needs text or blob'],
      [{ role: 'user', content: [{ type: 'tool_call', toolCallId: 'c', name: 'n' }] }, 'message.content[0].input is required'],
      [{ role: 'user', content: [{ type: 'tool_result', toolCallId: 'c', output: 1, isError: 'no' }] }, 'message.content[0].isError'],
      [{ role: 'user', content: 'x', timestamp: -1 }, 'message.timestamp'],
      [{ role: 'user', content: 'x', metadata: [] }, 'message.metadata must be a plain object'],
      [{ role: 'user', content: 'x', metadata: { a: undefined } }, 'message.metadata.a'],
    ];
    for (const [value, field] of cases) expect(refused(() => checkStructuredMessage(value))).toContain(field);
  });
});

describe('a message checked in place and serialised at once', () => {
  const message = { role: 'assistant', content: [{ type: 'tool_call', toolCallId: 'c1', name: 'read', input: { path: '/a' } }], metadata: { model: 'm' } };

  it('is serialised from what was checked', () => {
    const checked = checkMessage(message, 1_048_576);
    expect(checked.content).toBeInstanceOf(JsonText);
    expect(JSON.parse((checked.content as JsonText).text)).toEqual(message.content);
    expect(JSON.parse(checked.metadata!.text)).toEqual(message.metadata);
  });

  it('is copied first when a prototype was given a toJSON, which JSON.stringify would call', () => {
    const calls: unknown[] = [];
    Object.defineProperty(Object.prototype, 'toJSON', {
      configurable: true,
      value(this: unknown) {
        calls.push(this);
        return { replaced: true };
      },
    });
    try {
      const checked = checkMessage(message, 1_048_576);
      // The copies have no prototype: the polluted toJSON is never called, and what is stored is what was checked.
      expect(calls).toEqual([]);
      expect(JSON.parse((checked.content as JsonText).text)).toEqual(message.content);
    } finally {
      delete (Object.prototype as { toJSON?: unknown }).toJSON;
    }
  });
});

describe('a message far past maxMessageBytes', () => {
  it('is refused as soon as its walk passes the limit, before the rest is read or serialised', () => {
    // A function past the limit would be refused as invalid data if the walk went on to it.
    const numbers: unknown[] = Array.from({ length: 2_000 }, (_, i) => i);
    numbers.push(() => 'never read');
    const message = { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'c1', output: numbers }] };
    let error: unknown;
    try {
      checkMessage(message, 1_000);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(LimitExceededError);
    expect((error as Error).message).toMatch(/^message is at least \d+ bytes of content and metadata, over maxMessageBytes \(1000\)$/);
    // Within the limit, the same walk reads everything and refuses the function, naming it.
    expect(refused(() => checkMessage(message, 1_000_000))).toContain('message.content[0].output[2000] must be JSON data');
  });
});
