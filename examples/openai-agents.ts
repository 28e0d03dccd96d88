/**
 * A host of the OpenAI Agents SDK keeping its conversations in session-shards: `run(agent, input, { session })`
 * with an `EngineSession`. The conversation starts on one engine and goes on after that engine is closed and a
 * new one is started on the same data: with `REDIS_URL` set, a second engine on that Redis (another host
 * behind a load balancer); otherwise the same persistence directory (a restart).
 *
 * It runs offline: the model is scripted (a `Model` whose answers are prepared), the tool is a real function.
 * A real host passes a model name or an `OpenAIResponsesModel` from `@openai/agents` instead.
 * Run it with `npm run example:openai-agents` (or `npm run build && node dist/examples/openai-agents.js`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, type Model, type ModelResponse, run, setTracingDisabled, tool, Usage } from '@openai/agents-core';
import { z } from 'zod';
import { SessionEngine, type SessionEngineOptions } from '../src/index.js';
import { EngineSession } from '../src/openai-agents/index.js';

setTracingDisabled(true);

// What the model answers, call after call: a reasoning item and a tool call, then the answer once the tool has
// replied; then a plain answer to the second question.
const answers: ModelResponse['output'][] = [
  [
    { type: 'reasoning', id: 'rs_1', content: [{ type: 'input_text', text: 'The user asks for the time in a city: use the tool.' }] },
    { type: 'function_call', id: 'fc_1', callId: 'call_1', name: 'local_time', arguments: '{"city":"Tokyo"}', status: 'completed' },
  ],
  [{ type: 'message', id: 'msg_1', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'It is 21:00 in Tokyo.' }] }],
  [{ type: 'message', id: 'msg_2', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'You asked about Tokyo.' }] }],
];

class ScriptedModel implements Model {
  private next = 0;
  async getResponse(): Promise<ModelResponse> {
    const output = answers[this.next++];
    if (output === undefined) throw new Error('the scripted model has no more answers');
    return { usage: new Usage(), output: structuredClone(output) };
  }
  // biome-ignore lint/correctness/useYield: this example never streams
  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error('the scripted model does not stream');
  }
}

const localTime = tool({
  name: 'local_time',
  description: 'The local time in a city.',
  parameters: z.object({ city: z.string() }),
  execute: async ({ city }) => `${city}: 21:00`,
});
const agent = new Agent({ name: 'clock', instructions: 'Answer briefly.', model: new ScriptedModel(), tools: [localTime] });

const redisUrl = process.env.REDIS_URL;
const dir = redisUrl === undefined ? await mkdtemp(join(tmpdir(), 'openai-agents-example-')) : undefined;
const options: SessionEngineOptions = redisUrl !== undefined ? { store: { redis: redisUrl } } : { persistence: { dir: dir! } };

try {
  // First host: a new conversation. The EngineSession creates the engine session on its first call.
  const first = await SessionEngine.start(options);
  let sessionId: string;
  try {
    const session = new EngineSession(first, { init: { title: 'clock chat', metadata: { agent: 'clock' } } });
    const result = await run(agent, 'What time is it in Tokyo?', { session });
    console.log('turn 1:', result.finalOutput);
    sessionId = await session.getSessionId(); // keep it where the user's next request will find it
  } finally {
    await first.close();
  }

  // Second host (or the same one after a restart): the same conversation, by its id.
  const second = await SessionEngine.start(options);
  try {
    const session = new EngineSession(second, { sessionId });
    const result = await run(agent, 'Which city did I ask about?', { session });
    console.log('turn 2:', result.finalOutput);
    const items = await session.getItems();
    console.log(`session ${sessionId} holds ${items.length} items:`, items.map((item) => item.type ?? 'message').join(', '));
    console.log('the newest two:', JSON.stringify(await session.getItems(2)));
    // The engine's own view: one message per item, with a role any reader of the engine understands.
    const stored = await second.get(sessionId);
    console.log('engine roles:', stored?.context.map((message) => message.role).join(', '));
  } finally {
    await second.close();
  }
} finally {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}
