/**
 * A session's structured fields as the shards keep them: encoded once, when they arrive, and copied into
 * every read as they are. Both stores (memory and Redis) encode them here, so that they stay byte-identical.
 */
import { encode } from './codec.js';
import type { ClientCapabilities } from './model.js';

const NULL_BYTES = Uint8Array.of(0xc0);
const EMPTY_ARRAY_BYTES = Uint8Array.of(0x90);

/** Encoded capabilities; the common `null` shares one constant. */
export function encodeCapabilities(capabilities: ClientCapabilities | null): Uint8Array {
  return capabilities === null ? NULL_BYTES : encode(capabilities);
}

/** Encoded server names; the common empty list shares one constant. */
export function encodeServers(servers: string[]): Uint8Array {
  return servers.length === 0 ? EMPTY_ARRAY_BYTES : encode(servers);
}
