/**
 * Faithful replay, in-process: an agent whose prompt handler sends every kind of session/update with every
 * kind of content block, and a fresh connection that loads the session.
 */
import { type ContentBlock, methods, type SessionConfigOption, type SessionUpdate } from '@agentclientprotocol/sdk';
import { describe, expect, it } from 'vitest';
import type { PromptHandler, PromptTurn } from '../../dist/src/acp/index.js';
import { withEngine } from '../helpers/engine.js';
import { connectAgent, rejection, type Shown, shown, shownPrompt } from './helpers.js';

const INVALID_PARAMS = -32602;
const INVALID_REQUEST = -32600;
const RESOURCE_NOT_FOUND = -32002;

const BLOCKS: ContentBlock[] = [
  { type: 'text', text: 'Here are ', annotations: { audience: ['user'], priority: 1 } },
  { type: 'image', mimeType: 'image/png', data: 'iVBORw0KGgo=', uri: 'file:///tmp/a.png' },
  { type: 'audio', mimeType: 'audio/wav', data: 'UklGRg==' },
  { type: 'resource_link', uri: 'file:///tmp/notes.md', name: 'notes.md', mimeType: 'text/markdown', size: 12, title: 'Notes' },
  { type: 'resource', resource: { uri: 'file:///tmp/a.txt', text: 'hello', mimeType: 'text/plain' } },
  { type: 'resource', resource: { uri: 'file:///tmp/b.bin', blob: 'AAEC' } },
];
const CONFIG: SessionConfigOption[] = [
  {
    id: 'model',
    name: 'Model',
    type: 'select',
    currentValue: 'fast',
    options: [
      { value: 'fast', name: 'Fast' },
      { value: 'deep', name: 'Deep' },
    ],
  },
];

/** Every update kind the protocol has for a turn, with every content block kind. */
const EVERYTHING: SessionUpdate[] = [
  { sessionUpdate: 'available_commands_update', availableCommands: [{ name: 'web', description: 'Search the web', input: { hint: 'query' } }] },
  { sessionUpdate: 'user_message_chunk', content: { type: 'text', text: 'an echo of the user' }, messageId: 'u1' },
  { sessionUpdate: 'agent_thought_chunk', content: { type: 'text', text: 'Thinking ' }, messageId: 't1' },
  { sessionUpdate: 'agent_thought_chunk', content: { type: 'text', text: 'hard.' }, messageId: 't1' },
  { sessionUpdate: 'plan', entries: [{ content: 'Look', priority: 'high', status: 'in_progress' }] },
  {
    sessionUpdate: 'tool_call',
    toolCallId: 'c1',
    title: 'Read a.txt',
    kind: 'read',
    status: 'pending',
    locations: [{ path: '/tmp/a.txt', line: 3 }],
    rawInput: { path: '/tmp/a.txt', nested: { deep: [1, null, 'x'] } },
  },
  { sessionUpdate: 'tool_call_update', toolCallId: 'c1', status: 'in_progress' },
  {
    sessionUpdate: 'tool_call_update',
    toolCallId: 'c1',
    status: 'completed',
    content: [
      { type: 'content', content: { type: 'text', text: 'hello' } },
      { type: 'diff', path: '/tmp/a.txt', oldText: 'hello', newText: 'hello!' },
    ],
    rawOutput: { bytes: 5 },
  },
  ...BLOCKS.map((content): SessionUpdate => ({ sessionUpdate: 'agent_message_chunk', content, messageId: 'a1' })),
  { sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: 'the end' }, messageId: 'a1', _meta: { tag: 'kept' } },
  { sessionUpdate: 'current_mode_update', currentModeId: 'code' },
  { sessionUpdate: 'config_option_update', configOptions: CONFIG },
  { sessionUpdate: 'session_info_update', title: 'A title', updatedAt: '2025-01-01T00:00:00.000Z' },
  { sessionUpdate: 'usage_update', used: 1200, size: 200_000, cost: { amount: 0.01, currency: 'USD' } },
];

const MODES = {
  currentModeId: 'ask',
  availableModes: [
    { id: 'ask', name: 'Ask' },
    { id: 'code', name: 'Code' },
  ],
};

/** Sends `script` through the turn, each update awaited (or, with `together`, all at once without waiting). */
const sending =
  (script: (turn: PromptTurn) => SessionUpdate[], together = false): PromptHandler =>
  async (turn) => {
    const updates = script(turn);
    if (together) await Promise.all(updates.map((update) => turn.send(update)));
    else for (const update of updates) await turn.client.notify(methods.client.session.update, { sessionId: turn.sessionId, update });
    return 'end_turn' as const;
  };

describe('faithful replay of prompt turns', () => {
  it('stores the prompt whole, records every update kind and content block, and a fresh connection replays them in order', async () => {
    await withEngine({ shards: 2 }, async (engine) => {
      const prompt: ContentBlock[] = [{ type: 'text', text: 'Look at this' }, BLOCKS[1]!, BLOCKS[4]!];
      const first = connectAgent(
        engine,
        sending(() => EVERYTHING),
        { modes: MODES, configOptions: [] },
      );
      let sessionId = '';
      try {
        await first.agent.request(methods.agent.initialize, { protocolVersion: 1, clientCapabilities: {} });
        const created = await first.agent.request(methods.agent.session.new, { cwd: '/work', mcpServers: [] });
        sessionId = created.sessionId;
        expect(created).toMatchObject({ modes: MODES, configOptions: [] });
        expect((await first.agent.request(methods.agent.session.prompt, { sessionId, prompt })).stopReason).toBe('end_turn');
        // What the client was sent is the script, as JSON carries it.
        expect(first.updates.map((n) => n.update)).toEqual(EVERYTHING);
      } finally {
        await first.close();
      }

      // Stored as messages: the prompt whole, the thought as thought parts, the chunks of one message as one.
      const stored = (await engine.get(sessionId))!;
      expect(stored.title).toBe('Look at this');
      expect(stored.context[0]).toMatchObject({ role: 'user', content: prompt, metadata: { acp: { update: 'user_message_chunk', prompt: true } } });
      expect(stored.context[3]).toMatchObject({
        role: 'assistant',
        content: [{ type: 'thought', text: 'Thinking hard.' }],
        metadata: { acp: { update: 'agent_thought_chunk', messageId: 't1' } },
      });
      expect(stored.context[4]).toMatchObject({ role: 'assistant', content: [{ type: 'acp_update', update: EVERYTHING[4] }] });
      expect(stored.context[8]).toMatchObject({ role: 'assistant', content: BLOCKS, metadata: { acp: { update: 'agent_message_chunk', messageId: 'a1' } } });

      const second = connectAgent(
        engine,
        sending(() => []),
        { modes: MODES },
      );
      try {
        await second.agent.request(methods.agent.initialize, { protocolVersion: 1, clientCapabilities: {} });
        const loaded = await second.agent.request(methods.agent.session.load, { sessionId, cwd: '/work', mcpServers: [] });
        expect(loaded).toEqual({ modes: { ...MODES, currentModeId: 'code' }, configOptions: CONFIG });
        expect(second.updates.every((n) => n.sessionId === sessionId)).toBe(true);
        const replayed = second.updates.map((n) => n.update);
        expect(shown(replayed)).toEqual([shownPrompt(prompt), ...shown(EVERYTHING)]);
        // Updates other than chunks come back exactly as sent, one for one.
        const others = (updates: SessionUpdate[]) => updates.filter((u) => !u.sessionUpdate.endsWith('_chunk'));
        expect(others(replayed)).toEqual(others(EVERYTHING));
        // A resume does not replay.
        const from = second.updates.length;
        await second.agent.request(methods.agent.session.resume, { sessionId, cwd: '/work' });
        expect(second.updates.length).toBe(from);
      } finally {
        await second.close();
      }
    });
  });

  it('records updates sent without waiting in the order they were sent, and splits a long message without changing its text', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      const pieces = Array.from({ length: 300 }, (_, i) => `w${i} `);
      const script = (): SessionUpdate[] => [
        ...pieces.map((text): SessionUpdate => ({ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text } })),
        { sessionUpdate: 'tool_call', toolCallId: 'x', title: 'x' },
        ...pieces.slice(0, 3).map((text): SessionUpdate => ({ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text } })),
      ];
      const first = connectAgent(engine, sending(script, true), { maxHeldChars: 100 });
      let sessionId = '';
      try {
        await first.agent.request(methods.agent.initialize, { protocolVersion: 1, clientCapabilities: {} });
        sessionId = (await first.agent.request(methods.agent.session.new, { cwd: '/work', mcpServers: [] })).sessionId;
        await first.agent.request(methods.agent.session.prompt, { sessionId, prompt: [{ type: 'text', text: 'go' }] });
      } finally {
        await first.close();
      }
      const stored = (await engine.get(sessionId))!.context;
      // 300 pieces of 4-5 characters, at most 100 characters a message: many messages, one messageId.
      const firstRun = stored.slice(1, -2);
      expect(firstRun.length).toBeGreaterThan(10);
      expect(new Set(firstRun.map((m) => (m.metadata!.acp as { messageId: string }).messageId)).size).toBe(1);

      const second = connectAgent(
        engine,
        sending(() => []),
      );
      try {
        await second.agent.request(methods.agent.initialize, { protocolVersion: 1, clientCapabilities: {} });
        await second.agent.request(methods.agent.session.load, { sessionId, cwd: '/work', mcpServers: [] });
        const replay = shown(second.updates.map((n) => n.update));
        // Chunks sent without a messageId replay with one given to them: the same messages, the same text.
        const withoutIds = replay.map((s) => ('message' in s ? { ...s, messageId: null } : s));
        expect(withoutIds).toEqual([{ ...shownPrompt([{ type: 'text', text: 'go' }]), messageId: null }, ...shown(script())]);
      } finally {
        await second.close();
      }
    });
  });

  it('session/cancel aborts the turn signal; the turn answers cancelled and keeps what it sent', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      let seen: AbortSignal | undefined;
      const connection = connectAgent(engine, async (turn) => {
        seen = connection.service.signalFor(turn.sessionId);
        await turn.send({ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: 'started' }, messageId: 'm' });
        await new Promise((resolve) => turn.signal.addEventListener('abort', resolve, { once: true }));
        // Sent after the cancel, before the answer: recorded too.
        await turn.send({ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: ', stopped' }, messageId: 'm' });
        throw turn.signal.reason;
      });
      try {
        await connection.agent.request(methods.agent.initialize, { protocolVersion: 1, clientCapabilities: {} });
        const { sessionId } = await connection.agent.request(methods.agent.session.new, { cwd: '/work', mcpServers: [] });
        const turn = connection.agent.request(methods.agent.session.prompt, { sessionId, prompt: [{ type: 'text', text: 'long job' }] });
        while (connection.updates.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
        expect(seen?.aborted).toBe(false);
        // One turn at a time per session.
        expect(await rejection(connection.agent.request(methods.agent.session.prompt, { sessionId, prompt: [{ type: 'text', text: 'x' }] }))).toMatchObject({
          code: INVALID_REQUEST,
        });
        await connection.agent.notify(methods.agent.session.cancel, { sessionId });
        expect((await turn).stopReason).toBe('cancelled');
        expect(seen?.aborted).toBe(true);
        expect(connection.service.signalFor(sessionId)?.aborted).toBe(false);
        const stored = (await engine.get(sessionId))!.context;
        expect(stored.map((m) => m.content)).toEqual([
          [{ type: 'text', text: 'long job' }],
          [{ type: 'text', text: 'started, stopped' }],
          // The turn rejected at first: the second prompt was never stored.
        ]);
      } finally {
        await connection.close();
      }
    });
  });

  it('a prompt or update the engine refuses answers an ACP error; the record keeps what came before', async () => {
    await withEngine({ shards: 1, maxMessageBytes: 2000 }, async (engine) => {
      const connection = connectAgent(engine, async (turn) => {
        await turn.send({ sessionUpdate: 'plan', entries: [] });
        await turn.send({ sessionUpdate: 'tool_call_update', toolCallId: 'c', rawOutput: 'x'.repeat(5000) });
        await turn.send({ sessionUpdate: 'plan', entries: [] });
        return 'end_turn' as const;
      });
      try {
        await connection.agent.request(methods.agent.initialize, { protocolVersion: 1, clientCapabilities: {} });
        expect(await rejection(connection.agent.request(methods.agent.session.prompt, { sessionId: '01JZZZZZZZZZZZZZZZZZZZZZZZ', prompt: [] }))).toMatchObject({
          code: RESOURCE_NOT_FOUND,
        });
        const { sessionId } = await connection.agent.request(methods.agent.session.new, { cwd: '/work', mcpServers: [] });
        const tooBig = [{ type: 'text' as const, text: 'y'.repeat(5000) }];
        expect(await rejection(connection.agent.request(methods.agent.session.prompt, { sessionId, prompt: tooBig }))).toMatchObject({ code: INVALID_PARAMS });
        expect(connection.updates).toEqual([]);
        expect(await rejection(connection.agent.request(methods.agent.session.prompt, { sessionId, prompt: [{ type: 'text', text: 'hi' }] }))).toMatchObject({
          code: INVALID_PARAMS,
          data: { code: 'ERR_LIMIT_EXCEEDED' },
        });
        // The client was sent all three; the record stops at the one refused, so it has no hole.
        expect(connection.updates).toHaveLength(3);
        expect((await engine.get(sessionId))!.context.map((m) => m.content)).toEqual([
          [{ type: 'text', text: 'hi' }],
          [{ type: 'acp_update', update: { sessionUpdate: 'plan', entries: [] } }],
        ]);
      } finally {
        await connection.close();
      }
    });
  });

  it('replays messages a host appended itself: content blocks, thoughts, tool calls and results', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      const sessionId = await engine.create({ cwd: '/work' });
      await engine.appendMessages(sessionId, [
        { id: 'q', role: 'user', content: 'What is here?' },
        {
          id: 'r',
          role: 'assistant',
          content: [
            { type: 'thought', text: 'ls' },
            { type: 'tool_call', toolCallId: 't', name: 'ls', input: { path: '.' } },
          ],
        },
        { id: 's', role: 'tool', content: [{ type: 'tool_result', toolCallId: 't', output: ['a'], isError: false }] },
        { id: 'sys', role: 'system', content: 'never replayed' },
        {
          id: 'a',
          role: 'assistant',
          content: [
            { type: 'text', text: 'One file: ' },
            { type: 'resource_link', uri: 'file:///a', name: 'a' },
          ],
        },
      ]);
      const connection = connectAgent(
        engine,
        sending(() => []),
      );
      try {
        await connection.agent.request(methods.agent.initialize, { protocolVersion: 1, clientCapabilities: {} });
        await connection.agent.request(methods.agent.session.load, { sessionId, cwd: '/work', mcpServers: [] });
        const expected: Shown[] = [
          { message: 'user_message_chunk', messageId: 'q', content: [{ type: 'text', text: 'What is here?' }] },
          { message: 'agent_thought_chunk', messageId: 'r-thought', content: [{ type: 'text', text: 'ls' }] },
          { update: { sessionUpdate: 'tool_call', toolCallId: 't', title: 'ls', rawInput: { path: '.' } } },
          { update: { sessionUpdate: 'tool_call_update', toolCallId: 't', status: 'completed', rawOutput: ['a'] } },
          {
            message: 'agent_message_chunk',
            messageId: 'a',
            content: [
              { type: 'text', text: 'One file: ' },
              { type: 'resource_link', uri: 'file:///a', name: 'a' },
            ],
          },
        ];
        expect(shown(connection.updates.map((n) => n.update))).toEqual(expected);
      } finally {
        await connection.close();
      }
    });
  });

  it('session/fork makes a session from the engine fork, active on this connection; an unknown id cannot be forked', async () => {
    await withEngine({ shards: 2 }, async (engine) => {
      const connection = connectAgent(
        engine,
        sending((turn) => [{ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: `re: ${turn.prompt.length}` }, messageId: 'x' }]),
      );
      try {
        const init = await connection.agent.request(methods.agent.initialize, { protocolVersion: 1, clientCapabilities: { terminal: true } });
        expect(init.agentCapabilities?.sessionCapabilities).toMatchObject({ list: {} });
        const { sessionId } = await connection.agent.request(methods.agent.session.new, { cwd: '/work', mcpServers: [] });
        await connection.agent.request(methods.agent.session.prompt, { sessionId, prompt: [{ type: 'text', text: 'one' }] });
        const fork = await connection.agent.request<{ sessionId: string }>('session/fork', {
          sessionId,
          cwd: '/elsewhere',
          mcpServers: [{ name: 'fs', command: '/bin/fs', args: [], env: [] }],
        });
        const forked = (await engine.get(fork.sessionId))!;
        const source = (await engine.get(sessionId))!;
        expect(forked).toMatchObject({ cwd: '/elsewhere', mcpServers: ['fs'], clientCapabilities: { terminal: true }, title: 'one' });
        expect(forked.context).toEqual(source.context);
        // The fork takes prompts on this connection at once; the source is unchanged.
        await connection.agent.request(methods.agent.session.prompt, { sessionId: fork.sessionId, prompt: [{ type: 'text', text: 'two' }] });
        expect((await engine.get(fork.sessionId))!.length).toBe(source.length + 2);
        expect((await engine.get(sessionId))!.length).toBe(source.length);
        expect(await rejection(connection.agent.request('session/fork', { sessionId: '01JZZZZZZZZZZZZZZZZZZZZZZZ', cwd: '/x' }))).toMatchObject({
          code: RESOURCE_NOT_FOUND,
        });
        expect(await rejection(connection.agent.request('session/fork', { cwd: '/x' }))).toMatchObject({ code: INVALID_PARAMS });
      } finally {
        await connection.close();
      }
    });
  });

  it('refuses unknown options and bad values', async () => {
    await withEngine({ shards: 1 }, async (engine) => {
      expect(() =>
        connectAgent(
          engine,
          sending(() => []),
          { maxHeldChars: 0 },
        ),
      ).toThrow(/maxHeldChars/);
      expect(() =>
        connectAgent(
          engine,
          sending(() => []),
          { pagesize: 3 } as never,
        ),
      ).toThrow(/options\.pagesize/);
      expect(() =>
        connectAgent(
          engine,
          sending(() => []),
          { modes: { currentModeId: 'x', availableModes: [] } },
        ),
      ).toThrow(/currentModeId/);
    });
  });
});
