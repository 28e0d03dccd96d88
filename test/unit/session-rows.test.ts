import { describe, expect, it } from 'vitest';
import { LogArena } from '../../src/shard/memory/log-arena.js';
import { SessionRows } from '../../src/shard/memory/session-rows.js';
import { encodeCapabilities, encodeServers } from '../../src/protocol/encoded-fields.js';
import { newStoredSession, releaseStoredSession, type StoredSession } from '../../src/shard/memory/stored-session.js';

const arena = new LogArena();

function sessionIn(rows: SessionRows, n: number): StoredSession {
  return newStoredSession(rows, arena, `01JAAAAAAAAAAAAAAAAAA${String(n).padStart(5, '0')}`, n, encodeCapabilities(null), encodeServers([]));
}

describe('the rows of a shard’s sessions', () => {
  it('keeps each session’s row and its values as the rows grow', () => {
    const rows = new SessionRows(2);
    const sessions = Array.from({ length: 3_000 }, (_, n) => sessionIn(rows, n));
    sessions.forEach((session, n) => {
      session.lastAccessed = n * 10;
      session.updatedAt = n * 10 + 1;
    });
    expect(new Set(sessions.map((s) => s.row)).size).toBe(sessions.length);
    sessions.forEach((session, n) => {
      expect(rows.sessions[session.row]).toBe(session);
      expect(session.lastAccessed).toBe(n * 10);
      expect(session.updatedAt).toBe(n * 10 + 1);
      expect(session.createdAt).toBe(n);
    });
    expect(rows.size).toBe(sessions.length);
  });

  it('gives a released row to the next session, with that session’s own values', () => {
    const rows = new SessionRows(4);
    const first = sessionIn(rows, 1);
    first.lastAccessed = 99;
    releaseStoredSession(first);
    expect(rows.sessions[first.row]).toBeUndefined();
    const next = sessionIn(rows, 2);
    expect(next.row).toBe(first.row);
    expect(next.lastAccessed).toBe(2);
    expect(next.messageCount).toBe(0);
    expect(rows.size).toBe(1);
  });

  it('visits every session once while rows are given back and taken during the visit', () => {
    const rows = new SessionRows(4);
    const sessions = Array.from({ length: 10 }, (_, n) => sessionIn(rows, n));
    const seen: StoredSession[] = [];
    for (const session of rows.values()) {
      seen.push(session);
      if (session === sessions[2]) {
        // One behind the visit and one ahead go; two take rows: the freed one behind, and a new one.
        releaseStoredSession(sessions[0]!);
        releaseStoredSession(sessions[7]!);
        for (const n of [100, 101, 102]) sessionIn(rows, n);
      }
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).not.toContain(sessions[7]);
    for (const session of sessions) if (session !== sessions[7] && session !== sessions[0]) expect(seen).toContain(session);
    // Those added meanwhile: visited or not, but once at most (checked above) and never a released one.
    for (const session of seen) expect(rows.sessions[session.row] === session || session === sessions[0]).toBe(true);
  });
});
