/**
 * The design session-shards replaces: every session in one `Map` on the host's own thread, idle expiry
 * checked on access and by a periodic sweep. Three ways to hand a session out: the live object (unsafe:
 * the caller can corrupt the store), a `structuredClone` copy, and a hand-written copy.
 */
import type { ContentPart, Json, Message, MessageInput, Session } from '../../src/index.js';
import { newSessionId } from '../../src/main/session-ids.js';
// The engine's own boundary checks, so both sides pay the same validation per call.
import { checkSessionId, checkStoredMessage as checkMessage, checkStoredMessages, spliceBounds } from './stored-message.js';
import { CLEANUP_INTERVAL_MS, SESSION_TTL_MS, type SessionApi } from '../subject.js';
import type { AgentApi } from '../agent-turns.js';

/** How `get()` hands a session to its caller. */
export type ReturnMode = 'live' | 'structuredClone' | 'hand-copy';

const MAX_MESSAGE_BYTES = 1_048_576;
const MAX_MESSAGES = 10_000;

/** A copy of a JSON value, written out by hand (what a careful user writes instead of `structuredClone`). */
function copyJson(value: Json): Json {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(copyJson);
  const out: { [key: string]: Json } = {};
  for (const key in value) out[key] = copyJson(value[key]!);
  return out;
}

function copyMessage(m: Message): Message {
  const copy: Message = {
    id: m.id,
    role: m.role,
    content: typeof m.content === 'string' ? m.content : (copyJson(m.content as Json) as ContentPart[]),
    timestamp: m.timestamp,
  };
  if (m.metadata !== undefined) copy.metadata = copyJson(m.metadata) as Message['metadata'] & object;
  return copy;
}

function handCopy(session: Session, context: Message[]): Session {
  const messages = new Array<Message>(context.length);
  for (let i = 0; i < context.length; i++) messages[i] = copyMessage(context[i]!);
  const caps = session.clientCapabilities;
  return {
    id: session.id,
    createdAt: session.createdAt,
    lastAccessed: session.lastAccessed,
    context: messages,
    clientCapabilities: caps === null ? null : caps.fs === undefined ? { ...caps } : { ...caps, fs: { ...caps.fs } },
    mcpServers: session.mcpServers.slice(),
    cwd: session.cwd,
    title: session.title,
    updatedAt: session.updatedAt,
    owner: session.owner,
    metadata: session.metadata,
    length: session.context.length,
  };
}

/** An in-process `Map` session manager with the engine's async API. */
export class MapSessionManager implements SessionApi, AgentApi {
  private readonly sessions = new Map<string, Session>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    readonly mode: ReturnMode,
    private readonly ttlMs = SESSION_TTL_MS,
  ) {
    this.sweeper = setInterval(() => this.sweep(), CLEANUP_INTERVAL_MS).unref();
  }

  /** Sessions held. */
  get size(): number {
    return this.sessions.size;
  }

  async create(): Promise<string> {
    const id = newSessionId();
    const now = Date.now();
    this.sessions.set(id, {
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
    const now = Date.now();
    const session = this.live(id, now);
    if (session === undefined) return undefined;
    session.lastAccessed = now;
    const last = options?.lastMessages;
    const context = last === undefined || last >= session.context.length ? session.context : last === 0 ? [] : session.context.slice(-last);
    switch (this.mode) {
      case 'live':
        return context === session.context ? session : { ...session, context };
      case 'structuredClone':
        return structuredClone(context === session.context ? session : { ...session, context, length: session.context.length });
      case 'hand-copy':
        return handCopy(session, context);
    }
  }

  async appendMessage(id: string, message: MessageInput): Promise<number> {
    checkSessionId(id);
    const stored = checkMessage(message, MAX_MESSAGE_BYTES);
    const now = Date.now();
    const session = this.live(id, now);
    if (session === undefined) throw new Error(`no session ${id}`);
    if (session.context.length >= MAX_MESSAGES) throw new Error(`session ${id} is full`);
    session.context.push(stored);
    session.lastAccessed = now;
    session.length = session.context.length;
    return session.context.length;
  }

  /** All or none: every message is checked and the limit is checked before any is stored. */
  async appendMessages(id: string, messages: readonly MessageInput[]): Promise<number> {
    checkSessionId(id);
    const stored = checkStoredMessages(messages, MAX_MESSAGE_BYTES);
    const now = Date.now();
    const session = this.live(id, now);
    if (session === undefined) throw new Error(`no session ${id}`);
    if (session.context.length + stored.length > MAX_MESSAGES) throw new Error(`session ${id} is full`);
    for (const message of stored) session.context.push(message);
    session.lastAccessed = now;
    session.length = session.context.length;
    return session.context.length;
  }

  /** As `Array.prototype.splice`; the removed messages are the caller's (no longer the store's). */
  async spliceMessages(id: string, start: number, deleteCount: number, insert: readonly MessageInput[] = []): Promise<Message[]> {
    checkSessionId(id);
    const stored = checkStoredMessages(insert, MAX_MESSAGE_BYTES);
    const now = Date.now();
    const session = this.live(id, now);
    if (session === undefined) throw new Error(`no session ${id}`);
    const { from, count } = spliceBounds(session.context.length, start, deleteCount);
    if (session.context.length - count + stored.length > MAX_MESSAGES) throw new Error(`session ${id} is full`);
    const removed = session.context.splice(from, count, ...stored);
    session.lastAccessed = now;
    session.length = session.context.length;
    return removed;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.sessions.clear();
  }

  private live(id: string, now: number): Session | undefined {
    const session = this.sessions.get(id);
    if (session === undefined) return undefined;
    if (now - session.lastAccessed > this.ttlMs) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, session] of this.sessions) if (now - session.lastAccessed > this.ttlMs) this.sessions.delete(id);
  }
}
