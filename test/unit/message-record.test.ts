import { describe, expect, it } from 'vitest';
import { decode } from '../../src/protocol/codec.js';
import { checkMessageRecord, encodeMessageRecord, maxMessageRecordBytes } from '../../src/protocol/message-record.js';
import type { Role } from '../../src/protocol/model.js';

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

function record(role: Role, content: string, timestamp: number): Buffer {
  return Buffer.from(encodeMessageRecord(role, content, timestamp));
}

describe('a message record (the bytes an append carries and a shard keeps)', () => {
  it('decodes with the codec to the message it was written from, for every role and str header size', () => {
    for (const [i, content] of CONTENTS.entries()) {
      const role = ROLES[i % 3]!;
      const bytes = encodeMessageRecord(role, content, 1_764_000_000_000 + i);
      expect(decode(bytes)).toEqual({ role, content, timestamp: 1_764_000_000_000 + i });
      expect(bytes.length).toBeLessThanOrEqual(maxMessageRecordBytes(role, content));
    }
  });

  it('passes the check, which answers its content size in UTF-8 bytes', () => {
    for (const content of CONTENTS) {
      expect(checkMessageRecord(encodeMessageRecord('user', content, 12.75))).toBe(Buffer.byteLength(content));
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
          b.write('x', 2, 'latin1');
        }),
      ],
      [
        'a role that is not a fixstr',
        broken((b) => {
          b[1] = 0xd9;
        }),
      ],
      [
        'a content header that is not a str',
        broken((b) => {
          b[2 + 'assistant'.length] = 0xc4;
        }),
      ],
      [
        'a content length past the end',
        broken((b) => {
          b[2 + 'assistant'.length]! += 1;
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
});
