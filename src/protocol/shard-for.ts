/**
 * Which shard owns a session: a pure function of the id and the shard count.
 *
 * A ULID's first 10 characters are its creation time, identical for ids made in the same millisecond,
 * so the whole id is hashed (FNV-1a, then a final avalanche) rather than a prefix taken.
 */
export function shardFor(id: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  }
  // FNV-1a's low bits mix poorly; fold the high bits in before reducing.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  return (hash >>> 0) % shards;
}
