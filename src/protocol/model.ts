/**
 * The session model, shared by the main thread and the shard workers.
 *
 * It descends from the Rust design this library replaces: a session is a conversation
 * (its messages) plus what the Agent Client Protocol told us about the client.
 */

/** A session id: a ULID in canonical form (26 characters, uppercase Crockford base32). */
export type SessionId = string;

/** Who wrote a message. */
export type Role = 'user' | 'assistant' | 'system';

/** The roles, in the order the wire format numbers them. */
export const ROLES: readonly Role[] = Object.freeze(['user', 'assistant', 'system'] as const);

/** One message of a conversation. */
export interface Message {
  role: Role;
  content: string;
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
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
}

/** What `update()` accepts: each field given replaces the stored one; `null` clears `cwd`, `title` or `owner`. */
export type SessionUpdate = SessionInit;

/**
 * Fills in what a session decoded from an older encoding (the format 1 Session record) lacks, so that every
 * session has the same keys: `cwd`, `title` and `owner` as `null`, `updatedAt` as its `lastAccessed`.
 * Returns the same object.
 */
export function upgradeSession(session: Omit<Session, 'cwd' | 'title' | 'updatedAt' | 'owner'> & Partial<Session>): Session {
  session.cwd ??= null;
  session.title ??= null;
  session.updatedAt ??= session.lastAccessed;
  session.owner ??= null;
  return session as Session;
}

/** What `appendMessage()` accepts; `timestamp` defaults to the time of the call. */
export interface MessageInput {
  role: Role;
  content: string;
  timestamp?: number;
}
