/**
 * Model-based test: random sequences of create, append, appendMessages (with ids, conditions and
 * retries), popMessage, spliceMessages, fork, get, update, touch, remove, sweep, engine restarts (with another shard count, another maxMessagesPerSession, or a missing or damaged manifest)
 * and injected shard crashes, run against a persistent engine with fsync 'always' and against a plain
 * in-memory model; after every step they must agree.
 *
 * A long run: MODEL_RUNS=2000 npx vitest run test/persistence/model.test.ts
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SessionEngine, type FaultKind } from '../../dist/src/index.js';
import { codeOf, waitFor } from '../helpers/engine.js';
import { tempDir } from './helpers.js';

const RUNS = Number(process.env.MODEL_RUNS ?? 200);

interface ModelSession {
  context: string[];
  servers: string[];
}
interface Model {
  sessions: Map<string, ModelSession>;
  removed: string[];
}
interface Real {
  engine: SessionEngine;
  dir: string;
  shards: number;
  /** The engine's maxMessagesPerSession: it changes with restarts. */
  limit: number;
  restarts: number;
}
type Command = fc.AsyncCommand<Model, Real>;

const options = (dir: string, shards: number, limit: number) => ({
  shards,
  maxMessagesPerSession: limit,
  faultInjection: true,
  shardHeapMb: 64,
  persistence: { dir, fsync: 'always' as const },
});

function pick(model: Model, n: number): string {
  const ids = [...model.sessions.keys()];
  return ids[n % ids.length]!;
}

async function expectSame(real: Real, model: Model, id: string): Promise<void> {
  const session = await real.engine.get(id);
  const expected = model.sessions.get(id);
  if (expected === undefined) {
    expect(session).toBeUndefined();
    return;
  }
  expect(session?.context.map((message) => message.content)).toEqual(expected.context);
  expect(session?.mcpServers).toEqual(expected.servers);
}

class Create implements Command {
  constructor(readonly server: string) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const id = await real.engine.create({ mcpServers: [this.server] });
    model.sessions.set(id, { context: [], servers: [this.server] });
  }
  toString = () => `create(${this.server})`;
}

class Append implements Command {
  constructor(
    readonly n: number,
    readonly content: string,
  ) {}
  check = (model: Readonly<Model>) => model.sessions.size > 0;
  async run(model: Model, real: Real) {
    const id = pick(model, this.n);
    const session = model.sessions.get(id)!;
    const appended = real.engine.appendMessage(id, { role: 'user', content: this.content });
    // A session may hold more than today's limit (acknowledged under a higher one): it takes no more.
    if (session.context.length >= real.limit) {
      expect(codeOf(await appended.catch((error: unknown) => error))).toBe('ERR_LIMIT_EXCEEDED');
      return;
    }
    expect(await appended).toBe(session.context.length + 1);
    session.context.push(this.content);
  }
  toString = () => `append(${this.n}, ${JSON.stringify(this.content)})`;
}

/** Message ids unique over the whole run: a given id is never reused by accident. */
let nextId = 0;

class AppendMany implements Command {
  constructor(
    readonly n: number,
    readonly contents: string[],
    readonly condition: 'none' | 'right' | 'wrong',
    readonly retry: boolean,
  ) {}
  check = (model: Readonly<Model>) => model.sessions.size > 0;
  async run(model: Model, real: Real) {
    const id = pick(model, this.n);
    const session = model.sessions.get(id)!;
    const messages = this.contents.map((content) => ({ id: `m${nextId++}`, role: 'user' as const, content, timestamp: 1 }));
    const ifLength = this.condition === 'none' ? undefined : session.context.length + (this.condition === 'wrong' ? 1 : 0);
    const appended = real.engine.appendMessages(id, messages, ifLength === undefined ? undefined : { ifLength });
    // The condition is checked before the limits; either way nothing of the call is kept.
    if (this.condition === 'wrong') {
      expect(codeOf(await appended.catch((error: unknown) => error))).toBe('ERR_CONFLICT');
      return;
    }
    if (messages.length > 0 && session.context.length + messages.length > real.limit) {
      expect(codeOf(await appended.catch((error: unknown) => error))).toBe('ERR_LIMIT_EXCEEDED');
      return;
    }
    expect(await appended).toBe(session.context.length + messages.length);
    session.context.push(...this.contents);
    // A retry of what landed appends nothing and resolves the same length (also under its stale condition).
    if (this.retry && messages.length > 0) {
      expect(await real.engine.appendMessages(id, messages, ifLength === undefined ? undefined : { ifLength })).toBe(session.context.length);
    }
  }
  toString = () => `appendMessages(${this.n}, ${JSON.stringify(this.contents)}, ifLength: ${this.condition}, retry: ${this.retry})`;
}

class Pop implements Command {
  constructor(readonly n: number) {}
  check = (model: Readonly<Model>) => model.sessions.size > 0;
  async run(model: Model, real: Real) {
    const id = pick(model, this.n);
    const session = model.sessions.get(id)!;
    const popped = await real.engine.popMessage(id);
    expect(popped?.content).toEqual(session.context.pop());
  }
  toString = () => `pop(${this.n})`;
}

class Splice implements Command {
  constructor(
    readonly n: number,
    readonly start: number,
    readonly deleteCount: number,
    readonly contents: string[],
  ) {}
  check = (model: Readonly<Model>) => model.sessions.size > 0;
  async run(model: Model, real: Real) {
    const id = pick(model, this.n);
    const session = model.sessions.get(id)!;
    const insert = this.contents.map((content) => ({ id: `m${nextId++}`, role: 'assistant' as const, content }));
    const spliced = real.engine.spliceMessages(id, this.start, this.deleteCount, insert);
    const after = [...session.context];
    const removed = after.splice(this.start, this.deleteCount, ...this.contents);
    if (insert.length > 0 && after.length > real.limit && after.length > session.context.length) {
      expect(codeOf(await spliced.catch((error: unknown) => error))).toBe('ERR_LIMIT_EXCEEDED');
      return;
    }
    expect((await spliced).map((message) => message.content)).toEqual(removed);
    session.context = after;
  }
  toString = () => `splice(${this.n}, ${this.start}, ${this.deleteCount}, ${JSON.stringify(this.contents)})`;
}

class Fork implements Command {
  constructor(
    readonly n: number,
    readonly messages: number | undefined,
  ) {}
  check = (model: Readonly<Model>) => model.sessions.size > 0;
  async run(model: Model, real: Real) {
    const source = model.sessions.get(pick(model, this.n))!;
    const id = await real.engine.fork(pick(model, this.n), this.messages === undefined ? undefined : { messages: this.messages });
    model.sessions.set(id, { context: source.context.slice(0, this.messages ?? source.context.length), servers: [...source.servers] });
  }
  toString = () => `fork(${this.n}, messages: ${this.messages})`;
}

class Get implements Command {
  constructor(readonly n: number) {}
  check = (model: Readonly<Model>) => model.sessions.size > 0;
  async run(model: Model, real: Real) {
    await expectSame(real, model, pick(model, this.n));
  }
  toString = () => `get(${this.n})`;
}

class Update implements Command {
  constructor(
    readonly n: number,
    readonly servers: string[],
  ) {}
  check = (model: Readonly<Model>) => model.sessions.size > 0;
  async run(model: Model, real: Real) {
    const id = pick(model, this.n);
    await real.engine.update(id, { mcpServers: this.servers });
    model.sessions.get(id)!.servers = [...this.servers];
  }
  toString = () => `update(${this.n}, ${JSON.stringify(this.servers)})`;
}

class Touch implements Command {
  constructor(readonly n: number) {}
  check = (model: Readonly<Model>) => model.sessions.size > 0;
  async run(model: Model, real: Real) {
    expect(await real.engine.touch(pick(model, this.n))).toBe(true);
  }
  toString = () => `touch(${this.n})`;
}

class Remove implements Command {
  constructor(readonly n: number) {}
  check = (model: Readonly<Model>) => model.sessions.size > 0;
  async run(model: Model, real: Real) {
    const id = pick(model, this.n);
    const removed = await real.engine.remove(id);
    expect(removed?.context.map((message) => message.content)).toEqual(model.sessions.get(id)!.context);
    model.sessions.delete(id);
    model.removed.push(id);
  }
  toString = () => `remove(${this.n})`;
}

class UseRemoved implements Command {
  constructor(readonly n: number) {}
  check = (model: Readonly<Model>) => model.removed.length > 0;
  async run(model: Model, real: Real) {
    const id = model.removed[this.n % model.removed.length]!;
    expect(await real.engine.get(id)).toBeUndefined();
    expect(await real.engine.touch(id)).toBe(false);
    expect(codeOf(await real.engine.appendMessage(id, { role: 'user', content: 'x' }).catch((error: unknown) => error))).toBe('ERR_SESSION_NOT_FOUND');
  }
  toString = () => `useRemoved(${this.n})`;
}

class Sweep implements Command {
  check = () => true;
  async run(_model: Model, real: Real) {
    expect(await real.engine.sweep()).toBe(0);
  }
  toString = () => 'sweep';
}

/** What a restart does to the manifest first. */
type ManifestDamage = 'none' | 'missing' | 'empty' | 'truncated' | 'negative';

class Restart implements Command {
  constructor(
    readonly shards: number,
    readonly limit: number,
    readonly damage: ManifestDamage,
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    await real.engine.close();
    const path = join(real.dir, 'manifest.json');
    const manifest = readFileSync(path);
    if (this.damage === 'missing') rmSync(path);
    else if (this.damage !== 'none')
      writeFileSync(path, { empty: '', truncated: manifest.subarray(0, 9), negative: '{"format":2,"generation":-3,"shards":2}' }[this.damage]);
    if (this.damage !== 'none' && this.damage !== 'missing') {
      // Refused, with nothing deleted: once the manifest is put back, everything is there.
      const refused = await SessionEngine.start(options(real.dir, this.shards, this.limit)).catch((error: unknown) => error);
      expect(codeOf(refused)).toBe('ERR_PERSISTENCE_CORRUPT');
      writeFileSync(path, manifest);
    }
    real.engine = await SessionEngine.start(options(real.dir, this.shards, this.limit));
    real.shards = this.shards;
    real.limit = this.limit;
    real.restarts = 0;
    real.engine.on('shardRestart', () => real.restarts++);
    expect(real.engine.recovery).toMatchObject({ sessions: model.sessions.size, expired: 0, skippedRecords: 0 });
    expect(await real.engine.size()).toBe(model.sessions.size);
    for (const id of model.sessions.keys()) await expectSame(real, model, id);
  }
  toString = () => `restart(shards: ${this.shards}, maxMessagesPerSession: ${this.limit}, manifest: ${this.damage})`;
}

class Crash implements Command {
  constructor(
    readonly shard: number,
    readonly kind: FaultKind,
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const before = real.restarts;
    await real.engine.injectFault(this.shard % real.shards, this.kind).catch((error: unknown) => expect(codeOf(error)).toBe('ERR_SHARD_CRASHED'));
    // Sequential commands: wait for the restart, so that no later command meets the dead worker.
    await waitFor(() => real.restarts > before, 20_000, `the restart after '${this.kind}'`);
    expect(await real.engine.size()).toBe(model.sessions.size);
  }
  toString = () => `crash(${this.shard}, ${this.kind})`;
}

const text = fc.string({ maxLength: 12, unit: 'grapheme' });
const commands = [
  fc.string({ maxLength: 6 }).map((server) => new Create(server)),
  fc.tuple(fc.nat(), text).map(([n, content]) => new Append(n, content)),
  fc
    .tuple(fc.nat(), fc.array(text, { maxLength: 4 }), fc.constantFrom<'none' | 'right' | 'wrong'>('none', 'right', 'wrong'), fc.boolean())
    .map(([n, contents, condition, retry]) => new AppendMany(n, contents, condition, retry)),
  fc.nat().map((n) => new Pop(n)),
  fc
    .tuple(fc.nat(), fc.integer({ min: -5, max: 6 }), fc.oneof(fc.nat({ max: 4 }), fc.constant(Number.POSITIVE_INFINITY)), fc.array(text, { maxLength: 3 }))
    .map(([n, start, deleteCount, contents]) => new Splice(n, start, deleteCount, contents)),
  fc.tuple(fc.nat(), fc.option(fc.nat({ max: 5 }), { nil: undefined })).map(([n, messages]) => new Fork(n, messages)),
  fc.nat().map((n) => new Get(n)),
  fc.tuple(fc.nat(), fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 })).map(([n, servers]) => new Update(n, servers)),
  fc.nat().map((n) => new Touch(n)),
  fc.nat().map((n) => new Remove(n)),
  fc.nat().map((n) => new UseRemoved(n)),
  fc.constant(new Sweep()),
  fc
    .tuple(
      fc.integer({ min: 1, max: 3 }),
      fc.constantFrom(1, 2, 4, 10_000),
      fc.constantFrom<ManifestDamage>('none', 'none', 'missing', 'empty', 'truncated', 'negative'),
    )
    .map(([shards, limit, damage]) => new Restart(shards, limit, damage)),
  fc.tuple(fc.nat(), fc.constantFrom<FaultKind>('throw', 'exit')).map(([shard, kind]) => new Crash(shard, kind)),
];

describe('the persistent engine against an in-memory model', () => {
  it(`agrees over ${RUNS} random runs of operations, restarts and crashes`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 14 }), async (cmds) => {
        const dir = tempDir();
        const real: Real = { engine: await SessionEngine.start(options(dir, 2, 10_000)), dir, shards: 2, limit: 10_000, restarts: 0 };
        real.engine.on('shardRestart', () => real.restarts++);
        try {
          await fc.asyncModelRun(() => ({ model: { sessions: new Map(), removed: [] }, real }), cmds);
        } finally {
          await real.engine.close();
        }
      }),
      { numRuns: RUNS },
    );
  }, 600_000);
});
