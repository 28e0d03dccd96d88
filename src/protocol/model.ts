/**
 * The session model, shared by the main thread and the shard workers.
 *
 * It descends from the Rust design this library replaces: a session is a conversation
 * (its messages) plus what the Agent Client Protocol told us about the client.
 */

/** A session id: a ULID in canonical form (26 characters, uppercase Crockford base32). */
export type SessionId = string;

import type { ContentPart, JsonObject } from './content.js';

/** Who wrote a message: `tool` for what a tool answered, where a host keeps it as a message of its own. */
export type Role = 'user' | 'assistant' | 'system' | 'tool';

/** The roles. A record carries its role by name, so the order is free. */
export const ROLES: readonly Role[] = Object.freeze(['user', 'assistant', 'system', 'tool'] as const);

/** One message of a conversation, as the engine returns it. */
export interface Message {
  /**
   * Unique within its session: the one the caller gave (1-128 printable ASCII characters) or one minted
   * for it (a ULID). Messages stored before ids existed were given one when first loaded.
   */
  id: string;
  role: Role;
  /** A plain string (it comes back a string) or content parts: text, images, tool calls and results, thoughts. */
  content: string | ContentPart[];
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
  /** What the host keeps beside the message (model, token usage, ...); absent when none was given. */
  metadata?: JsonObject;
}

/**
 * What the client told the agent it can do, in the Agent Client Protocol's shape.
 * Unknown extra keys are kept as given.
 */
export interface ClientCapabilities {
  fs?: { readTextFile?: boolean; writeTextFile?: boolean };
  terminal?: boolean;
  [key: string]: unknown;
}

/** A conversation session as the engine returns it. Every returned object is the caller's own copy. */
export interface Session {
  id: SessionId;
  /** Milliseconds since the Unix epoch. */
  createdAt: number;
  /** Milliseconds since the Unix epoch; refreshed by every access. */
  lastAccessed: number;
  context: Message[];
  clientCapabilities: ClientCapabilities | null;
  /** The names of the MCP servers the session uses. */
  mcpServers: string[];
  /** The session's working directory, an absolute path; `null` when never set. */
  cwd: string | null;
  /** A human-readable title; `null` when never set. */
  title: string | null;
  /**
   * Milliseconds since the Unix epoch: the last create, append or update (reads and touches leave it).
   * Sessions encoded before format 2 report their `lastAccessed` instead.
   */
  updatedAt: number;
  /** Who the session belongs to (an authenticated principal, say); `null` when never set. */
  owner: string | null;
  /** What the host keeps beside the session (a JSON object); `null` when never set. */
  metadata: JsonObject | null;
  /** The messages the session holds: `context.length` unless a window of them was read. */
  length: number;
}

/**
 * What `getMessagesJson()` resolves: a read's messages as JSON text, and how many the session holds.
 * `JSON.parse(json)` gives exactly the `context` that `get()` with the same options gives.
 */
export interface MessagesJson {
  /** The JSON text of the messages read (an array), as `JSON.stringify` writes it. */
  json: string;
  /** The messages the session holds, whatever the window read. */
  length: number;
}

/**
 * What `create()` accepts. `cwd`, `title` and `owner` given as `null` (or left out) stay unset and come
 * back as `null`.
 */
export interface SessionInit {
  clientCapabilities?: ClientCapabilities | null;
  mcpServers?: string[];
  /** An absolute path. */
  cwd?: string | null;
  title?: string | null;
  /** A non-empty string. */
  owner?: string | null;
  /** A JSON object (at most `maxMetadataBytes` as JSON); `null` or left out: none. */
  metadata?: JsonObject | null;
}

/** What `update()` accepts: each field given replaces the stored one (metadata whole); `null` clears `cwd`, `title`, `owner` or `metadata`. */
export type SessionUpdate = SessionInit;

/**
 * Fills in what a session decoded from an older encoding (the format 1 Session record) lacks, so that every
 * session has the same keys: `cwd`, `title` and `owner` as `null`, `updatedAt` as its `lastAccessed`.
 * Returns the same object.
 */
export function upgradeSession(session: Omit<Session, 'cwd' | 'title' | 'updatedAt' | 'owner' | 'metadata' | 'length'> & Partial<Session>): Session {
  session.cwd ??= null;
  session.title ??= null;
  session.updatedAt ??= session.lastAccessed;
  session.owner ??= null;
  session.metadata ??= null;
  session.length ??= session.context.length;
  return session as Session;
}

/**
 * A message to append: `id` is minted (a ULID) when left out, `timestamp` defaults to the time of the call.
 * Any other field is refused (`ERR_INVALID_ARGUMENT`): nothing is ever dropped.
 */
export interface MessageInput {
  id?: string;
  role: Role;
  content: string | ContentPart[];
  timestamp?: number;
  metadata?: JsonObject;
}
