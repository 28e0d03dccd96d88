/**
 * The Redis keys of a session. All carry the id as the hash tag (`{...}`), so they live in one Redis
 * Cluster slot and every script that touches a session runs on one node.
 */
import type { SessionId } from '../../protocol/model.js';

/** The prefix of every key the engine writes. */
export const KEY_PREFIX = 'ss:';

/** A hash of the session's fields (see `lua-scripts.ts` for its layout). */
export function metaKey(id: SessionId): string {
  return `${KEY_PREFIX}{${id}}:m`;
}

/** A list of the session's messages, each one encoded Message record. */
export function logKey(id: SessionId): string {
  return `${KEY_PREFIX}{${id}}:l`;
}

/**
 * A set of the ids of the session's messages, so that an append or a splice checks an id's uniqueness in
 * O(1) rather than by reading the log (see `lua-scripts.ts`).
 */
export function idsKey(id: SessionId): string {
  return `${KEY_PREFIX}{${id}}:i`;
}

/** The three keys of a session, in the order every script takes them. */
export function sessionKeys(id: SessionId): [string, string, string] {
  return [metaKey(id), logKey(id), idsKey(id)];
}

/** What `SCAN` matches to find every session: one meta key each. */
export const META_PATTERN = `${KEY_PREFIX}{*}:m`;

const META_KEY = /^ss:\{([0-9A-HJKMNP-TV-Z]{26})\}:m$/;

/** The id of a meta key, or `null` for any other key (a log key, someone else's key). */
export function idOfMetaKey(key: string): SessionId | null {
  return META_KEY.exec(key)?.[1] ?? null;
}
