/**
 * What a user picks instead in-process: lru-cache with a `ttl` refreshed by every read
 * (`updateAgeOnGet`), bounded by `max`. It returns the live object, as lru-cache users usually do.
 */
import { LRUCache } from 'lru-cache';
import type { Message, MessageInput, Session } from '../../src/index.js';
import { newSessionId } from '../../src/main/session-ids.js';
import { checkSessionId, checkStoredMessage as checkMessage, checkStoredMessages, spliceBounds } from './stored-message.js';
import { SESSION_TTL_MS, type SessionApi } from '../subject.js';
import type { AgentApi } from '../agent-turns.js';

const MAX_MESSAGE_BYTES = 1_048_576;

/** An lru-cache session manager with the engine's async API. */
export class LruSessionManager implements SessionApi, AgentApi {
  private readonly cache: LRUCache<string, Session>;

  constructor(maxSessions: number) {
    this.cache = new LRUCache<string, Session>({ max: maxSessions, ttl: SESSION_TTL_MS, updateAgeOnGet: true, ttlAutopurge: false });
  }

  async create(): Promise<string> {
    const id = newSessionId();
    const now = Date.now();
    this.cache.set(id, {
      id,
      createdAt: now,
      lastAccessed: now,
      context: [],
      clientCapabilities: null,
      mcpServers: [],
      cwd: null,
      title: null,
      updatedAt: now,
      owner: null,
      metadata: null,
      length: 0,
    });
    return id;
  }

  async get(id: string, options?: { lastMessages?: number }): Promise<Session | undefined> {
    checkSessionId(id);
    const session = this.cache.get(id);
    if (session === undefined) return undefined;
    session.lastAccessed = Date.now();
    const last = options?.lastMessages;
    if (last === undefined || last >= session.context.length) return session;
    return { ...session, context: last === 0 ? [] : session.context.slice(-last) };
  }

  async appendMessage(id: string, message: MessageInput): Promise<number> {
    checkSessionId(id);
    const stored = checkMessage(message, MAX_MESSAGE_BYTES);
    const session = this.cache.get(id);
    if (session === undefined) throw new Error(`no session ${id}`);
    session.context.push(stored);
    session.lastAccessed = Date.now();
    session.length = session.context.length;
    return session.context.length;
  }

  async appendMessages(id: string, messages: readonly MessageInput[]): Promise<number> {
    checkSessionId(id);
    const stored = checkStoredMessages(messages, MAX_MESSAGE_BYTES);
    const session = this.cache.get(id);
    if (session === undefined) throw new Error(`no session ${id}`);
    for (const message of stored) session.context.push(message);
    session.lastAccessed = Date.now();
    session.length = session.context.length;
    return session.context.length;
  }

  async spliceMessages(id: string, start: number, deleteCount: number, insert: readonly MessageInput[] = []): Promise<Message[]> {
    checkSessionId(id);
    const stored = checkStoredMessages(insert, MAX_MESSAGE_BYTES);
    const session = this.cache.get(id);
    if (session === undefined) throw new Error(`no session ${id}`);
    const { from, count } = spliceBounds(session.context.length, start, deleteCount);
    const removed = session.context.splice(from, count, ...stored);
    session.lastAccessed = Date.now();
    session.length = session.context.length;
    return removed;
  }

  async close(): Promise<void> {
    this.cache.clear();
  }
}
