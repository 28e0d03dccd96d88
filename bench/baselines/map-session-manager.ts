/**
 * The design session-shards replaces: every session in one `Map` on the host's own thread, idle expiry
 * checked on access and by a periodic sweep. Three ways to hand a session out: the live object (unsafe:
 * the caller can corrupt the store), a `structuredClone` copy, and a hand-written copy.
 */
import type { Message, MessageInput, Session } from '../../src/index.js';
import { newSessionId } from '../../src/main/session-ids.js';
// The engine's own boundary checks, so both sides pay the same validation per call.
import { checkSessionId, checkStoredMessage as checkMessage } from './stored-message.js';
import { CLEANUP_INTERVAL_MS, SESSION_TTL_MS, type SessionApi } from '../subject.js';

/** How `get()` hands a session to its caller. */
export type ReturnMode = 'live' | 'structuredClone' | 'hand-copy';

const MAX_MESSAGE_BYTES = 1_048_576;
const MAX_MESSAGES = 10_000;

function handCopy(session: Session, context: Message[]): Session {
  const messages = new Array<Message>(context.length);
  for (let i = 0; i < context.length; i++) {
    const m = context[i]!;
    messages[i] = { id: m.id, role: m.role, content: m.content, timestamp: m.timestamp };
  }
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
    length: messages.length,
  };
}

/** An in-process `Map` session manager with the engine's async API. */
export class MapSessionManager implements SessionApi {
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
        return structuredClone(context === session.context ? session : { ...session, context });
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
    return session.context.length;
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
