/**
 * A conversation of the OpenAI Agents SDK that runs offline: an agent with a real function tool, driven by a
 * scripted model (a `Model` whose `getResponse` returns prepared outputs, in order). The SDK's own runner does
 * everything else: it reads the session, calls the model, runs the tool, and writes the turn to the session.
 */
import {
  Agent,
  type AgentInputItem,
  type Model,
  type ModelRequest,
  type ModelResponse,
  run,
  type Session,
  setTracingDisabled,
  tool,
  Usage,
} from '@openai/agents-core';
import { z } from 'zod';

// No network: the SDK would otherwise export traces to OpenAI.
setTracingDisabled(true);

/** One user turn: what the user says, and what the model answers to each of the turn's model calls. */
export interface Turn {
  input: string;
  responses: ModelResponse['output'][];
}

/**
 * Four turns: the weather tool called once (after a reasoning item), then twice at once, then a hosted web
 * search with an annotated answer, then a plain answer. Every model call of a turn is scripted: a turn with a
 * tool call has two, the call and the answer once the tool replied.
 */
export const TURNS: Turn[] = [
  {
    input: 'What is the weather in Paris?',
    responses: [
      [
        {
          type: 'reasoning',
          id: 'rs_1',
          content: [{ type: 'input_text', text: 'The user wants the weather: call the tool.' }],
          rawContent: [{ type: 'reasoning_text', text: 'weather -> get_weather(Paris)' }],
          providerData: { encrypted_content: 'gAAAAB-opaque' },
        },
        { type: 'function_call', id: 'fc_1', callId: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' },
      ],
      [{ type: 'message', id: 'msg_1', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Sunny in Paris, 21 °C.' }] }],
    ],
  },
  {
    input: 'And in Oslo and in Rome?',
    responses: [
      [
        { type: 'reasoning', id: 'rs_2', content: [{ type: 'input_text', text: 'Two cities: two calls.' }] },
        { type: 'function_call', id: 'fc_2', callId: 'call_2', name: 'get_weather', arguments: '{"city":"Oslo"}', status: 'completed' },
        { type: 'function_call', id: 'fc_3', callId: 'call_3', name: 'get_weather', arguments: '{"city":"Rome"}', status: 'completed' },
      ],
      [
        {
          type: 'message',
          id: 'msg_2',
          role: 'assistant',
          status: 'completed',
          content: [{ type: 'output_text', text: 'Oslo: rain, 9 °C. Rome: sunny, 24 °C.' }],
        },
      ],
    ],
  },
  {
    input: 'Where can I read more?',
    responses: [
      [
        {
          type: 'hosted_tool_call',
          id: 'ws_1',
          name: 'web_search_call',
          status: 'completed',
          providerData: { type: 'web_search_call', action: { type: 'search', query: 'Paris weather' } },
        },
        {
          type: 'message',
          id: 'msg_3',
          role: 'assistant',
          status: 'completed',
          content: [
            {
              type: 'output_text',
              text: 'See the national weather service.',
              providerData: { annotations: [{ type: 'url_citation', url: 'https://meteofrance.com', start_index: 4, end_index: 33 }] },
            },
          ],
        },
      ],
    ],
  },
  {
    input: 'Thanks!',
    responses: [[{ type: 'message', id: 'msg_4', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'You are welcome.' }] }]],
  },
];

/** A model that answers each call with the next prepared output, and keeps what each call was sent. */
export class ScriptedModel implements Model {
  /** The input of every call, in order: the history the runner read from the session, and the new items. */
  readonly requests: AgentInputItem[][] = [];
  private next = 0;

  constructor(private readonly outputs: ModelResponse['output'][]) {}

  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    this.requests.push(structuredClone(typeof request.input === 'string' ? [{ role: 'user', content: request.input }] : request.input));
    const output = this.outputs[this.next];
    if (output === undefined) throw new Error(`the scripted model has no answer for call ${this.next + 1}`);
    this.next++;
    return { usage: new Usage(), output: structuredClone(output), responseId: `resp_${this.next}` };
  }

  // The runner streams only when asked to (`stream: true`); these tests never ask.
  // biome-ignore lint/correctness/useYield: never streams
  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error('the scripted model does not stream');
  }
}

/** The weather tool: a real function tool, run by the SDK with the arguments the model gave. */
const getWeather = tool({
  name: 'get_weather',
  description: 'The weather in a city.',
  parameters: z.object({ city: z.string() }),
  execute: async ({ city }) => `${city}: ${city === 'Oslo' ? 'rain, 9' : city === 'Rome' ? 'sunny, 24' : 'sunny, 21'} °C`,
});

/** A weather agent whose model plays `turns` (all their model calls, in order). */
export function weatherAgent(turns: Turn[] = TURNS): { agent: Agent; model: ScriptedModel } {
  const model = new ScriptedModel(turns.flatMap((turn) => turn.responses));
  return { agent: new Agent({ name: 'weather', instructions: 'Answer about the weather.', model, tools: [getWeather] }), model };
}

/** Runs `turns` with the SDK's own runner on `session`, one `run()` per turn; resolves the final outputs. */
export async function converse(agent: Agent, session: Session, turns: Turn[]): Promise<unknown[]> {
  const outputs: unknown[] = [];
  for (const turn of turns) outputs.push((await run(agent, turn.input, { session })).finalOutput);
  return outputs;
}
