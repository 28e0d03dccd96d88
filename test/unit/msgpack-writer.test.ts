import { describe, expect, it } from 'vitest';
import { decode } from '../../src/protocol/codec.js';
import { MsgpackWriter } from '../../src/protocol/msgpack-writer.js';

function roundTrip(write: (writer: MsgpackWriter) => void): unknown {
  const writer = new MsgpackWriter(8); // tiny, so that every test also grows the buffer
  write(writer);
  return decode(writer.finish());
}

describe('MsgpackWriter (the shard reply encoder) decodes with the one codec', () => {
  it('writes every integer from 0 to 70 000 as itself, including 0x40-0x7f which records reserve', () => {
    const values = Array.from({ length: 70_000 }, (_, i) => i);
    expect(
      roundTrip((w) => {
        w.arrayHeader(values.length);
        for (const v of values) w.number(v);
      }),
    ).toEqual(values);
  });

  it('writes large, negative and fractional numbers exactly', () => {
    const values = [2 ** 32, 1_795_634_898_487, Number.MAX_SAFE_INTEGER, -1, -(2 ** 40), 0.5, -0.25, 1e300];
    expect(
      roundTrip((w) => {
        w.arrayHeader(values.length);
        for (const v of values) w.number(v);
      }),
    ).toEqual(values);
  });

  it('writes strings of every header size, multibyte text included', () => {
    const values = [
      '',
      'a',
      'x'.repeat(31),
      'x'.repeat(32),
      'y'.repeat(255),
      'y'.repeat(256),
      'z'.repeat(65_535),
      'z'.repeat(65_536),
      'héllo wörld ✓ 😀'.repeat(50),
    ];
    expect(
      roundTrip((w) => {
        w.arrayHeader(values.length);
        for (const v of values) w.string(v);
      }),
    ).toEqual(values);
  });

  it('writes nil, booleans and nested arrays', () => {
    expect(
      roundTrip((w) => {
        w.arrayHeader(3);
        w.nil();
        w.boolean(true);
        w.arrayHeader(1);
        w.boolean(false);
      }),
    ).toEqual([null, true, [false]]);
  });

  it('finish() returns a copy that later writes do not change', () => {
    const writer = new MsgpackWriter(8);
    writer.string('first');
    const first = writer.finish();
    writer.reset();
    writer.string('second');
    expect(decode(first)).toBe('first');
  });
});
