/**
 * Sessions of 50 structured messages (tool calls with ~1 KB JSON inputs and outputs, text parts) beside the
 * same number of plain-string messages of the same size: appending them one by one, and reading the whole
 * session back. The ratio, in the same run, is what a structured history costs over plain strings.
 *   npm run build && node dist/bench/structured.js
 */
import { Bench } from 'tinybench';
import { type MessageInput, SessionEngine } from '../src/index.js';

const MESSAGES = 50;
const json = (i: number) => ({ path: `/srv/project/file-${i}.ts`, lines: Array.from({ length: 30 }, (_, n) => `line ${n} of a file`), ok: true });

function structured(i: number): MessageInput {
  if (i % 2 === 0) {
    return {
      role: 'assistant',
      content: [
        { type: 'text', text: `Reading file ${i}.` },
        { type: 'tool_call', toolCallId: `call_${i}`, name: 'read_file', input: json(i) },
      ],
      metadata: { model: 'm-1', usage: { input: 1200, output: 80 } },
    };
  }
  return { role: 'tool', content: [{ type: 'tool_result', toolCallId: `call_${i - 1}`, output: json(i) }] };
}

function plain(i: number): MessageInput {
  return { role: i % 2 === 0 ? 'assistant' : 'user', content: JSON.stringify(structured(i).content) };
}

const engine = await SessionEngine.start({ shards: 2 });
try {
  const bench = new Bench({ time: 2_000 });
  for (const [name, make] of [
    ['structured', structured],
    ['plain strings', plain],
  ] as const) {
    const messages = Array.from({ length: MESSAGES }, (_, i) => make(i));
    const full = await engine.create();
    for (const message of messages) await engine.appendMessage(full, message);
    bench.add(`append ${MESSAGES} (${name})`, async () => {
      const id = await engine.create();
      for (const message of messages) await engine.appendMessage(id, message);
      await engine.remove(id);
    });
    bench.add(`read whole session of ${MESSAGES} (${name})`, async () => {
      await engine.get(full);
    });
  }
  await bench.run();
  console.table(bench.table());
  const median = (name: string): number => {
    const result = bench.getTask(name)?.result;
    if (result === undefined || !('latency' in result)) throw new Error(`${name}: no result`);
    return result.latency.p50;
  };
  for (const what of [`append ${MESSAGES}`, `read whole session of ${MESSAGES}`]) {
    const ratio = median(`${what} (structured)`) / median(`${what} (plain strings)`);
    console.log(`${what}: structured / plain strings, median latency ratio ${ratio.toFixed(2)}`);
  }
} finally {
  await engine.close();
}
