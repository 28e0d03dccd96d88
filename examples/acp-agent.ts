/**
 * A small Agent Client Protocol agent whose sessions live in a session-shards engine, through
 * `session-shards/acp`: the service serves session/new, load, list, resume, close, delete, cancel and fork,
 * stores each prompt when its turn starts, and records every session/update the turn sends, so that
 * session/load replays the whole conversation (plans, thoughts, tool calls, images) in order.
 *
 * It speaks ACP over stdio (newline-delimited JSON-RPC): `npm run --silent example:acp`, or
 * `node dist/examples/acp-agent.js` after `npm run build`. What it does with a prompt:
 * - it echoes the prompt's text, in several agent_message_chunks; it counts the images it was shown;
 * - with the word `tool`, it first sends a plan, a thought, a tool_call (kind `read`, status `pending`) and a
 *   tool_call_update (status `completed`, with text content);
 * - with the word `wait`, it sends one chunk, then waits until the client cancels the turn (at most a minute);
 * - with the word `fail`, it sends one chunk, then fails the turn.
 * It has two modes (`ask`, `code`); session/set_mode is recorded, so session/load answers the current one.
 * It sends session/update notifications only during prompt turns and the load replay.
 *
 * Environment: `ACP_AGENT_DATA_DIR` keeps the sessions in that directory (they survive restarts);
 * `ECHO_AGENT_TOKEN` requires clients to authenticate (method id `token`, the token in `_meta.token`, the
 * principal in `_meta.user`); each client then sees only its own sessions.
 */
import { agent, type ContentBlock, methods, ndJsonStream, RequestError, type SessionModeState, type SessionUpdate } from '@agentclientprotocol/sdk';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { AcpSessionService, type PromptTurn, promptText } from '../src/acp/index.js';
import { SessionEngine } from '../src/index.js';

const token = process.env.ECHO_AGENT_TOKEN;
const dataDir = process.env.ACP_AGENT_DATA_DIR;
const MODES: SessionModeState = {
  currentModeId: 'ask',
  availableModes: [
    { id: 'ask', name: 'Ask', description: 'Answers without changing files' },
    { id: 'code', name: 'Code', description: 'May edit files' },
  ],
};
/** The longest a `wait` turn waits for its cancel. */
const WAIT_MS = 60_000;

const engine = await SessionEngine.start({ shards: 2, ...(dataDir === undefined ? {} : { persistence: { dir: dataDir } }) });
const sessions = new AcpSessionService(engine, {
  agentInfo: { name: 'session-shards-echo', version: '0.2.0' },
  agentCapabilities: { promptCapabilities: { image: true } },
  modes: MODES,
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

/** One prompt turn. Everything sent through `turn.send` (or `turn.client`) is recorded by the service. */
async function answer(turn: PromptTurn) {
  const text = promptText(turn.prompt);
  const words = new Set(text.toLowerCase().split(/\W+/));
  const messageId = `${turn.promptMessageId}-reply`;
  const say = (piece: string): SessionUpdate => ({ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: piece }, messageId });

  if (words.has('wait')) {
    await turn.send(say('Waiting until you cancel.'));
    await aborted(turn.signal, WAIT_MS);
    return turn.signal.aborted ? 'cancelled' : 'end_turn';
  }
  if (words.has('fail')) {
    await turn.send(say('About to fail.'));
    throw new Error('the example agent fails when asked to');
  }
  if (words.has('tool')) {
    const toolCallId = `${turn.promptMessageId}-read`;
    const path = join(turn.session.cwd ?? '/', 'notes.txt');
    await turn.send({
      sessionUpdate: 'plan',
      entries: [
        { content: 'Read notes.txt', priority: 'high', status: 'in_progress' },
        { content: 'Answer', priority: 'medium', status: 'pending' },
      ],
    });
    await turn.send({
      sessionUpdate: 'agent_thought_chunk',
      content: { type: 'text', text: 'A tool was asked for: reading notes.txt.' },
      messageId: `${messageId}-thought`,
    });
    await turn.send({
      sessionUpdate: 'tool_call',
      toolCallId,
      title: 'Read notes.txt',
      kind: 'read',
      status: 'pending',
      locations: [{ path }],
      rawInput: { path },
    });
    await turn.send({
      sessionUpdate: 'tool_call_update',
      toolCallId,
      status: 'completed',
      content: [{ type: 'content', content: { type: 'text', text: 'notes.txt: remember the milk' } }],
      rawOutput: { lines: 1 },
    });
  }
  const images = turn.prompt.filter((block): block is Extract<ContentBlock, { type: 'image' }> => block.type === 'image');
  const seen = images.length === 0 ? '' : ` (and ${images.length} image${images.length === 1 ? '' : 's'}: ${images.map((i) => i.mimeType).join(', ')})`;
  // The reply streams in pieces of about two words, as a model's would.
  const pieces = `echo: ${text}${seen}`.match(/\S+\s*\S*\s*/g) ?? [''];
  for (const piece of pieces) {
    if (turn.signal.aborted) return 'cancelled';
    await turn.send(say(piece));
  }
  return 'end_turn';
}

/** Resolves when `signal` aborts, or after `ms`. */
function aborted(signal: AbortSignal, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (signal.aborted) done();
    else signal.addEventListener('abort', done, { once: true });
  });
}

const app = sessions.register(agent({ name: 'session-shards-echo' }), { prompt: answer });
app.onRequest(methods.agent.session.setMode, async ({ params }) => {
  if (!MODES.availableModes.some((mode) => mode.id === params.modeId)) throw RequestError.invalidParams({ modeId: params.modeId }, 'no such mode');
  // Recorded, not sent (the client chose the mode): session/load answers it and replays it.
  await sessions.record(params.sessionId, { sessionUpdate: 'current_mode_update', currentModeId: params.modeId });
  return {};
});

// stdout carries the protocol: diagnostics go to stderr only.
const connection = app.connect(ndJsonStream(Writable.toWeb(process.stdout), Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => connection.close());
await connection.closed;
await engine.close();
