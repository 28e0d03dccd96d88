/**
 * The Redis keys of a session. All carry the id as the hash tag (`{...}`), so they live in one Redis
 * Cluster slot and every script that touches a session runs on one node.
 *
 * An engine given a `keyPrefix` (several apps sharing one Redis) puts it in front of every key: the engine
 * prefixes the keys itself rather than leaving it to ioredis, which prefixes the keys of commands but not
 * the pattern of a `SCAN` nor the keys a keyspace notification names. The prefix holds no brace (see
 * `store-options.ts`), so the id stays the hash tag and sessions still spread over a cluster's slots.
 * The scripts build no key of their own: every key they touch arrives as one of their KEYS.
 */
import type { SessionId } from '../../protocol/model.js';

/** What every key the engine writes starts with, after the key prefix. */
export const KEY_PREFIX = 'ss:';

/** A ULID: 26 Crockford base-32 digits. */
const ID = '([0-9A-HJKMNP-TV-Z]{26})';

/** Escapes the characters a Redis glob pattern (`SCAN MATCH`) treats specially. */
function globEscape(text: string): string {
  return text.replace(/[\\*?[\]^]/g, (char) => `\\${char}`);
}

/** Escapes the characters a regular expression treats specially. */
function regexEscape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, (char) => `\\${char}`);
}

/** The keys of one engine's sessions, under its key prefix (`''`: none). */
export class KeySpace {
  /** What `SCAN` matches to find every session: one meta key each. */
  readonly metaPattern: string;
  private readonly metaKeyPattern: RegExp;
  private readonly start: string;

  constructor(readonly prefix = '') {
    this.start = `${prefix}${KEY_PREFIX}`;
    this.metaPattern = `${globEscape(this.start)}{*}:m`;
    this.metaKeyPattern = new RegExp(`^${regexEscape(this.start)}\\{${ID}\\}:m$`);
  }

  /** A hash of the session's fields (see `lua-scripts.ts` for its layout). */
  meta(id: SessionId): string {
    return `${this.start}{${id}}:m`;
  }

  /** A list of the session's messages, each one encoded Message record. */
  log(id: SessionId): string {
    return `${this.start}{${id}}:l`;
  }

  /**
   * A set of the ids of the session's messages, so that an append or a splice checks an id's uniqueness in
   * O(1) rather than by reading the log (see `lua-scripts.ts`).
   */
  ids(id: SessionId): string {
    return `${this.start}{${id}}:i`;
  }

  /** The three keys of a session, in the order every script takes them. */
  session(id: SessionId): [string, string, string] {
    return [this.meta(id), this.log(id), this.ids(id)];
  }

  /**
   * The id of one of this key space's meta keys, or `null` for any other key: a log key, someone else's
   * key, or a session's key under another prefix (two apps sharing a Redis never see each other's).
   */
  idOfMetaKey(key: string): SessionId | null {
    return this.metaKeyPattern.exec(key)?.[1] ?? null;
  }
}

/** The keys without a prefix. */
const UNPREFIXED = new KeySpace();

/** The meta hash of session `id` under `prefix`. */
export function metaKey(id: SessionId, prefix = ''): string {
  return prefix === '' ? UNPREFIXED.meta(id) : new KeySpace(prefix).meta(id);
}

/** The message list of session `id` under `prefix`. */
export function logKey(id: SessionId, prefix = ''): string {
  return prefix === '' ? UNPREFIXED.log(id) : new KeySpace(prefix).log(id);
}

/** The message id set of session `id` under `prefix`. */
export function idsKey(id: SessionId, prefix = ''): string {
  return prefix === '' ? UNPREFIXED.ids(id) : new KeySpace(prefix).ids(id);
}

/** The id of an unprefixed meta key, or `null` for any other key. */
export function idOfMetaKey(key: string): SessionId | null {
  return UNPREFIXED.idOfMetaKey(key);
}
