import { describe, expect, it } from 'vitest';
import { decode } from '../../src/protocol/codec.js';
import {
  checkMessageRecord,
  encodeLegacyMessageRecord,
  encodeMessageRecord,
  isLegacyRecord,
  JsonText,
  maxMessageRecordBytes,
  messageRecordBytes,
  messageRecordEnd,
  messageRecordId,
  readMessageJson,
  sameMessageRecord,
  messageRecordTimestamp,
  upgradeLegacyRecord,
  writeMessageRecord,
} from '../../src/protocol/message-record.js';
import { newMessageId } from '../../src/protocol/message-ids.js';
import type { Role } from '../../src/protocol/model.js';

/** The time part of a ULID, in milliseconds. */
function decodeTime(id: string): number {
  let time = 0;
  for (const char of id.slice(0, 10)) time = time * 32 + '0123456789ABCDEFGHJKMNPQRSTVWXYZ'.indexOf(char);
  return time;
}

/** Contents at every str header boundary, in ASCII and in multibyte UTF-8. */
const CONTENTS = [
  '',
  'a',
  'b'.repeat(10),
  'c'.repeat(11),
  'd'.repeat(31),
  'e'.repeat(85),
  'f'.repeat(86),
  'g'.repeat(255),
  'h'.repeat(256),
  'i'.repeat(21_845),
  'j'.repeat(21_846),
  'k'.repeat(65_536),
  'é'.repeat(200),
  '😀 ok',
  'こんにちは',
];
const ROLES: Role[] = ['user', 'assistant', 'system'];

/** The id of the records below: short, so the role's fixstr is at `ROLE_AT`. */
const ID = 'm1';
/** Where the role's fixstr header is: after the marker and the id's fixstr. */
const ROLE_AT = 2 + ID.length;

function record(role: Role, content: string, timestamp: number, id = ID): Buffer {
  return Buffer.from(encodeMessageRecord({ id, role, content, timestamp, metadata: null }));
}

const utf8 = (text: string): Uint8Array => Buffer.from(text, 'utf8');

describe('a message record (the bytes an append carries and a shard keeps)', () => {
  it('decodes with the codec to the message it was written from, for every role and str header size', () => {
    for (const [i, content] of CONTENTS.entries()) {
      const role = ROLES[i % 3]!;
      const id = i % 2 === 0 ? ID : `${'x'.repeat(100)}-${i}`;
      const bytes = record(role, content, 1_764_000_000_000 + i, id);
      expect(decode(bytes)).toEqual({ id, role, content, timestamp: 1_764_000_000_000 + i });
      expect(bytes.length).toBeLessThanOrEqual(maxMessageRecordBytes(id, role, content));
      expect(messageRecordId(bytes)).toBe(id);
      expect(messageRecordEnd(Buffer.concat([bytes, Buffer.of(0xc0)]), 0)).toBe(bytes.length);
    }
  });

  it('passes the check, which answers its content size in UTF-8 bytes', () => {
    for (const content of CONTENTS) {
      expect(checkMessageRecord(record('user', content, 12.75))).toBe(Buffer.byteLength(content));
    }
  });

  it('fails the check when any part is not as written', () => {
    const good = record('assistant', 'hello', 5);
    const broken = (change: (bytes: Buffer) => void): Buffer => {
      const bytes = Buffer.from(good);
      change(bytes);
      return bytes;
    };
    const cases: [string, Buffer][] = [
      [
        'another record marker',
        broken((b) => {
          b[0] = 0x40;
        }),
      ],
      [
        'an unknown role of a known length',
        broken((b) => {
          b.write('x', ROLE_AT + 1, 'latin1');
        }),
      ],
      [
        'a role that is not a fixstr',
        broken((b) => {
          b[ROLE_AT] = 0xd9;
        }),
      ],
      ['an empty id', Buffer.concat([Buffer.of(good[0]!, 0xa0), good.subarray(ROLE_AT)])],
      [
        'an id with a control character',
        broken((b) => {
          b[2] = 0x0a;
        }),
      ],
      [
        'an id that is not a str',
        broken((b) => {
          b[1] = 0xc4;
        }),
      ],
      [
        'a content header that is neither a str nor a bin',
        broken((b) => {
          b[ROLE_AT + 1 + 'assistant'.length] = 0xc0;
        }),
      ],
      [
        'a content length past the end',
        broken((b) => {
          b[ROLE_AT + 1 + 'assistant'.length]! += 1;
        }),
      ],
      ['a byte after the record', Buffer.concat([good, Buffer.of(0)])],
      ['a truncated timestamp', good.subarray(0, good.length - 1)],
      [
        'a timestamp that is not a float64',
        broken((b) => {
          b[b.length - 9] = 0xcf;
        }),
      ],
      [
        'content that is not UTF-8',
        broken((b) => {
          b[b.length - 10] = 0xff;
        }),
      ],
      [
        'content that is not UTF-8 after a well-formed multi-byte character',
        ((b) => {
          b[b.length - 11] = 0x41;
          return b;
        })(record('user', 'é\uFFFD', 1)),
      ],
      ['a NaN timestamp', record('user', 'x', Number.NaN)],
      ['a negative timestamp', record('user', 'x', -1)],
      ['nothing', Buffer.alloc(0)],
    ];
    for (const [what, bytes] of cases) expect(checkMessageRecord(bytes), what).toBe(-1);
  });

  it('carries content parts and metadata as JSON text, checked and counted with the content', () => {
    const parts = [
      { type: 'text', text: 'héllo' },
      { type: 'tool_call', toolCallId: 't1', name: 'ls', input: { path: '/' } },
    ];
    const partsJson = utf8(JSON.stringify(parts));
    const metadataJson = utf8(JSON.stringify({ model: 'm', tokens: [1, 2] }));
    for (const metadata of [null, metadataJson]) {
      const bytes = encodeMessageRecord({ id: 'p1', role: 'assistant', content: partsJson, timestamp: 7, metadata });
      expect(checkMessageRecord(bytes)).toBe(partsJson.length + (metadata?.length ?? 0));
      expect(messageRecordEnd(Buffer.concat([bytes, Buffer.of(0xc0)]), 0)).toBe(bytes.length);
      expect(readMessageJson(decode(bytes) as never)).toEqual({
        id: 'p1',
        role: 'assistant',
        content: parts,
        timestamp: 7,
        ...(metadata === null ? {} : { metadata: { model: 'm', tokens: [1, 2] } }),
      });
    }
    // A plain string with metadata stays a string.
    const plain = encodeMessageRecord({ id: 'p2', role: 'user', content: 'hi', timestamp: 1, metadata: metadataJson });
    expect(checkMessageRecord(plain)).toBe(2 + metadataJson.length);
    expect(readMessageJson(decode(plain) as never)).toEqual({ id: 'p2', role: 'user', content: 'hi', timestamp: 1, metadata: { model: 'm', tokens: [1, 2] } });
  });

  it('fails the check for parts or metadata that are not JSON text of the right kind', () => {
    const record3 = (content: string | Uint8Array, metadata: Uint8Array | null) =>
      Buffer.from(encodeMessageRecord({ id: 'p1', role: 'user', content, timestamp: 1, metadata }));
    expect(checkMessageRecord(record3(utf8('{"type":"text"}'), null)), 'parts that are not an array').toBe(-1);
    expect(checkMessageRecord(record3('x', utf8('[1]'))), 'metadata that is not an object').toBe(-1);
    expect(checkMessageRecord(record3('x', Buffer.of(0x7b, 0xff))), 'metadata that is not UTF-8').toBe(-1);
    const withMetadata = record3('x', utf8('{}'));
    expect(checkMessageRecord(withMetadata.subarray(0, withMetadata.length - 1)), 'truncated metadata').toBe(-1);
    expect(checkMessageRecord(withMetadata.subarray(0, withMetadata.length - 4)), 'the metadata marker without metadata').toBe(-1);
  });

  it('tells a retried message by its bytes, the timestamp compared only when the caller gave it', () => {
    const a = record('user', 'same', 1);
    expect(sameMessageRecord(a, record('user', 'same', 1), true)).toBe(true);
    expect(sameMessageRecord(a, record('user', 'same', 2), true)).toBe(false);
    expect(sameMessageRecord(a, record('user', 'same', 2), false)).toBe(true);
    expect(sameMessageRecord(a, record('user', 'samf', 1), false)).toBe(false);
    expect(sameMessageRecord(a, record('user', 'same', 1, 'm2'), false)).toBe(false);
    expect(sameMessageRecord(a, record('assistant', 'same', 1), false)).toBe(false);
  });

  it('has one encoding whichever way a message is written, so that a retry is recognised by its bytes', () => {
    for (const content of ['', 'short', 'é'.repeat(20), 'x'.repeat(100), 'ü'.repeat(30_000)]) {
      // The plain path (`writeMessageRecord`, an append written straight into a batch) and the general one.
      const target = Buffer.alloc(maxMessageRecordBytes('m1', 'user', content));
      const plain = target.subarray(0, writeMessageRecord(target, 0, 'm1', 'user', content, 5));
      const general = encodeMessageRecord({ id: 'm1', role: 'user', content, timestamp: 5, metadata: null });
      expect(Buffer.from(general).equals(plain)).toBe(true);
      expect(messageRecordBytes({ id: 'm1', role: 'user', content, timestamp: 5, metadata: null })).toBe(plain.length);
      // With metadata, and with parts as JSON text (a string or its bytes), the size is exact too.
      const json = JSON.stringify([{ type: 'text', text: content }]);
      for (const message of [
        { id: 'm2', role: 'tool' as const, content, timestamp: 6, metadata: new JsonText('{"a":1}') },
        { id: 'm3', role: 'assistant' as const, content: new JsonText(json), timestamp: 7, metadata: Buffer.from('{}') },
      ]) {
        const bytes = encodeMessageRecord(message);
        expect(messageRecordBytes(message)).toBe(bytes.length);
        expect(checkMessageRecord(bytes)).toBeGreaterThanOrEqual(0);
      }
      expect(Buffer.from(encodeMessageRecord({ id: 'm3', role: 'assistant', content: new JsonText(json), timestamp: 7, metadata: null }))).toEqual(
        Buffer.from(encodeMessageRecord({ id: 'm3', role: 'assistant', content: Buffer.from(json), timestamp: 7, metadata: null })),
      );
    }
  });
});

describe('a record of the first format (no id; only in data written by earlier releases)', () => {
  it('still passes the check, and decodes to its role, content and timestamp', () => {
    for (const content of CONTENTS) {
      const bytes = encodeLegacyMessageRecord('assistant', content, 3.5);
      expect(isLegacyRecord(bytes)).toBe(true);
      expect(checkMessageRecord(bytes)).toBe(Buffer.byteLength(content));
      expect(decode(bytes)).toEqual({ role: 'assistant', content, timestamp: 3.5 });
      expect(messageRecordId(bytes)).toBe('');
      expect(messageRecordEnd(Buffer.concat([bytes, Buffer.of(0xc0)]), 0)).toBe(bytes.length);
    }
  });

  it('is upgraded to the record of today with the id given: the same role, content and timestamp', () => {
    for (const content of CONTENTS) {
      const upgraded = upgradeLegacyRecord(encodeLegacyMessageRecord('tool', content, 99), 'up-1');
      expect(isLegacyRecord(upgraded)).toBe(false);
      // The same message, though not always the same bytes: the content's str header is kept as it was.
      expect(checkMessageRecord(upgraded)).toBe(Buffer.byteLength(content));
      expect(decode(upgraded)).toEqual(decode(record('tool', content, 99, 'up-1')));
      expect(messageRecordId(upgraded)).toBe('up-1');
    }
  });

  it("reads its timestamp, which gives the time part of the id it is upgraded with (the message's own time)", () => {
    const bytes = encodeLegacyMessageRecord('user', 'hello', 1_700_000_000_123);
    expect(messageRecordTimestamp(bytes)).toBe(1_700_000_000_123);
    const id = newMessageId(messageRecordTimestamp(bytes));
    expect(id).toMatch(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/);
    expect(id.slice(0, 10)).toBe(newMessageId(1_700_000_000_123).slice(0, 10));
    expect(decodeTime(id)).toBe(1_700_000_000_123);
    // A time that is no whole millisecond of the 48-bit range falls back to the clock.
    expect(decodeTime(newMessageId(3.5))).toBeGreaterThan(1_700_000_000_000);
  });
});
