import { methods, type McpServer, type SessionUpdate } from '@agentclientprotocol/sdk';
import { describe, expect, it } from 'vitest';
import { sleep, withEngine } from '../helpers/engine.js';
import { connect, connectInitialized, echo, rejection } from './helpers.js';

const RESOURCE_NOT_FOUND = -32002;
const INVALID_PARAMS = -32602;
const AUTH_REQUIRED = -32000;
const NEVER_ISSUED = '01JZZZZZZZZZZZZZZZZZZZZZZZ';
const STDIO_SERVER: McpServer = { name: 'filesystem', command: '/usr/bin/mcp-fs', args: [], env: [] };

const text = (update: SessionUpdate) =>
  (update.sessionUpdate === 'user_message_chunk' || update.sessionUpdate === 'agent_message_chunk') && update.content.type === 'text'
    ? update.content.text
    : undefined;

describe('the ACP adapter driven by the SDK client, in-process', () => {
  it('serves a whole life: initialize, new, prompt turns, list, load with replay, resume, close, delete', async () => {
    await withEngine({ shards: 2 }, async (engine) => {
      const first = connect(engine, { pageSize: 3 });
      try {
        const init = await first.agent.request(methods.agent.initialize, {
          protocolVersion: 1,
          clientCapabilities: { fs: { readTextFile: true }, terminal: true },
        });
        expect(init.agentCapabilities).toMatchObject({ loadSession: true, sessionCapabilities: { list: {}, resume: {}, close: {}, delete: {} } });

        expect(await rejection(first.agent.request(methods.agent.session.new, { cwd: 'relative/dir', mcpServers: [] }))).toMatchObject({
          code: INVALID_PARAMS,
        });

        const { sessionId } = await first.agent.request(methods.agent.session.new, { cwd: '/work/project', mcpServers: [STDIO_SERVER] });
        expect(await engine.get(sessionId)).toMatchObject({
          cwd: '/work/project',
          clientCapabilities: { fs: { readTextFile: true }, terminal: true },
          mcpServers: ['filesystem'],
          owner: null,
          context: [],
        });

        const prompts = ['Fix the failing test\nin module a', 'and the linter', 'thanks'];
        for (const prompt of prompts) {
          const answer = await first.agent.request(methods.agent.session.prompt, { sessionId, prompt: [{ type: 'text', text: prompt }] });
          expect(answer.stopReason).toBe('end_turn');
        }
        expect(first.updates.map((n) => text(n.update))).toEqual(prompts.map(echo));
        const stored = (await engine.get(sessionId))!;
        expect(stored.context.map((m) => [m.role, m.content])).toEqual(
          prompts.flatMap((p) => [
            ['user', p],
            ['assistant', echo(p)],
          ]),
        );
        expect(stored.title).toBe('Fix the failing test');
        // ACP has no update for a system message: it is stored but never replayed.
        await engine.appendMessage(sessionId, { role: 'system', content: 'be brief' });

        // More sessions, in two directories, to page through.
        const inProject = [sessionId];
        const elsewhere: string[] = [];
        for (let i = 0; i < 6; i++) {
          const cwd = i % 2 === 0 ? '/work/project' : '/work/other';
          const created = await first.agent.request(methods.agent.session.new, { cwd, mcpServers: [] });
          (i % 2 === 0 ? inProject : elsewhere).push(created.sessionId);
        }
        const newestFirst = (ids: string[]) => [...ids].sort().reverse();
        const listAll = async (cwd?: string) => {
          const pages: string[][] = [];
          let cursor: string | undefined;
          do {
            const page = await first.agent.request(methods.agent.session.list, {
              ...(cwd === undefined ? {} : { cwd }),
              ...(cursor === undefined ? {} : { cursor }),
            });
            pages.push(page.sessions.map((s) => s.sessionId));
            for (const info of page.sessions) {
              expect(info.cwd).toBe(cwd ?? info.cwd);
              expect(new Date(info.updatedAt!).toISOString()).toBe(info.updatedAt);
            }
            cursor = page.nextCursor ?? undefined;
          } while (cursor !== undefined);
          return pages;
        };
        const pages = await listAll();
        expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
        expect(pages.flat()).toEqual(newestFirst([...inProject, ...elsewhere]));
        expect((await listAll('/work/project')).flat()).toEqual(newestFirst(inProject));
        expect((await listAll('/work/other')).flat()).toEqual(newestFirst(elsewhere));
        let listed = (await first.agent.request(methods.agent.session.list, { cwd: '/work/project', cursor: null })).sessions;
        expect(listed.map((s) => s.title)).toEqual([null, null, null]);
        listed = (
          await first.agent.request(methods.agent.session.list, {
            cwd: '/work/project',
            cursor: (await first.agent.request(methods.agent.session.list, { cwd: '/work/project' })).nextCursor!,
          })
        ).sessions;
        const updatedAt = new Date((await engine.get(sessionId))!.updatedAt).toISOString();
        expect(listed).toEqual([{ sessionId, cwd: '/work/project', title: 'Fix the failing test', updatedAt }]);
        expect(await rejection(first.agent.request(methods.agent.session.list, { cursor: 'not-a-cursor' }))).toMatchObject({ code: INVALID_PARAMS });
      } finally {
        await first.close();
      }

      // A fresh connection loads the session: the history comes back as updates, in order, before the answer.
      const [sessionId] = await engine.list({ cwd: '/work/project', order: 'asc', limit: 1 });
      const second = await connectInitialized(engine);
      try {
        expect(
          await rejection(second.agent.request(methods.agent.session.prompt, { sessionId: sessionId!, prompt: [{ type: 'text', text: 'not yet' }] })),
        ).toMatchObject({ code: RESOURCE_NOT_FOUND });
        await second.agent.request(methods.agent.session.load, { sessionId: sessionId!, cwd: '/work/project', mcpServers: [] });
        const history = (await engine.get(sessionId!))!.context.filter((m) => m.role !== 'system');
        expect(history).toHaveLength(6);
        expect(second.updates.every((n) => n.sessionId === sessionId)).toBe(true);
        expect(second.updates.map((n) => [n.update.sessionUpdate, text(n.update)])).toEqual(
          history.map((m) => [m.role === 'user' ? 'user_message_chunk' : 'agent_message_chunk', m.content]),
        );
        // A prompt now works on this connection, and is appended after the history.
        await second.agent.request(methods.agent.session.prompt, { sessionId: sessionId!, prompt: [{ type: 'text', text: 'loaded' }] });
        expect((await engine.get(sessionId!, { lastMessages: 2 }))!.context.map((m) => m.content)).toEqual(['loaded', echo('loaded')]);

        // close: prompts on this connection now fail; closing again (or an unknown id) is still fine for the SDK client.
        await second.agent.request(methods.agent.session.close, { sessionId: sessionId! });
        expect(
          await rejection(second.agent.request(methods.agent.session.prompt, { sessionId: sessionId!, prompt: [{ type: 'text', text: 'closed' }] })),
        ).toMatchObject({ code: RESOURCE_NOT_FOUND });
        await second.agent.request(methods.agent.session.close, { sessionId: NEVER_ISSUED });
        expect(await engine.get(sessionId!)).toBeDefined();
      } finally {
        await second.close();
      }

      // resume restores without replay.
      const third = await connectInitialized(engine);
      try {
        await third.agent.request(methods.agent.session.resume, { sessionId: sessionId!, cwd: '/work/project' });
        expect(third.updates).toEqual([]);
        await third.agent.request(methods.agent.session.prompt, { sessionId: sessionId!, prompt: [{ type: 'text', text: 'resumed' }] });
        expect(third.updates.map((n) => text(n.update))).toEqual([echo('resumed')]);

        // delete removes it; deleting it again, or an id never issued, succeeds silently.
        await third.agent.request(methods.agent.session.delete, { sessionId: sessionId! });
        expect(await engine.get(sessionId!)).toBeUndefined();
        await third.agent.request(methods.agent.session.delete, { sessionId: sessionId! });
        await third.agent.request(methods.agent.session.delete, { sessionId: 'not even an id' });
        expect(
          await rejection(third.agent.request(methods.agent.session.prompt, { sessionId: sessionId!, prompt: [{ type: 'text', text: 'gone' }] })),
        ).toMatchObject({ code: RESOURCE_NOT_FOUND });
      } finally {
        await third.close();
      }
    });
  });

  it('answers unknown, malformed, deleted and expired ids with resource not found', async () => {
    await withEngine({ shards: 1, maxSessionAgeMs: 300, cleanupIntervalMs: 60_000 }, async (engine) => {
      const connection = await connectInitialized(engine);
      try {
        for (const sessionId of [NEVER_ISSUED, 'nonsense', '']) {
          const load = await rejection(connection.agent.request(methods.agent.session.load, { sessionId, cwd: '/x', mcpServers: [] }));
          expect(load).toMatchObject({ code: RESOURCE_NOT_FOUND, data: { sessionId } });
          expect(await rejection(connection.agent.request(methods.agent.session.resume, { sessionId, cwd: '/x' }))).toMatchObject({ code: RESOURCE_NOT_FOUND });
          expect(await rejection(connection.agent.request(methods.agent.session.prompt, { sessionId, prompt: [] }))).toMatchObject({
            code: RESOURCE_NOT_FOUND,
          });
        }
        const { sessionId } = await connection.agent.request(methods.agent.session.new, { cwd: '/x', mcpServers: [] });
        await sleep(600);
        expect(await rejection(connection.agent.request(methods.agent.session.prompt, { sessionId, prompt: [{ type: 'text', text: 'late' }] }))).toMatchObject({
          code: RESOURCE_NOT_FOUND,
        });
        expect(await rejection(connection.agent.request(methods.agent.session.load, { sessionId, cwd: '/x', mcpServers: [] }))).toMatchObject({
          code: RESOURCE_NOT_FOUND,
        });
        expect((await connection.agent.request(methods.agent.session.list, {})).sessions).toEqual([]);
      } finally {
        await connection.close();
      }
    });
  });

  it('with authentication, a connection sees, loads and deletes only its own sessions', async () => {
    await withEngine({ shards: 2 }, async (engine) => {
      const options = {
        authMethods: [{ id: 'token', name: 'Token' }],
        authenticate: (request: { _meta?: { [key: string]: unknown } | null }) => {
          const user = request._meta?.user;
          if (typeof user !== 'string') throw new Error('no user');
          return user;
        },
      };
      const alice = await connectInitialized(engine, options);
      const bob = await connectInitialized(engine, options);
      try {
        expect(await rejection(alice.agent.request(methods.agent.session.new, { cwd: '/a', mcpServers: [] }))).toMatchObject({ code: AUTH_REQUIRED });
        expect(await rejection(alice.agent.request(methods.agent.session.list, {}))).toMatchObject({ code: AUTH_REQUIRED });
        await alice.agent.request(methods.agent.authenticate, { methodId: 'token', _meta: { user: 'alice' } });
        await bob.agent.request(methods.agent.authenticate, { methodId: 'token', _meta: { user: 'bob' } });
        expect(alice.service.owner).toBe('alice');

        const { sessionId: hers } = await alice.agent.request(methods.agent.session.new, { cwd: '/a', mcpServers: [] });
        await alice.agent.request(methods.agent.session.prompt, { sessionId: hers, prompt: [{ type: 'text', text: 'secret' }] });
        const { sessionId: his } = await bob.agent.request(methods.agent.session.new, { cwd: '/a', mcpServers: [] });
        expect((await engine.get(hers))!.owner).toBe('alice');

        expect((await alice.agent.request(methods.agent.session.list, {})).sessions.map((s) => s.sessionId)).toEqual([hers]);
        expect((await bob.agent.request(methods.agent.session.list, { cwd: '/a' })).sessions.map((s) => s.sessionId)).toEqual([his]);
        expect(await rejection(bob.agent.request(methods.agent.session.load, { sessionId: hers, cwd: '/a', mcpServers: [] }))).toMatchObject({
          code: RESOURCE_NOT_FOUND,
        });
        expect(await rejection(bob.agent.request(methods.agent.session.resume, { sessionId: hers, cwd: '/a' }))).toMatchObject({ code: RESOURCE_NOT_FOUND });
        expect(bob.updates).toEqual([]);
        await bob.agent.request(methods.agent.session.delete, { sessionId: hers });
        expect(await engine.get(hers)).toBeDefined();
        await alice.agent.request(methods.agent.session.delete, { sessionId: hers });
        expect(await engine.get(hers)).toBeUndefined();
      } finally {
        await alice.close();
        await bob.close();
      }
    });
  });
});
