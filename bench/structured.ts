/**
 * What structured messages cost the host's thread, in two parts, on tinybench:
 *
 * 1. Sessions of 50 structured messages (tool calls with ~1 KB JSON inputs and outputs, text parts) beside
 *    the same number of plain-string messages of the same size: appending them one by one, and reading the
 *    whole session back, through the engine. The ratio, in the same run, is what a structured history costs
 *    over plain strings.
 * 2. The host's share of one agent turn (bench/agent-turns.ts), piece by piece, in-process: what a copying
 *    `Map` does to hand out the 20-message window (`structuredClone`, or a hand-written copy), what the
 *    engine's host side does to materialise it (msgpack records decoded, content parts and metadata parsed
 *    from the JSON text the shard sends) or to take it as JSON text (`getMessagesJson`: one str decoded, the
 *    body built around it), the request body every variant builds from objects (`JSON.stringify`), and the
 *    checks of the turn's four messages (the engine's, which also encodes their parts as JSON text, and the
 *    baselines'). These are the figures that decide the agent-turn targets of `npm run bench`.
 *
 *   npm run bench:structured
 */
import { Bench } from 'tinybench';
import { type Message, type MessageInput, SessionEngine } from '../src/index.js';
import { checkMessage } from '../src/main/validation.js';
import { decode, encode } from '../src/protocol/codec.js';
import { encodeMessageRecord, readMessageJson } from '../src/protocol/message-record.js';
import { historyMessages, TURN_WINDOW, turnMessages } from './agent-turns.js';
import { checkStoredMessage } from './baselines/stored-message.js';

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

function medianUs(bench: Bench, name: string): number {
  const result = bench.getTask(name)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`${name}: no result`);
  return result.latency.p50 * 1_000;
}

async function structuredVsPlain(): Promise<void> {
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
    for (const what of [`append ${MESSAGES}`, `read whole session of ${MESSAGES}`]) {
      const ratio = medianUs(bench, `${what} (structured)`) / medianUs(bench, `${what} (plain strings)`);
      console.log(`${what}: structured / plain strings, median latency ratio ${ratio.toFixed(2)}`);
    }
  } finally {
    await engine.close();
  }
}

/** A copy of a JSON value written out by hand, as the hand-copy `Map` baseline makes it. */
function copyJson(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(copyJson);
  const out: Record<string, unknown> = {};
  for (const key in value) out[key] = copyJson((value as Record<string, unknown>)[key]);
  return out;
}

async function hostShareOfATurn(): Promise<void> {
  // The window as a store holds it: checked messages with ids and timestamps.
  const window: Message[] = historyMessages(0, TURN_WINDOW).map((m) => checkStoredMessage(m, 1_048_576));
  const session = { id: '01JZ0000000000000000000000', createdAt: 0, lastAccessed: 0, context: window, length: 50 };
  // What the shard sends for it: content parts and metadata as JSON text, the rest as msgpack records.
  const wire = encode({
    ...session,
    context: window.map((m) => ({
      ...m,
      content: Buffer.from(JSON.stringify(m.content)),
      ...(m.metadata ? { metadata: Buffer.from(JSON.stringify(m.metadata)) } : {}),
    })),
  });
  // What the shard sends for getMessagesJson: the text, and the session's length.
  const jsonWire = encode([JSON.stringify(window), 50]);
  const turn = turnMessages(1_000);
  const turnInputs = [turn.user, turn.call, turn.result, turn.reply];
  const bodyBytes = JSON.stringify({ model: 'model-1', messages: window }).length;
  const bench = new Bench({ time: 1_000 });
  bench
    .add('window: structuredClone (Map, structuredClone)', () => {
      structuredClone(session);
    })
    .add('window: hand copy (Map, hand copy)', () => {
      session.context.map((m) => ({ ...m, content: copyJson(m.content) }));
    })
    .add('window: msgpack decode + JSON.parse of parts (engine host side)', () => {
      for (const m of (decode(wire) as typeof session).context) readMessageJson(m);
    })
    .add('window: JSON.stringify into the request body (every store handing out objects)', () => {
      Buffer.byteLength(JSON.stringify({ model: 'model-1', messages: window }), 'utf8');
    })
    .add('window: JSON text decoded and put into the request body (engine getMessagesJson host side)', () => {
      const [json] = decode(jsonWire) as [string, number];
      Buffer.byteLength(`{"model":"model-1","messages":${json}}`, 'utf8');
    })
    .add('turn: check + encode 4 messages (engine host side)', () => {
      for (const m of turnInputs) encodeMessageRecord(checkMessage(m, 1_048_576));
    })
    .add('turn: check (a checked copy) of 4 messages (Map, lru-cache)', () => {
      for (const m of turnInputs) checkStoredMessage(m, 1_048_576);
    });
  await bench.run();
  console.log(`\nthe host's share of one agent turn: a ${TURN_WINDOW}-message window of ${bodyBytes} bytes as JSON, msgpack on the wire ${wire.length} bytes`);
  console.table(bench.table());
}

await structuredVsPlain();
await hostShareOfATurn();
