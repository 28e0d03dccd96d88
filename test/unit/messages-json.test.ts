/**
 * The JSON text a shard writes for `getMessagesJson`, from the records it holds: byte for byte the UTF-8 of
 * `JSON.stringify` of the messages a read decodes from the same records, whatever they hold.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkMessage } from '../../src/main/validation.js';
import { decode } from '../../src/protocol/codec.js';
import { encodeLegacyMessageRecord, encodeMessageRecord, MessagesJsonWriter, readMessageJson } from '../../src/protocol/message-record.js';
import type { Message, MessageInput } from '../../src/protocol/model.js';
import { jsonObject, part } from '../behaviour/helpers.js';

/** Records as a shard holds them, one after the other, from inputs checked and encoded as the host does. */
function recordsOf(inputs: readonly MessageInput[]): Buffer {
  return Buffer.concat(inputs.map((input) => encodeMessageRecord(checkMessage(input, 1_048_576))));
}

/** The messages a read decodes from the same records. */
function decoded(records: readonly Uint8Array[]): Message[] {
  return records.map((record) => readMessageJson(decode(record) as Message));
}

function jsonOf(bytes: Buffer, maxBytes = 1 << 30): string {
  const writer = new MessagesJsonWriter(maxBytes, 64);
  writer.begin();
  for (let at = 0; at < bytes.length; ) at = writer.add(bytes, at);
  return writer.finish().toString('utf8');
}

const printableId = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 128 });

const input: fc.Arbitrary<MessageInput> = fc.record(
  {
    id: printableId,
    role: fc.constantFrom('user', 'assistant', 'system', 'tool'),
    content: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.array(part, { maxLength: 4 })),
    timestamp: fc.oneof(fc.integer({ min: 0, max: 2 ** 45 }), fc.double({ min: 0, max: 1e15, noNaN: true })),
    metadata: jsonObject(),
  },
  { requiredKeys: ['role', 'content'] },
) as fc.Arbitrary<MessageInput>;

describe('the JSON text of messages, written from their records', () => {
  it('is JSON.stringify of the messages a read decodes, for any messages', () => {
    fc.assert(
      fc.property(fc.array(input, { maxLength: 6 }), (inputs) => {
        const checked = inputs.map((m) => encodeMessageRecord(checkMessage(m, 1_048_576)));
        expect(jsonOf(Buffer.concat(checked))).toBe(JSON.stringify(decoded(checked)));
      }),
      { numRuns: 300 },
    );
  });

  it('escapes what JSON escapes in ids and plain strings, and copies everything else as it is', () => {
    const inputs: MessageInput[] = [
      { id: 'a "quoted" \\ id', role: 'user', content: 'tab\t newline\n \u0000 \u001f quote" backslash\\ é 😀 \u2028 \u007f', timestamp: 1 },
      { id: 'plain', role: 'tool', content: 'no escapes at all', timestamp: 0.5, metadata: { k: 'v"' } },
    ];
    const records = inputs.map((m) => encodeMessageRecord(checkMessage(m, 1_048_576)));
    const text = jsonOf(Buffer.concat(records));
    expect(text).toBe(JSON.stringify(decoded(records)));
    expect(JSON.parse(text)[0].content).toBe(inputs[0]!.content);
  });

  it('writes [] for no messages, and reuses its buffer from one read to the next', () => {
    const writer = new MessagesJsonWriter(1 << 20, 16);
    writer.begin();
    expect(writer.finish().toString()).toBe('[]');
    const records = recordsOf([{ role: 'user', content: 'x'.repeat(100) }]);
    writer.begin();
    writer.add(records, 0);
    expect(JSON.parse(writer.finish().toString())).toHaveLength(1);
    writer.begin();
    expect(writer.finish().toString()).toBe('[]');
  });

  it('throws RangeError, before growing past it, when the text would pass its limit', () => {
    const records = recordsOf(Array.from({ length: 10 }, () => ({ role: 'user' as const, content: '0123456789' })));
    const whole = jsonOf(records);
    expect(jsonOf(records, Buffer.byteLength(whole))).toBe(whole);
    expect(() => jsonOf(records, Buffer.byteLength(whole) - 1)).toThrow(RangeError);
  });

  it('refuses a record of the first format (a store upgrades those before a read)', () => {
    const writer = new MessagesJsonWriter(1 << 20);
    writer.begin();
    expect(() => writer.add(Buffer.from(encodeLegacyMessageRecord('user', 'old', 1)), 0)).toThrow(TypeError);
  });
});
