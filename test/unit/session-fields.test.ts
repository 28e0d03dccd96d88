import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/main/errors.js';
import { checkSessionFields } from '../../src/main/validation.js';
import { decode, encode, FORMAT_VERSION, SESSION_STRUCTURE, SESSION_V2_STRUCTURE, SESSION_V3_STRUCTURE, SHARED_STRUCTURES } from '../../src/protocol/codec.js';
import { encodeMessageRecord } from '../../src/protocol/message-record.js';
import { upgradeSession, type Session } from '../../src/protocol/model.js';
import { MsgpackWriter } from '../../src/protocol/msgpack-writer.js';
import { SessionStore } from '../../src/shard/memory/session-store.js';
import { encodeCapabilities, encodeServers } from '../../src/protocol/encoded-fields.js';
import { writeSession, type SessionFields, type StoredSession } from '../../src/shard/memory/stored-session.js';

const A = '01JAAAAAAAAAAAAAAAAAAAAAAA';
const B = '01JBBBBBBBBBBBBBBBBBBBBBBB';
const C = '01JCCCCCCCCCCCCCCCCCCCCCCC';
const D = '01JDDDDDDDDDDDDDDDDDDDDDDD';
const NONE: SessionFields = { cwd: null, title: null, owner: null };

function makeStore() {
  let now = 1_700_000_000_000;
  const clock = Object.assign(() => now, {
    advance: (ms: number): void => {
      now += ms;
    },
  });
  const store = new SessionStore({ maxSessionAgeMs: 60_000, maxMessagesPerSession: 100, maxBytes: Number.MAX_SAFE_INTEGER }, clock);
  const create = (id: string, fields: Partial<SessionFields> = {}) => store.create(id, encodeCapabilities(null), encodeServers([]), { ...NONE, ...fields });
  const read = (id: string): Session => {
    const writer = new MsgpackWriter(16);
    const session = store.get(id) as StoredSession;
    writeSession(writer, session, 0, session.messageCount);
    return decode(writer.finish()) as Session;
  };
  return { store, clock, create, read };
}

describe('cwd, title, updatedAt and owner in the shard store', () => {
  it('stores the fields given at creation and reads every unset one back as null', () => {
    const { create, read, clock } = makeStore();
    create(A, { cwd: '/work/a', title: 'Fix the build', owner: 'alice' });
    create(B);
    expect(read(A)).toMatchObject({ cwd: '/work/a', title: 'Fix the build', owner: 'alice', updatedAt: clock() });
    expect(read(B)).toMatchObject({ cwd: null, title: null, owner: null, updatedAt: clock() });
  });

  it('moves updatedAt on append and update only, never on a read or a touch', () => {
    const { store, create, read, clock } = makeStore();
    const created = clock();
    create(A);
    clock.advance(10);
    store.get(A);
    store.touch(A);
    expect(read(A).updatedAt).toBe(created);
    clock.advance(10);
    store.append(A, encodeMessageRecord({ id: 'm1', role: 'user', content: 'hi', timestamp: 1, metadata: null }));
    expect(read(A).updatedAt).toBe(created + 20);
    clock.advance(10);
    store.update(A, null, null, {});
    expect(read(A).updatedAt).toBe(created + 30);
  });

  it('update sets or clears each plain field on its own and leaves the others', () => {
    const { store, create, read } = makeStore();
    create(A, { cwd: '/a', title: 't', owner: 'o' });
    store.update(A, null, null, { title: 'renamed' });
    expect(read(A)).toMatchObject({ cwd: '/a', title: 'renamed', owner: 'o' });
    store.update(A, null, null, { cwd: null, owner: 'p' });
    expect(read(A)).toMatchObject({ cwd: null, title: 'renamed', owner: 'p' });
  });

  it('list filters by cwd and owner, and pages in both orders', () => {
    const { store, create } = makeStore();
    create(A, { cwd: '/x', owner: 'alice' });
    create(B, { cwd: '/y', owner: 'alice' });
    create(C, { cwd: '/x', owner: 'bob' });
    create(D, { cwd: '/x', owner: 'alice' });
    const any = { desc: false, cwd: null, owner: null };
    expect(store.list(null, -1, { ...any, cwd: '/x' })).toEqual([A, C, D]);
    expect(store.list(null, -1, { ...any, owner: 'alice' })).toEqual([A, B, D]);
    expect(store.list(null, -1, { ...any, cwd: '/x', owner: 'alice' })).toEqual([A, D]);
    expect(store.list(null, -1, { ...any, desc: true })).toEqual([D, C, B, A]);
    expect(store.list(null, 2, { ...any, desc: true })).toEqual([D, C]);
    // desc: `after` means older than
    expect(store.list(C, 2, { ...any, desc: true })).toEqual([B, A]);
    expect(store.list(A, -1, { ...any, desc: true })).toEqual([]);
    expect(store.list(B, -1, { ...any, desc: true, cwd: '/x' })).toEqual([A]);
  });
});

describe('the format 2 Session record', () => {
  it('is appended to the shared structures; structure 0 is unchanged and still decodes', () => {
    // Format 3 appended the Session v3 record (below) after it.
    expect(FORMAT_VERSION).toBe(3);
    expect(SESSION_STRUCTURE).toBe(0);
    expect(SESSION_V2_STRUCTURE).toBe(2);
    expect(SHARED_STRUCTURES[SESSION_V2_STRUCTURE]).toEqual([
      'id',
      'createdAt',
      'lastAccessed',
      'context',
      'clientCapabilities',
      'mcpServers',
      'cwd',
      'title',
      'updatedAt',
      'owner',
    ]);
    // A session encoded as format 1 did: record 0, with no new fields.
    const old = { id: A, createdAt: 1, lastAccessed: 5, context: [{ role: 'user', content: 'x', timestamp: 2 }], clientCapabilities: null, mcpServers: ['m'] };
    const bytes = encode(old);
    expect(bytes[0]).toBe(0x40 + SESSION_STRUCTURE);
    const decoded = decode(bytes) as Session;
    expect(decoded).toEqual(old);
    expect(upgradeSession(decoded)).toEqual({ ...old, cwd: null, title: null, updatedAt: 5, owner: null, metadata: null, length: 1 });
  });

  it('is what a shard writes', () => {
    const { store, create } = makeStore();
    create(A, { title: 'x' });
    const writer = new MsgpackWriter(16);
    writeSession(writer, store.get(A)!, 0, 0);
    // Since format 3: the Session v3 record, which carries format 2's fields and metadata and length.
    expect(writer.finish()[0]).toBe(0x40 + SESSION_V3_STRUCTURE);
  });

  it('upgradeSession fills in metadata and length of a format 2 session, and leaves the rest as it is', () => {
    const current: Omit<Session, 'metadata' | 'length'> = {
      id: A,
      createdAt: 1,
      lastAccessed: 5,
      context: [],
      clientCapabilities: null,
      mcpServers: [],
      cwd: '/c',
      title: 't',
      updatedAt: 3,
      owner: 'o',
    };
    expect(upgradeSession({ ...current })).toEqual({ ...current, metadata: null, length: 0 });
    const withContext = { ...current, context: [{ id: 'm1', role: 'user' as const, content: 'x', timestamp: 2 }] };
    expect(upgradeSession({ ...withContext })).toEqual({ ...withContext, metadata: null, length: 1 });
  });

  it('upgradeSession leaves a format 3 session as it is', () => {
    const current: Session = {
      id: A,
      createdAt: 1,
      lastAccessed: 5,
      context: [{ id: 'm9', role: 'user', content: 'x', timestamp: 2 }],
      clientCapabilities: null,
      mcpServers: [],
      cwd: '/c',
      title: 't',
      updatedAt: 3,
      owner: 'o',
      metadata: { k: [1] },
      length: 7,
    };
    expect(upgradeSession({ ...current })).toEqual(current);
  });
});

describe('validation of cwd, title and owner', () => {
  const rejects = (value: unknown, what: 'init' | 'update', message: RegExp) => {
    expect(() => checkSessionFields(value, what)).toThrow(InvalidArgumentError);
    expect(() => checkSessionFields(value, what)).toThrow(message);
  };

  it('accepts absolute paths, titles, owners, and null to clear', () => {
    expect(checkSessionFields({ cwd: '/home/a', title: '', owner: 'alice' }, 'init')).toMatchObject({
      hasCwd: true,
      cwd: '/home/a',
      hasTitle: true,
      title: '',
      hasOwner: true,
      owner: 'alice',
    });
    expect(checkSessionFields({ cwd: null, title: null, owner: null }, 'update')).toMatchObject({
      hasCwd: true,
      cwd: null,
      hasTitle: true,
      title: null,
      hasOwner: true,
      owner: null,
    });
    expect(checkSessionFields({}, 'update')).toMatchObject({ hasCwd: false, hasTitle: false, hasOwner: false });
  });

  it('names the field and the value it refuses', () => {
    rejects({ cwd: 'relative/dir' }, 'init', /init\.cwd must be an absolute path, got "relative\/dir"/);
    rejects({ cwd: 42 }, 'update', /update\.cwd must be a string or null, got 42/);
    rejects({ cwd: '/a\0b' }, 'init', /init\.cwd must be an absolute path/);
    rejects({ title: 'x'.repeat(1025) }, 'init', /init\.title must be at most 1024 characters, got 1025/);
    rejects({ title: '\uD800' }, 'update', /update\.title must be well-formed Unicode/);
    rejects({ owner: '' }, 'init', /init\.owner must be a non-empty string/);
    rejects({ owner: true }, 'update', /update\.owner must be a string or null, got true/);
    rejects({ updatedAt: 1 }, 'update', /update\.updatedAt is not a session field \(clientCapabilities, mcpServers, cwd, title, owner, metadata\)/);
  });
});

describe('session metadata (format 3)', () => {
  const rejects = (value: unknown, what: 'init' | 'update', message: RegExp) => {
    expect(() => checkSessionFields(value, what, limits)).toThrow(InvalidArgumentError);
    expect(() => checkSessionFields(value, what, limits)).toThrow(message);
  };
  const limits = { maxFieldBytes: 1_048_576, maxSessionBytes: 64 * 1_048_576, maxMetadataBytes: 64 };

  it('is carried in the Session v3 record, after the fields of format 2', () => {
    expect(SESSION_V3_STRUCTURE).toBe(5);
    expect(SHARED_STRUCTURES[SESSION_V3_STRUCTURE]).toEqual([...SHARED_STRUCTURES[SESSION_V2_STRUCTURE]!, 'metadata', 'length']);
  });

  it('is checked as a JSON object and sent as its JSON text; null clears it', () => {
    const checked = checkSessionFields({ metadata: { tag: 'x', n: [1, 2] } }, 'init', limits);
    expect(checked.hasMetadata).toBe(true);
    expect(JSON.parse(Buffer.from(checked.metadata!).toString('utf8'))).toEqual({ tag: 'x', n: [1, 2] });
    expect(checkSessionFields({ metadata: null }, 'update', limits)).toMatchObject({ hasMetadata: true, metadata: null });
    expect(checkSessionFields({}, 'update', limits)).toMatchObject({ hasMetadata: false, metadata: null });
  });

  it('names the field and the value it refuses, and maxMetadataBytes as the limit passed', () => {
    rejects({ metadata: [1] }, 'init', /init\.metadata must be a plain object, got an array/);
    rejects({ metadata: 'x' }, 'update', /update\.metadata must be a plain object/);
    rejects({ metadata: { a: undefined } }, 'update', /update\.metadata\.a must be JSON data, got undefined/);
    rejects({ metadata: { a: Number.NaN } }, 'init', /init\.metadata\.a must be a finite number/);
    expect(() => checkSessionFields({ metadata: { text: 'x'.repeat(100) } }, 'init', limits)).toThrow(/init\.metadata is .*over maxMetadataBytes \(64\)/);
    // 64 units of text, but 71 bytes as JSON text, which the limit is on; 64 bytes pass.
    const justOver = { metadata: { text: 'x'.repeat(60) } };
    expect(() => checkSessionFields(justOver, 'init', limits)).toThrow(expect.objectContaining({ code: 'ERR_LIMIT_EXCEEDED' }));
    expect(() => checkSessionFields({ metadata: { text: 'x'.repeat(53) } }, 'init', limits)).not.toThrow();
  });
});
