/**
 * examples/acp-agent.ts, driven over stdio by the SDK's own client: what a client is sent during prompt
 * turns is what `session/load` replays, after the agent restarted on the same persistence directory.
 */
import { client, type ClientContext, type ContentBlock, methods, ndJsonStream, type SessionNotification, type SessionUpdate } from '@agentclientprotocol/sdk';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/engine.js';
import { rejection, type Shown, shown, shownPrompt } from './helpers.js';

const EXAMPLE = fileURLToPath(new URL('../../dist/examples/acp-agent.js', import.meta.url));
const RESOURCE_NOT_FOUND = -32002;
const INVALID_PARAMS = -32602;
const INTERNAL_ERROR = -32603;
const CWD = '/tmp/acp-example';
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

interface Example {
  agent: ClientContext;
  /** Every `session/update` the client received, in order. */
  updates: SessionNotification[];
  /** Ends stdin and resolves the exit code. */
  stop(): Promise<number | null>;
  kill(): void;
}

function startExample(env: Record<string, string>): Example {
  const child = spawn(process.execPath, [EXAMPLE], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  const updates: SessionNotification[] = [];
  // The SDK's client parses every line of stdout as JSON-RPC: anything else the agent printed would fail it.
  const stream = ndJsonStream(Writable.toWeb(child.stdin), Readable.toWeb(child.stdout) as ReadableStream<Uint8Array>);
  const connection = client({ name: 'stdio test' })
    .onNotification(methods.client.session.update, ({ params }) => {
      updates.push(params);
    })
    .connect(stream);
  return {
    agent: connection.agent,
    updates,
    async stop() {
      child.stdin.end();
      const [code] = await exited;
      connection.close();
      if (code !== 0) throw new Error(`the example exited with ${String(code)}: ${stderr}`);
      return code as number | null;
    },
    kill() {
      if (child.exitCode === null) child.kill();
      connection.close();
    },
  };
}

const since = (example: Example, from: number): SessionUpdate[] => example.updates.slice(from).map((n) => n.update);
const joinedText = (updates: SessionUpdate[]) =>
  updates.flatMap((u) => (u.sessionUpdate === 'agent_message_chunk' && u.content.type === 'text' ? [u.content.text] : [])).join('');

describe('examples/acp-agent.ts over stdio, with the SDK client', () => {
  it('records every update of its turns; after a restart, session/load replays them in order, and answers the mode', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acp-example-'));
    const first = startExample({ ACP_AGENT_DATA_DIR: dir });
    const prompts: ContentBlock[][] = [];
    const live: SessionUpdate[][] = [];
    let sessionId = '';
    let forkId = '';
    try {
      const init = await first.agent.request(methods.agent.initialize, { protocolVersion: 1, clientCapabilities: {} });
      expect(init).toMatchObject({
        agentCapabilities: { loadSession: true, sessionCapabilities: { list: {}, resume: {} } },
        agentInfo: { name: 'session-shards-echo' },
      });
      const created = await first.agent.request(methods.agent.session.new, { cwd: CWD, mcpServers: [] });
      sessionId = created.sessionId;
      expect(created.modes?.currentModeId).toBe('ask');
      expect(first.updates).toEqual([]);

      const turn = async (prompt: ContentBlock[]) => {
        const from = first.updates.length;
        const answer = await first.agent.request(methods.agent.session.prompt, { sessionId, prompt });
        prompts.push(prompt);
        live.push(since(first, from));
        return answer;
      };

      // Without a tool: the reply, in several chunks of one message.
      expect((await turn([{ type: 'text', text: 'hello there, agent' }])).stopReason).toBe('end_turn');
      expect(live[0]!.length).toBeGreaterThan(1);
      expect(new Set(live[0]!.map((u) => u.sessionUpdate))).toEqual(new Set(['agent_message_chunk']));
      expect(joinedText(live[0]!)).toBe('echo: hello there, agent');

      // With a tool: a plan, a thought, the tool call and its update, then the reply.
      expect((await turn([{ type: 'text', text: 'please use a tool' }])).stopReason).toBe('end_turn');
      const kinds = live[1]!.map((u) => u.sessionUpdate);
      expect(kinds.slice(0, 4)).toEqual(['plan', 'agent_thought_chunk', 'tool_call', 'tool_call_update']);
      expect(kinds.slice(4).length).toBeGreaterThan(1);
      expect(new Set(kinds.slice(4))).toEqual(new Set(['agent_message_chunk']));
      expect(live[1]![2]).toMatchObject({ kind: 'read', status: 'pending', locations: [{ path: `${CWD}/notes.txt` }] });
      expect(live[1]![3]).toMatchObject({ status: 'completed', content: [{ type: 'content', content: { type: 'text' } }] });

      // With an image.
      const image: ContentBlock = { type: 'image', mimeType: 'image/png', data: PNG };
      expect((await turn([{ type: 'text', text: 'what is in this picture?' }, image])).stopReason).toBe('end_turn');
      expect(joinedText(live[2]!)).toBe('echo: what is in this picture? (and 1 image: image/png)');

      // A turn that fails keeps its prompt and what it sent; the client gets an ACP error.
      const failFrom = first.updates.length;
      const failed = await rejection(first.agent.request(methods.agent.session.prompt, { sessionId, prompt: [{ type: 'text', text: 'now fail' }] }));
      expect(failed).toMatchObject({ code: INTERNAL_ERROR });
      prompts.push([{ type: 'text', text: 'now fail' }]);
      live.push(since(first, failFrom));
      expect(joinedText(live[3]!)).toBe('About to fail.');

      // Cancelled mid-turn: the turn answers cancelled; what it sent before stays recorded.
      const waitFrom = first.updates.length;
      const waiting = first.agent.request(methods.agent.session.prompt, { sessionId, prompt: [{ type: 'text', text: 'wait for me' }] });
      await waitFor(() => first.updates.length > waitFrom, 10_000, 'the first chunk of the wait turn');
      await first.agent.notify(methods.agent.session.cancel, { sessionId });
      expect((await waiting).stopReason).toBe('cancelled');
      prompts.push([{ type: 'text', text: 'wait for me' }]);
      live.push(since(first, waitFrom));
      expect(joinedText(live[4]!)).toBe('Waiting until you cancel.');

      await first.agent.request(methods.agent.session.setMode, { sessionId, modeId: 'code' });
      expect(since(first, waitFrom)).toEqual(live[4]);

      // Errors are the protocol's.
      expect(await rejection(first.agent.request(methods.agent.session.setMode, { sessionId, modeId: 'nope' }))).toMatchObject({ code: INVALID_PARAMS });
      expect(
        await rejection(first.agent.request(methods.agent.session.prompt, { sessionId: '01JZZZZZZZZZZZZZZZZZZZZZZZ', prompt: [{ type: 'text', text: 'x' }] })),
      ).toMatchObject({ code: RESOURCE_NOT_FOUND });
      expect(await rejection(first.agent.request('session/fork', { sessionId, cwd: 'relative' }))).toMatchObject({ code: INVALID_PARAMS });

      // A fork: a new session with the whole conversation.
      forkId = (await first.agent.request<{ sessionId: string }>('session/fork', { sessionId, cwd: '/tmp/acp-fork', mcpServers: [] })).sessionId;
      expect(forkId).not.toBe(sessionId);
      expect(await first.stop()).toBe(0);
    } finally {
      first.kill();
    }

    const expected: Shown[] = [
      ...prompts.flatMap((prompt, i) => [shownPrompt(prompt), ...shown(live[i]!)]),
      { update: { sessionUpdate: 'current_mode_update', currentModeId: 'code' } },
    ];
    const second = startExample({ ACP_AGENT_DATA_DIR: dir });
    try {
      await second.agent.request(methods.agent.initialize, { protocolVersion: 1, clientCapabilities: {} });
      const loaded = await second.agent.request(methods.agent.session.load, { sessionId, cwd: CWD, mcpServers: [] });
      expect(loaded.modes?.currentModeId).toBe('code');
      expect(second.updates.every((n) => n.sessionId === sessionId)).toBe(true);
      expect(shown(second.updates.map((n) => n.update))).toEqual(expected);

      // The fork replays the same conversation, and lives in its own cwd.
      const fromFork = second.updates.length;
      await second.agent.request(methods.agent.session.load, { sessionId: forkId, cwd: '/tmp/acp-fork', mcpServers: [] });
      expect(shown(since(second, fromFork))).toEqual(expected);
      const listed = await second.agent.request(methods.agent.session.list, { cwd: '/tmp/acp-fork' });
      expect(listed.sessions.map((s) => [s.sessionId, s.title])).toEqual([[forkId, 'hello there, agent']]);

      // The loaded session takes prompts again; a resumed one is not replayed.
      const from = second.updates.length;
      await second.agent.request(methods.agent.session.resume, { sessionId, cwd: CWD });
      expect(second.updates.length).toBe(from);
      expect((await second.agent.request(methods.agent.session.prompt, { sessionId, prompt: [{ type: 'text', text: 'again' }] })).stopReason).toBe('end_turn');
      expect(joinedText(since(second, from))).toBe('echo: again');
      expect(await second.stop()).toBe(0);
    } finally {
      second.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
