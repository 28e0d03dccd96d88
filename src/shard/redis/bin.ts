/** A msgpack bin value for a reply (`MsgpackWriter` writes no bin of its own). */
import type { MsgpackWriter } from '../../protocol/msgpack-writer.js';

/** Writes `bytes` as one msgpack bin (bin8, bin16 or bin32 header, then the bytes). */
export function writeBin(writer: MsgpackWriter, bytes: Uint8Array): void {
  const length = bytes.length;
  const at = writer.length;
  const headerBytes = length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
  const target = writer.reserve(headerBytes + length);
  if (headerBytes === 2) {
    target[at] = 0xc4;
    target[at + 1] = length;
  } else if (headerBytes === 3) {
    target[at] = 0xc5;
    target.writeUInt16BE(length, at + 1);
  } else {
    target[at] = 0xc6;
    target.writeUInt32BE(length, at + 1);
  }
  target.set(bytes, at + headerBytes);
  writer.advanceTo(at + headerBytes + length);
}
