/**
 * A small Agent Client Protocol agent that keeps its sessions in a session-shards engine: it echoes each
 * prompt back, and serves session/new, load, list, resume, close and delete from the engine through
 * `session-shards/acp`. It speaks ACP over stdio (newline-delimited JSON-RPC): start it with
 * `npm run --silent example:acp`, or `node dist/examples/acp-agent.js` after `npm run build`.
 *
 * Set `ECHO_AGENT_TOKEN` to require clients to authenticate (method id `token`, the token in
 * `_meta.token`); each client then sees only the sessions it created.
 */
import { agent, methods, ndJsonStream, RequestError } from '@agentclientprotocol/sdk';
import { Readable, Writable } from 'node:stream';
import { AcpSessionService, promptText } from '../src/acp/index.js';
import { SessionEngine } from '../src/index.js';

const token = process.env.ECHO_AGENT_TOKEN;
const engine = await SessionEngine.start({ shards: 2 });
const sessions = new AcpSessionService(engine, {
  agentInfo: { name: 'session-shards-echo', version: '0.1.0' },
  ...(token === undefined
    ? {}
    : {
        authMethods: [{ id: 'token', name: 'Token', description: 'The token in _meta.token; the principal in _meta.user' }],
        authenticate: (request) => {
          const meta = request._meta ?? {};
          if (request.methodId !== 'token' || meta.token !== token || typeof meta.user !== 'string') throw RequestError.authRequired();
          return meta.user;
        },
      }),
});

const app = sessions.register(agent({ name: 'session-shards-echo' }));
app.onRequest(methods.agent.session.prompt, async ({ params, client }) => {
  await sessions.requireActive(params.sessionId, 0);
  const reply = `echo: ${promptText(params.prompt)}`;
  await client.notify(methods.client.session.update, {
    sessionId: params.sessionId,
    update: { sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: reply } },
  });
  await sessions.recordTurn(params.sessionId, params.prompt, reply);
  return { stopReason: 'end_turn' };
});
// An echo answers at once: there is never a turn in progress to cancel.
app.onNotification(methods.agent.session.cancel, () => {});

// stdout carries the protocol: diagnostics go to stderr only.
const connection = app.connect(ndJsonStream(Writable.toWeb(process.stdout), Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => connection.close());
await connection.closed;
await engine.close();
