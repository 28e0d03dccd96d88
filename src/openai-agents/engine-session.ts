/**
 * `EngineSession`: the OpenAI Agents SDK's `Session` (conversation memory for `run(agent, input, { session })`)
 * kept in a `SessionEngine`. Each SDK item is one engine message (see `items.ts`), so the engine's windows,
 * limits, forks, persistence and Redis store all apply to it, and a second host on the same Redis continues
 * the same conversation.
 *
 * Only types come from `@openai/agents-core`: this module loads without the SDK installed.
 */
import type { AgentInputItem, Session as AgentsSession } from '@openai/agents-core';
import { InvalidArgumentError, SessionNotFoundError } from '../main/errors.js';
import type { SessionEngine } from '../main/session-engine.js';
import { checkCallOptions, checkSessionId, describeValue, readOption } from '../main/validation.js';
import type { Message, SessionId, SessionInit } from '../protocol/model.js';
import { itemToMessage, messageToItem } from './items.js';

/** Options of `new EngineSession(engine, options)`. */
export interface EngineSessionOptions {
  /**
   * The engine session to use (one that exists: a canonical ULID the engine made). Without it, the first call
   * of any method creates a session, with `init`, and every later call uses that one.
   */
  sessionId?: SessionId;
  /** The fields of the session created when no `sessionId` is given (`cwd`, `title`, `owner`, `metadata`, ...). */
  init?: SessionInit;
}

const OPTION_KEYS: readonly string[] = ['sessionId', 'init'];

/**
 * A conversation of the OpenAI Agents SDK kept in a `SessionEngine`: pass it as `run(agent, input, { session })`.
 * Items come back deep-equal to what was added. Every method rejects with the engine's typed errors
 * (`SessionEngineError` and its subclasses): `ERR_SESSION_NOT_FOUND` once the session expired or was removed,
 * `ERR_LIMIT_EXCEEDED` past the engine's limits (nothing is trimmed silently), `ERR_INVALID_ARGUMENT` for an
 * item that is not data.
 */
export class EngineSession implements AgentsSession {
  private readonly engine: SessionEngine;
  private readonly init: SessionInit | undefined;
  /** The session id, or the creation of the session under way; `undefined` until the first call needs it. */
  private id: Promise<SessionId> | undefined;

  /**
   * @param engine A started `SessionEngine`; it is not closed by this object.
   * @param options See `EngineSessionOptions`. Throws `InvalidArgumentError` for an unknown key or a bad value,
   *   `InvalidSessionIdError` for a `sessionId` that is not a canonical ULID.
   */
  constructor(engine: SessionEngine, options?: EngineSessionOptions) {
    if (typeof engine !== 'object' || engine === null || typeof (engine as Partial<SessionEngine>).appendMessages !== 'function') {
      throw new InvalidArgumentError(`engine must be a SessionEngine, got ${describeValue(engine)}`);
    }
    this.engine = engine;
    const given = checkCallOptions(options, OPTION_KEYS);
    const sessionId = given === undefined ? undefined : readOption(given, 'sessionId');
    const init = given === undefined ? undefined : readOption(given, 'init');
    if (sessionId !== undefined) {
      checkSessionId(sessionId, 'options.sessionId');
      if (init !== undefined)
        throw new InvalidArgumentError('options.init applies only to a session created here: it cannot be combined with options.sessionId');
      this.id = Promise.resolve(sessionId);
    }
    this.init = init;
  }

  /** The engine session's id; the first call without `options.sessionId` creates the session. */
  getSessionId(): Promise<string> {
    if (this.id === undefined) {
      const created = this.engine.create(this.init);
      this.id = created;
      // A failed create leaves no session behind: the next call tries again.
      created.catch(() => {
        if (this.id === created) this.id = undefined;
      });
    }
    return this.id;
  }

  /**
   * The history, oldest first; with `limit`, only the newest `limit` items (only those are read from the
   * engine). A `limit` of 0 or less gives `[]`, as the SDK's `MemorySession` does. Rejects
   * `ERR_SESSION_NOT_FOUND` if the session is unknown or expired.
   */
  async getItems(limit?: number): Promise<AgentInputItem[]> {
    if (limit !== undefined && !Number.isSafeInteger(limit)) throw new InvalidArgumentError(`limit must be an integer, got ${describeValue(limit)}`);
    const id = await this.getSessionId();
    if (limit !== undefined && limit <= 0) return [];
    const session = await this.engine.get(id, limit === undefined ? undefined : { lastMessages: limit });
    if (session === undefined) throw notFound(id);
    return session.context.map((message) => toItem(message, id));
  }

  /**
   * Appends the items, all or none, in one engine call. Rejects `ERR_INVALID_ARGUMENT` naming
   * `messages[i]` (the `i`-th item) for an item that is not data, and `ERR_LIMIT_EXCEEDED` past a limit.
   */
  async addItems(items: AgentInputItem[]): Promise<void> {
    const messages = toMessages(items, 'items');
    const id = await this.getSessionId();
    if (messages.length === 0) return;
    await this.engine.appendMessages(id, messages);
  }

  /** Removes the newest item and resolves it; `undefined` when there is none. */
  async popItem(): Promise<AgentInputItem | undefined> {
    const id = await this.getSessionId();
    const message = await this.engine.popMessage(id);
    return message === undefined ? undefined : toItem(message, id);
  }

  /** Removes every item; the session (its id, fields and metadata) stays. */
  async clearSession(): Promise<void> {
    const id = await this.getSessionId();
    await this.engine.spliceMessages(id, 0, Number.POSITIVE_INFINITY);
  }

  /**
   * Replaces the whole history with `items` (a compaction item and what follows it) in one atomic engine
   * call: a failure leaves the history as it was.
   */
  async replaceHistoryWithCompaction(items: AgentInputItem[]): Promise<void> {
    const messages = toMessages(items, 'items');
    const id = await this.getSessionId();
    await this.engine.spliceMessages(id, 0, Number.POSITIVE_INFINITY, messages);
  }
}

function notFound(id: SessionId): SessionNotFoundError {
  return new SessionNotFoundError(`session ${id} is unknown or expired`);
}

function toItem(message: Message, id: SessionId): AgentInputItem {
  return messageToItem(message, id) as AgentInputItem;
}

/** The messages storing `items`; throws naming `field[i]` unless `items` is an array of objects. */
function toMessages(items: unknown, field: string): ReturnType<typeof itemToMessage>[] {
  if (!Array.isArray(items)) throw new InvalidArgumentError(`${field} must be an array of items, got ${describeValue(items)}`);
  // A loop rather than map(), which would skip the holes of a sparse array instead of refusing them.
  const messages: ReturnType<typeof itemToMessage>[] = [];
  for (let i = 0; i < items.length; i++) {
    const item: unknown = items[i];
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw new InvalidArgumentError(`${field}[${i}] must be an item (an object), got ${describeValue(item)}`);
    }
    messages.push(itemToMessage(item));
  }
  return messages;
}
