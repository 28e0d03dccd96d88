/**
 * The README's quick start: start an engine, create a session, keep a tool-call turn in it, read its
 * tail (as objects, and as JSON text for a model's request body), shut down. Run it with `npm run build && node dist/examples/quick-start.js`.
 */
import { SessionEngine } from '../src/index.js';

const engine = await SessionEngine.start({ maxSessionAgeMs: 30 * 60_000 });
engine.on('expired', (ids) => console.log('expired', ids.length));

const id = await engine.create({ cwd: '/home/ada/project', metadata: { agent: 'coder' } });
await engine.appendMessage(id, { role: 'user', content: 'What is in this folder?' });
// One turn of the model, all or none: a tool call, the tool's result, and the answer.
const length = await engine.appendMessages(id, [
  { role: 'assistant', content: [{ type: 'tool_call', toolCallId: 'call_1', name: 'ls', input: { path: '.' } }], metadata: { model: 'm-1' } },
  { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'call_1', output: ['README.md', 'src'] }] },
  { role: 'assistant', content: 'A README and a src folder.' },
]);
console.log('messages:', length);

const session = await engine.get(id, { lastMessages: 2 });
console.log(JSON.stringify(session?.context, null, 1));
// The same window as JSON text, for a model's request body: the host neither decodes nor re-serialises it.
const window = await engine.getMessagesJson(id, { lastMessages: 2 });
console.log(`{"model":"m-1","messages":${window?.json}}`);
await engine.close();
