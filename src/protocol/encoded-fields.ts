/**
 * A session's structured fields as the shards keep them: encoded once, when they arrive, and copied into
 * every read as they are. Both stores (memory and Redis) encode them here, so that they stay byte-identical.
 */
import { decodeForeign, encode } from './codec.js';
import type { ClientCapabilities } from './model.js';

/** The encoded `null`, shared. */
export const NULL_BYTES = Uint8Array.of(0xc0);
const EMPTY_ARRAY_BYTES = Uint8Array.of(0x90);

/**
 * Encoded capabilities; the common `null` shares one constant. Bytes (as the host sends them, encoded as
 * it checked them) are kept as they are, in a copy of their own: a decoded batch's bin is a view of the
 * whole batch, which must not live as long as the session.
 */
export function encodeCapabilities(capabilities: ClientCapabilities | Uint8Array | null): Uint8Array {
  if (capabilities instanceof Uint8Array) return ownCopy(capabilities);
  return capabilities === null ? NULL_BYTES : encode(capabilities);
}

/** Encoded server names; the common empty list shares one constant. Bytes are kept as `encodeCapabilities` keeps them. */
export function encodeServers(servers: string[] | Uint8Array): Uint8Array {
  if (servers instanceof Uint8Array) return ownCopy(servers);
  return servers.length === 0 ? EMPTY_ARRAY_BYTES : encode(servers);
}

function ownCopy(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 1 && bytes[0] === NULL_BYTES[0]) return NULL_BYTES;
  if (bytes.length === 1 && bytes[0] === EMPTY_ARRAY_BYTES[0]) return EMPTY_ARRAY_BYTES;
  return Uint8Array.prototype.slice.call(bytes);
}

/**
 * Session metadata as a shard keeps it: a msgpack bin of its JSON text (which the host parses when a read
 * returns it), or nil for none. `json` is the host's checked JSON text, or `null`.
 */
export function encodeMetadata(json: Uint8Array | null): Uint8Array {
  if (json === null) return NULL_BYTES;
  const length = json.length;
  const header = length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
  const bytes = Buffer.allocUnsafe(header + length);
  bytes[0] = header === 2 ? 0xc4 : header === 3 ? 0xc5 : 0xc6;
  if (header === 2) bytes[1] = length;
  else if (header === 3) bytes.writeUInt16BE(length, 1);
  else bytes.writeUInt32BE(length, 1);
  bytes.set(json, header);
  return bytes;
}

/**
 * An encoded field read back from data an earlier release wrote (a snapshot, a log, a store), encoded
 * again by this release. Such bytes may define records inline under ids that are shared structures now
 * (format 3 added three): decoding them with the shared codec would redefine those structures for every
 * later decode on the host. Re-encoding (decoded on a codec of its own) gives ids past the shared ones.
 */
export function reencodeStoredField(bytes: Uint8Array): Uint8Array {
  if (bytes.length <= 1) return ownCopy(bytes);
  return encode(decodeForeign(bytes));
}
