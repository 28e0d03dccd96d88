/**
 * Helpers for the ACP adapter tests: an echo agent built on the BUILT adapter (`dist/`), and the SDK's own
 * client connected to it in-process over a pair of connected streams.
 */
import {
  agent,
  client,
  methods,
  type AnyMessage,
  type ClientContext,
  type ContentBlock,
  type SessionNotification,
  type SessionUpdate,
  type Stream,
} from '@agentclientprotocol/sdk';
import { expect } from 'vitest';
import { AcpSessionService, promptText, type AcpSessionServiceOptions, type PromptHandler } from '../../dist/src/acp/index.js';
import type { SessionEngine } from '../../dist/src/index.js';

/** Two streams, each one's writes the other's reads. */
export function connectedStreams(): { agentSide: Stream; clientSide: Stream } {
  const toAgent = new TransformStream<AnyMessage, AnyMessage>();
  const toClient = new TransformStream<AnyMessage, AnyMessage>();
  return {
    agentSide: { readable: toAgent.readable, writable: toClient.writable },
    clientSide: { readable: toClient.readable, writable: toAgent.writable },
  };
}

/** One client connection to a fresh echo agent connection serving `engine`. */
export interface Connection {
  agent: ClientContext;
  service: AcpSessionService;
  /** Every `session/update` received, in order. */
  updates: SessionNotification[];
  close(): Promise<void>;
}

/** The echo reply to a prompt's text. */
export const echo = (text: string) => `echo: ${text}`;

export function connect(engine: SessionEngine, options: AcpSessionServiceOptions = {}): Connection {
  const service = new AcpSessionService(engine, options);
  const app = service.register(agent({ name: 'echo under test' }));
  app.onRequest(methods.agent.session.prompt, async ({ params, client: peer }) => {
    await service.requireActive(params.sessionId, 0);
    const reply = echo(promptText(params.prompt));
    await peer.notify(methods.client.session.update, {
      sessionId: params.sessionId,
      update: { sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: reply } },
    });
    await service.recordTurn(params.sessionId, params.prompt, reply);
    return { stopReason: 'end_turn' };
  });
  return wire(service, app);
}

/** A connection that has answered `initialize`. */
export async function connectInitialized(engine: SessionEngine, options: AcpSessionServiceOptions = {}): Promise<Connection> {
  const connection = connect(engine, options);
  await connection.agent.request(methods.agent.initialize, { protocolVersion: 1, clientCapabilities: { fs: { readTextFile: true }, terminal: true } });
  return connection;
}

/** The rejection of a promise (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<{ code?: unknown; message?: unknown; data?: unknown }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: unknown };
  }
  throw new Error('expected a rejection');
}

/** One client connection to an agent connection whose prompt turns `handler` runs (`register({ prompt })`). */
export function connectAgent(engine: SessionEngine, handler: PromptHandler, options: AcpSessionServiceOptions = {}): Connection {
  const service = new AcpSessionService(engine, options);
  const app = service.register(agent({ name: 'recording agent under test' }), { prompt: handler });
  return wire(service, app);
}

/** What a client shows of a stream of updates: its messages (chunks of one message joined, adjacent texts joined) and every other update. */
export type Shown =
  | { message: 'user_message_chunk' | 'agent_message_chunk' | 'agent_thought_chunk'; messageId: string | null; content: ContentBlock[] }
  | { update: SessionUpdate };

/**
 * Folds updates as a client does: consecutive chunks of one kind and `messageId` are one message; within
 * it, adjacent plain text blocks are one text. Comparing two streams this way compares them "by joined text".
 */
export function shown(updates: readonly SessionUpdate[]): Shown[] {
  const out: Shown[] = [];
  for (const update of updates) {
    if (update.sessionUpdate === 'user_message_chunk' || update.sessionUpdate === 'agent_message_chunk' || update.sessionUpdate === 'agent_thought_chunk') {
      const messageId = update.messageId ?? null;
      const last = out.at(-1);
      const block = { ...update.content } as ContentBlock;
      if (last !== undefined && 'message' in last && last.message === update.sessionUpdate && last.messageId === messageId) {
        const previous = last.content.at(-1);
        if (previous?.type === 'text' && block.type === 'text' && Object.keys(previous).length === 2 && Object.keys(block).length === 2) {
          previous.text += block.text;
        } else last.content.push(block);
      } else out.push({ message: update.sessionUpdate, messageId, content: [block] });
    } else out.push({ update });
  }
  return out;
}

/** A prompt as a client that loads the session sees it: its blocks as one user message. */
export function shownPrompt(prompt: ContentBlock[], messageId: string | null = expectAnyString()): Shown {
  return { message: 'user_message_chunk', messageId, content: prompt.map((block) => ({ ...block })) };
}

function expectAnyString(): string {
  return expect.any(String) as unknown as string;
}

/** An SDK client connected to `app` over in-memory streams, collecting the session updates it is sent. */
function wire(service: AcpSessionService, app: ReturnType<AcpSessionService['register']>): Connection {
  const updates: SessionNotification[] = [];
  const { agentSide, clientSide } = connectedStreams();
  const agentConnection = app.connect(agentSide);
  const clientConnection = client({ name: 'sdk client under test' })
    .onNotification(methods.client.session.update, ({ params }) => {
      updates.push(params);
    })
    .connect(clientSide);
  return {
    agent: clientConnection.agent,
    service,
    updates,
    async close() {
      clientConnection.close();
      agentConnection.close();
      await Promise.allSettled([clientConnection.closed, agentConnection.closed]);
    },
  };
}
