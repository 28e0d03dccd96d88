/**
 * The README's quick start: start an engine, create a session, append to it, read its tail, shut down.
 * Run it with `npm run build && node dist/examples/quick-start.js`.
 */
import { SessionEngine, type Session } from '../src/index.js';

const engine = await SessionEngine.start({ maxSessionAgeMs: 30 * 60_000 });
engine.on('expired', (ids) => console.log('expired', ids.length));

const id = await engine.create({
  clientCapabilities: { fs: { readTextFile: true }, terminal: true },
  mcpServers: ['filesystem'],
  cwd: '/home/ada/project',
});
await engine.appendMessage(id, { role: 'user', content: 'Hello!' });
const length = await engine.appendMessage(id, { role: 'assistant', content: 'Hi, how can I help?' });
console.log('messages:', length);

const session: Session | undefined = await engine.get(id, { lastMessages: 1 });
console.log(session);
console.log('sessions held:', await engine.size());
await engine.close();
