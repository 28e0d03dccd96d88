/**
 * The one API shape every benchmarked variant presents: the engine's own create / get / appendMessage,
 * each returning a promise, so that every variant pays for a promise per call like the engine does.
 */
import type { MessageInput, Session } from '../src/index.js';

/** What a benchmark drives; `SessionEngine` satisfies it as it is. */
export interface SessionApi {
  create(): Promise<string>;
  get(id: string, options?: { lastMessages?: number }): Promise<Session | undefined>;
  appendMessage(id: string, message: MessageInput): Promise<number>;
  close(): Promise<void>;
}

/** Idle time before a session expires in every in-process baseline: the engine's default. */
export const SESSION_TTL_MS = 3_600_000;

/** How often the in-process baselines sweep expired sessions: the engine's default. */
export const CLEANUP_INTERVAL_MS = 300_000;
