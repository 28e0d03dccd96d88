import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, InvalidSessionIdError, SessionEngine, shardFor, type Session } from '../../dist/src/index.js';
import { codeOf } from '../helpers/engine.js';

const SHARDS = 2;
const VALID = '01JD2Q3W4E5R6T7Y8Z9ABCDEFG';

const BAD_IDS: [string, unknown][] = [
  ['a number', 12345],
  ['undefined', undefined],
  ['null', null],
  ['an object', { id: VALID }],
  ['an empty string', ''],
  ['25 characters', VALID.slice(0, 25)],
  ['27 characters', `${VALID}A`],
  ['lowercase', VALID.toLowerCase()],
  ['an I', `${VALID.slice(0, 25)}I`],
  ['an L', `${VALID.slice(0, 25)}L`],
  ['an O', `${VALID.slice(0, 25)}O`],
  ['a U', `${VALID.slice(0, 25)}U`],
  ['a first character above 7', `8${VALID.slice(1)}`],
];

/** Capabilities nested `depth` levels deep. */
function nested(depth: number): Record<string, unknown> {
  let node: Record<string, unknown> = { leaf: true };
  for (let i = 1; i < depth; i++) node = { down: node };
  return node;
}

function circular(): Record<string, unknown> {
  const node: Record<string, unknown> = { terminal: true };
  node.self = node;
  return node;
}

/** What must not change about a session when somebody else's call fails. */
function essence(session: Session | undefined) {
  if (session === undefined) return undefined;
  const { id, createdAt, context, clientCapabilities, mcpServers } = session;
  return { id, createdAt, context, clientCapabilities, mcpServers };
}

describe('bad input', () => {
  let engine: SessionEngine;
  /** Sessions on both shards, each with messages and fields; `victim` is the one bad calls aim at. */
  let sessions: string[];
  let victim: string;
  let before: Map<string, ReturnType<typeof essence>>;

  beforeAll(async () => {
    engine = await SessionEngine.start({ shards: SHARDS, maxMessageBytes: 1_000 });
    sessions = [];
    for (let i = 0; i < 12; i++) {
      const id = await engine.create({ clientCapabilities: { terminal: i % 2 === 0, fs: { readTextFile: true } }, mcpServers: [`server-${i}`] });
      for (let m = 0; m < 3; m++) await engine.appendMessage(id, { role: 'user', content: `${i}:${m}` });
      sessions.push(id);
    }
    victim = sessions[0]!;
    // Precondition: the victim shares its shard with other sessions.
    expect(sessions.filter((id) => shardFor(id, SHARDS) === shardFor(victim, SHARDS)).length).toBeGreaterThan(1);
    before = new Map();
    for (const id of sessions) before.set(id, essence(await engine.get(id)));
  });

  afterAll(async () => {
    await engine.close();
  });

  /** Every session, the victim's shard-mates included, is exactly as it was. */
  async function expectAllIntact(): Promise<void> {
    for (const id of sessions) expect(essence(await engine.get(id))).toEqual(before.get(id));
    expect(await engine.size()).toBe(sessions.length);
  }

  async function expectRejection(call: () => Promise<unknown>, code: string, ErrorClass?: abstract new (...args: never[]) => Error): Promise<Error> {
    const error = await call().then(
      () => {
        throw new Error('the call resolved; it should have rejected');
      },
      (e: unknown) => e as Error,
    );
    expect(codeOf(error)).toBe(code);
    if (ErrorClass !== undefined) expect(error).toBeInstanceOf(ErrorClass);
    await expectAllIntact();
    return error;
  }

  describe('session ids', () => {
    const calls: [string, (id: unknown) => Promise<unknown>][] = [
      ['get', (id) => engine.get(id as string)],
      ['appendMessage', (id) => engine.appendMessage(id as string, { role: 'user', content: 'x' })],
      ['update', (id) => engine.update(id as string, { mcpServers: [] })],
      ['touch', (id) => engine.touch(id as string)],
      ['remove', (id) => engine.remove(id as string)],
      ['list({ after })', (id) => engine.list({ after: id as string })],
    ];
    for (const [method, call] of calls) {
      it.each(BAD_IDS.filter(([what]) => method !== 'list({ after })' || what !== 'undefined'))(
        `${method} rejects %s with ERR_INVALID_SESSION_ID and changes nothing`,
        async (_what, id) => {
          await expectRejection(() => call(id), 'ERR_INVALID_SESSION_ID', InvalidSessionIdError);
        },
      );
    }

    it('the rejection message names the id field', async () => {
      const error = await expectRejection(() => engine.get('nope'), 'ERR_INVALID_SESSION_ID');
      expect(error.message).toContain('id');
      expect(error.message).toContain('"nope"');
    });
  });

  describe('appendMessage arguments', () => {
    it.each([
      ['an unknown role', { role: 'developer', content: 'x' }],
      ['a capitalised role', { role: 'User', content: 'x' }],
      ['an empty role', { role: '', content: 'x' }],
      ['a missing role', { content: 'x' }],
      ['a numeric role', { role: 0, content: 'x' }],
    ])('rejects %s with ERR_INVALID_ARGUMENT naming message.role', async (_what, message) => {
      const error = await expectRejection(() => engine.appendMessage(victim, message as never), 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
      expect(error.message).toContain('message.role');
    });

    it.each([
      ['a number', 42],
      ['null', null],
      ['undefined', undefined],
      ['an object', { text: 'x' }],
      ['an array', ['x']],
      ['a Buffer', Buffer.from('x')],
      ['a String object', new String('x')],
      ['a string with a lone surrogate', 'truncated emoji \uD83D'],
    ])('rejects a content that is %s with ERR_INVALID_ARGUMENT naming message.content', async (_what, content) => {
      const error = await expectRejection(() => engine.appendMessage(victim, { role: 'user', content } as never), 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
      expect(error.message).toContain('message.content');
    });

    it.each([
      ['negative', -1],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['a string', '1764000000000'],
    ])('rejects a timestamp that is %s with ERR_INVALID_ARGUMENT', async (_what, timestamp) => {
      const error = await expectRejection(() => engine.appendMessage(victim, { role: 'user', content: 'x', timestamp } as never), 'ERR_INVALID_ARGUMENT');
      expect(error.message).toContain('message.timestamp');
    });

    it.each([
      ['null', null],
      ['a string', 'hello'],
      ['an array', ['user', 'hello']],
      ['undefined', undefined],
    ])('rejects a message that is %s with ERR_INVALID_ARGUMENT', async (_what, message) => {
      await expectRejection(() => engine.appendMessage(victim, message as never), 'ERR_INVALID_ARGUMENT');
    });

    it('rejects a content one byte over maxMessageBytes with ERR_LIMIT_EXCEEDED naming the option', async () => {
      const error = await expectRejection(() => engine.appendMessage(victim, { role: 'user', content: 'x'.repeat(1_001) }), 'ERR_LIMIT_EXCEEDED');
      expect(error.message).toContain('maxMessageBytes');
    });

    it('counts maxMessageBytes in UTF-8 bytes, not characters', async () => {
      // 400 × 'é' is 400 characters but 800 bytes; 334 × '€' is 1 002 bytes.
      await expectRejection(() => engine.appendMessage(victim, { role: 'user', content: '€'.repeat(334) }), 'ERR_LIMIT_EXCEEDED');
      await expectRejection(() => engine.appendMessage(victim, { role: 'user', content: '😀'.repeat(251) }), 'ERR_LIMIT_EXCEEDED');
    });
  });

  describe('session fields (create and update)', () => {
    const badServers: [string, unknown][] = [
      ['a string', 'git'],
      ['an object', { 0: 'git' }],
      ['null', null],
      ['a number', 1],
      ['an array with a number', ['git', 1]],
      ['an array with null', [null]],
      ['a name with a lone surrogate', ['git\uD83D']],
    ];
    const badCapabilities: [string, unknown][] = [
      ['a string', 'all'],
      ['a number', 1],
      ['a boolean', true],
      ['an array', [{ terminal: true }]],
      ['a Map', new Map([['terminal', true]])],
      ['a Date', new Date()],
      ['an fs that is not an object', { fs: true }],
      ['a terminal that is not a boolean', { terminal: 'yes' }],
      ['an fs.readTextFile that is not a boolean', { fs: { readTextFile: 1 } }],
      ['a nested function', { extra: { run: () => 1 } }],
      ['a nested Date', { extra: { at: new Date() } }],
      ['a nested Map', { extra: new Map() }],
      ['a nested bigint', { extra: 1n }],
      ['a NaN value', { extra: Number.NaN }],
      ['an Infinity value', { extra: [Number.POSITIVE_INFINITY] }],
      ['a lone surrogate in a value', { extra: 'a\uD800' }],
      ['a lone surrogate in a key', { 'k\uDC00': true }],
      ['an own __proto__ key', JSON.parse('{"__proto__": {"polluted": true}}')],
      ['a nesting 17 levels deep', nested(17)],
      ['a circular reference', circular()],
      ['more than 10 000 values', { extra: Array.from({ length: 10_001 }, () => 0) }],
    ];

    it.each(badServers)('create rejects mcpServers that is %s with ERR_INVALID_ARGUMENT, creating nothing', async (_what, mcpServers) => {
      const error = await expectRejection(() => engine.create({ mcpServers } as never), 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
      expect(error.message).toContain('mcpServers');
    });

    it.each(badServers)('update rejects mcpServers that is %s with ERR_INVALID_ARGUMENT', async (_what, mcpServers) => {
      const error = await expectRejection(() => engine.update(victim, { mcpServers } as never), 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
      expect(error.message).toContain('mcpServers');
    });

    it.each(badCapabilities)('create rejects clientCapabilities that is %s with ERR_INVALID_ARGUMENT, creating nothing', async (_what, clientCapabilities) => {
      const error = await expectRejection(() => engine.create({ clientCapabilities } as never), 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
      expect(error.message).toContain('clientCapabilities');
    });

    it.each(badCapabilities)('update rejects clientCapabilities that is %s with ERR_INVALID_ARGUMENT', async (_what, clientCapabilities) => {
      const error = await expectRejection(() => engine.update(victim, { clientCapabilities } as never), 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
      expect(error.message).toContain('clientCapabilities');
    });

    it.each([
      ['a string', 'init'],
      ['null', null],
      ['an array', []],
      ['an object with an unknown key', { capabilities: {} }],
    ])('create rejects an init that is %s with ERR_INVALID_ARGUMENT', async (_what, init) => {
      await expectRejection(() => engine.create(init as never), 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
    });

    it.each([
      ['undefined', undefined],
      ['null', null],
      ['a string', 'fields'],
      ['an object with an unknown key', { context: [] }],
    ])('update rejects fields that are %s with ERR_INVALID_ARGUMENT', async (_what, fields) => {
      await expectRejection(() => engine.update(victim, fields as never), 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
    });
  });

  describe('hostile objects', () => {
    /** A getter that answers valid data at its first read only: validated then encoded, it stored a function. */
    function flipping(): object {
      let reads = 0;
      return Object.defineProperty({}, 'value', { enumerable: true, get: () => (reads++ === 0 ? 'ok' : () => 1) });
    }
    /** A revoked Proxy: any trap throws a TypeError. */
    function revoked(): object {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy;
    }
    const throwing = Object.defineProperty({}, 'terminal', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    const hostile: [string, unknown, string][] = [
      ['a getter that throws', throwing, 'clientCapabilities.terminal'],
      ['a nested setter', { extra: Object.defineProperty({}, 'x', { enumerable: true, set() {} }) }, 'clientCapabilities.extra.x'],
      ['a Proxy', new Proxy({ terminal: true }, {}), 'clientCapabilities'],
      ['a nested revoked Proxy', { extra: revoked() }, 'clientCapabilities.extra'],
      ['an array element getter', { extra: Object.defineProperty([1], '0', { get: () => 2 }) }, 'clientCapabilities.extra'],
      ['a getter that answers valid data, then a function', { extra: flipping() }, 'clientCapabilities.extra.value'],
    ];

    it.each(hostile)(
      'create and update reject clientCapabilities with %s with ERR_INVALID_ARGUMENT naming the field',
      async (_what, clientCapabilities, field) => {
        const created = await expectRejection(() => engine.create({ clientCapabilities } as never), 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
        expect(created.message).toContain(field);
        const updated = await expectRejection(() => engine.update(victim, { clientCapabilities } as never), 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
        expect(updated.message).toContain(field);
      },
    );

    it('rejects an init, mcpServers or message that is a revoked Proxy or reads through a throwing getter, typed', async () => {
      await expectRejection(() => engine.create(revoked() as never), 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
      await expectRejection(() => engine.create({ mcpServers: new Proxy(['git'], {}) }), 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
      await expectRejection(
        () => engine.create(Object.defineProperty({}, 'title', { enumerable: true, get: () => 't' })),
        'ERR_INVALID_ARGUMENT',
        InvalidArgumentError,
      );
      await expectRejection(() => engine.appendMessage(victim, revoked() as never), 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
      const message = Object.defineProperty({ role: 'user' }, 'content', {
        enumerable: true,
        get() {
          throw new Error('boom');
        },
      });
      await expectRejection(() => engine.appendMessage(victim, message as never), 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
    });

    it('stores plain data whose keys are constructor or toJSON, null-prototype objects included, as given', async () => {
      const bare = Object.assign(Object.create(null) as Record<string, unknown>, { toJSON: 'x', constructor: 2 });
      const clientCapabilities = { constructor: 'x', toJSON: 1, nested: bare, list: [{ toJSON: null }] };
      const id = await engine.create({ clientCapabilities });
      expect((await engine.get(id))!.clientCapabilities).toEqual({
        constructor: 'x',
        toJSON: 1,
        nested: { toJSON: 'x', constructor: 2 },
        list: [{ toJSON: null }],
      });
      await engine.update(id, { clientCapabilities: bare });
      expect((await engine.get(id))!.clientCapabilities).toEqual({ toJSON: 'x', constructor: 2 });
      await engine.remove(id);
    });
  });

  describe('call options', () => {
    it.each([
      ['negative', -1],
      ['a fraction', 1.5],
      ['a string', '2'],
    ])('get rejects a lastMessages that is %s with ERR_INVALID_ARGUMENT naming it', async (_what, lastMessages) => {
      const error = await expectRejection(() => engine.get(victim, { lastMessages } as never), 'ERR_INVALID_ARGUMENT');
      expect(error.message).toContain('lastMessages');
    });

    it.each([
      ['negative', -1],
      ['a fraction', 0.5],
      ['a string', '10'],
    ])('list rejects a limit that is %s with ERR_INVALID_ARGUMENT naming it', async (_what, limit) => {
      const error = await expectRejection(() => engine.list({ limit } as never), 'ERR_INVALID_ARGUMENT');
      expect(error.message).toContain('limit');
    });

    it.each([
      ['get', () => engine.get(victim, { lastMesages: 1 } as never), 'lastMesages'],
      ['list', () => engine.list({ limt: 5 } as never), 'limt'],
    ])('%s rejects a misspelled option with ERR_INVALID_ARGUMENT naming it', async (_call, call, name) => {
      const error = await expectRejection(call, 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
      expect(error.message).toContain(`options.${name}`);
    });

    it('get and list reject options that throw when read (a revoked Proxy, a throwing getter), typed', async () => {
      const { proxy, revoke } = Proxy.revocable({ limit: 1 }, {});
      revoke();
      await expectRejection(() => engine.list(proxy), 'ERR_INVALID_ARGUMENT', InvalidArgumentError);
      const throwing = Object.defineProperty({}, 'lastMessages', {
        enumerable: true,
        get() {
          throw new Error('boom');
        },
      });
      expect((await expectRejection(() => engine.get(victim, throwing), 'ERR_INVALID_ARGUMENT', InvalidArgumentError)).message).toContain(
        'options.lastMessages',
      );
    });

    it('get and list reject options that are not an object', async () => {
      await expectRejection(() => engine.get(victim, 'all' as never), 'ERR_INVALID_ARGUMENT');
      await expectRejection(() => engine.list(5 as never), 'ERR_INVALID_ARGUMENT');
    });
  });

  it('a bad call issued in the same tick as good calls on the same session fails alone', async () => {
    const id = await engine.create();
    const calls = [
      engine.appendMessage(id, { role: 'user', content: 'a' }),
      engine.appendMessage(id, { role: 'nobody', content: 'bad' } as never),
      engine.appendMessage(id, { role: 'user', content: 'b' }),
      engine.appendMessage(id, { role: 'user', content: 7 } as never),
      engine.appendMessage(id, { role: 'user', content: 'c' }),
    ];
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect((await engine.get(id))!.context.map((m) => m.content)).toEqual(['a', 'b', 'c']);
    await engine.remove(id);
    await expectAllIntact();
  });
});
