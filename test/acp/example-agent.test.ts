import { client, methods, ndJsonStream, type SessionNotification } from '@agentclientprotocol/sdk';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const EXAMPLE = fileURLToPath(new URL('../../dist/examples/acp-agent.js', import.meta.url));

describe('examples/acp-agent.ts over stdio', () => {
  it('answers the SDK client: initialize, new, a prompt, list, load with replay; exits when stdin ends', async () => {
    const child = spawn(process.execPath, [EXAMPLE], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, 'exit');
    const updates: SessionNotification[] = [];
    try {
      const stream = ndJsonStream(Writable.toWeb(child.stdin), Readable.toWeb(child.stdout) as ReadableStream<Uint8Array>);
      const connection = client({ name: 'stdio test' })
        .onNotification(methods.client.session.update, ({ params }) => {
          updates.push(params);
        })
        .connect(stream);
      const agent = connection.agent;
      const init = await agent.request(methods.agent.initialize, { protocolVersion: 1, clientCapabilities: {} });
      expect(init).toMatchObject({ agentCapabilities: { loadSession: true, sessionCapabilities: { list: {} } }, agentInfo: { name: 'session-shards-echo' } });

      const { sessionId } = await agent.request(methods.agent.session.new, { cwd: '/tmp/echo', mcpServers: [] });
      const answer = await agent.request(methods.agent.session.prompt, { sessionId, prompt: [{ type: 'text', text: 'hello over stdio' }] });
      expect(answer.stopReason).toBe('end_turn');
      expect(updates.map((n) => n.update)).toEqual([{ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: 'echo: hello over stdio' } }]);

      const list = await agent.request(methods.agent.session.list, { cwd: '/tmp/echo' });
      expect(list.sessions).toEqual([{ sessionId, cwd: '/tmp/echo', title: 'hello over stdio', updatedAt: expect.any(String) }]);

      updates.length = 0;
      await agent.request(methods.agent.session.load, { sessionId, cwd: '/tmp/echo', mcpServers: [] });
      expect(updates.map((n) => n.update.sessionUpdate)).toEqual(['user_message_chunk', 'agent_message_chunk']);

      child.stdin.end();
      const [code] = await exited;
      expect(code, stderr).toBe(0);
      connection.close();
    } finally {
      if (child.exitCode === null) child.kill();
    }
  });
});
