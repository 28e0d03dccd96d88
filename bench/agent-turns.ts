/**
 * What an agent host does with its sessions, as a workload: structured messages (text parts, tool calls
 * and tool results with JSON of ~1-4 KB, now and then a long assistant text), and one turn of the host's
 * loop: read the newest messages, serialise them into the model's request body, append the user's
 * prompt, the model's tool call with the tool's result (one `appendMessages`), and the model's reply;
 * every `COMPACT_EVERY`-th turn of a session, the oldest `COMPACT_OLDEST` messages become one summary.
 *
 * Every variant runs the same turn through the same calls (`AgentApi`), and the request body is built
 * the same way for all of them, so that the host's work outside the store is the same for every variant.
 * A turn reads its window in one of two forms (`WindowForm`): as objects, which every store hands out and
 * the host serialises (`JSON.stringify`), or as the JSON text a store that has it hands out
 * (`getMessagesJson`, the engine's), which the host puts into the body as it is.
 */
import type { JsonObject, MessageInput, MessagesJson, Session } from '../src/index.js';

/** The calls a turn makes: the engine's own, each returning a promise. */
export interface AgentApi {
  get(id: string, options?: { lastMessages?: number }): Promise<Session | undefined>;
  /** The window as JSON text: only the engine's stores have it. */
  getMessagesJson?(id: string, options?: { lastMessages?: number }): Promise<MessagesJson | undefined>;
  appendMessage(id: string, message: MessageInput): Promise<number>;
  appendMessages(id: string, messages: readonly MessageInput[]): Promise<number>;
  spliceMessages(id: string, start: number, deleteCount: number, insert?: readonly MessageInput[]): Promise<unknown[]>;
}

/**
 * How a turn reads its window: `objects` (`get`, then `JSON.stringify` into the request body), or `json`
 * (`getMessagesJson`: the text goes into the body as it is; the same body).
 */
export type WindowForm = 'objects' | 'json';

/** Messages in a prefilled agent session. */
export const AGENT_SESSION_MESSAGES = 50;
/** The window a turn reads (the newest messages). */
export const TURN_WINDOW = 20;
/** Every this many turns of a session, one compaction. */
export const COMPACT_EVERY = 25;
/** How many of the oldest messages a compaction replaces with one summary. */
export const COMPACT_OLDEST = 30;
/** Messages in a long history, for whole reads against the newest `TURN_WINDOW`. */
export const LONG_HISTORY_MESSAGES = 2_000;

const WORDS =
  'the agent reads the repository then plans a change runs the tests and reports what it found while the user waits for an answer about the build'.split(' ');

/** Deterministic prose of about `chars` characters, varying with `seed`. */
function prose(seed: number, chars: number): string {
  let text = '';
  for (let i = 0; text.length < chars; i++) text += `${WORDS[(seed * 31 + i * 7) % WORDS.length]} `;
  return text.slice(0, chars);
}

/** JSON of about `bytes` bytes: what a tool is asked (a path, options) or answers (lines of a file). */
function toolJson(seed: number, bytes: number): JsonObject {
  const lines: string[] = [];
  let size = 80;
  for (let n = 0; size < bytes; n++) {
    const line = `${n + 1}: ${prose(seed + n, 40 + ((seed + n) % 40))}`;
    lines.push(line);
    size += line.length + 3;
  }
  return {
    path: `/srv/project/src/module-${seed % 97}.ts`,
    encoding: 'utf8',
    truncated: false,
    lines,
    stat: { size: bytes * 3, mtimeMs: 1_764_000_000_000 + seed },
  };
}

/** ~1-4 KB, varying with `seed`. */
function toolBytes(seed: number): number {
  return 1_024 + (((seed * 2_654_435_761) >>> 0) % 3_072);
}

/** One turn's messages, built as a host gets them (the model's and the tool's output). */
export interface TurnMessages {
  user: MessageInput;
  call: MessageInput;
  result: MessageInput;
  reply: MessageInput;
}

/** The messages of turn `seed`; every tenth reply is a long assistant text (~6 KB). */
export function turnMessages(seed: number): TurnMessages {
  const callId = `call_${seed.toString(36)}`;
  return {
    user: { role: 'user', content: [{ type: 'text', text: prose(seed, 120 + (seed % 200)) }] },
    call: {
      role: 'assistant',
      content: [
        { type: 'text', text: prose(seed + 1, 80) },
        { type: 'tool_call', toolCallId: callId, name: 'read_file', input: toolJson(seed, toolBytes(seed)) },
      ],
      metadata: { model: 'model-1', usage: { inputTokens: 1_200 + seed, outputTokens: 80 } },
    },
    result: { role: 'tool', content: [{ type: 'tool_result', toolCallId: callId, output: toolJson(seed + 3, toolBytes(seed + 1)) }] },
    reply: {
      role: 'assistant',
      content: [{ type: 'text', text: prose(seed + 2, seed % 10 === 0 ? 6_000 : 300 + (seed % 500)) }],
      metadata: { model: 'model-1', usage: { inputTokens: 2_400 + seed, outputTokens: 300 } },
    },
  };
}

/** The summary a compaction leaves in place of the oldest messages. */
export const SUMMARY: MessageInput = { role: 'system', content: [{ type: 'text', text: `Summary of the conversation so far: ${prose(7, 1_500)}` }] };

/**
 * The turns prefilled histories are made of, built once when this module loads (before any memory is
 * measured): building ~8 KB of messages per turn for every prefilled turn took longer than the runs.
 * The stores copy what they are given, so sessions sharing these inputs share nothing once stored.
 */
const HISTORY_POOL: TurnMessages[] = Array.from({ length: 128 }, (_, n) => turnMessages(n));

/** `count` messages of turns from `seed` on (user, call, result, reply, ...), as a session holds them. */
export function historyMessages(seed: number, count: number): MessageInput[] {
  const out: MessageInput[] = [];
  for (let t = seed; out.length < count; t++) {
    const turn = HISTORY_POOL[t % HISTORY_POOL.length]!;
    out.push(turn.user, turn.call, turn.result, turn.reply);
  }
  return out.slice(0, count);
}

/** The turns appended during the workloads: a fixed pool, like the histories'. */
const TURN_POOL: TurnMessages[] = Array.from({ length: 64 }, (_, n) => turnMessages(1_000 + n));

/** What the request bodies came to, in UTF-8 bytes, so that no serialisation is optimised away. */
let bodyBytes = 0;

/** Bytes of request bodies built so far (read it, so that building them is not dead code). */
export function requestBytes(): number {
  return bodyBytes;
}

/**
 * The turns of a set of sessions, counted per session so that every `COMPACT_EVERY`-th compacts. A turn
 * takes the session idle the longest and gives it back when done: concurrent turns are on distinct
 * sessions, as a host's are (one conversation waits for its model), as long as there are more sessions
 * than turns in flight.
 */
export class AgentTurns {
  private readonly turns: Uint32Array;
  /** The idle sessions, oldest first: a ring of `ids.length` slots. */
  private readonly idle: Uint32Array;
  private head = 0;
  private count: number;

  constructor(
    private readonly api: AgentApi,
    readonly ids: readonly string[],
  ) {
    this.turns = new Uint32Array(ids.length);
    this.idle = Uint32Array.from(ids, (_, slot) => slot);
    this.count = ids.length;
  }

  /**
   * Throws unless both forms of a turn build the same request body on this store (where it has the JSON
   * read): the turns compared must send a model the same bytes.
   */
  async checkSameBody(): Promise<void> {
    if (this.api.getMessagesJson === undefined) return;
    const id = this.ids[0]!;
    const [objects, json] = await Promise.all([this.api.get(id, { lastMessages: TURN_WINDOW }), this.api.getMessagesJson(id, { lastMessages: TURN_WINDOW })]);
    if (objects === undefined || json === undefined || JSON.stringify(objects.context) !== json.json) {
      throw new Error(`agent turns: the window read as JSON text is not JSON.stringify of the window read as objects (session ${id})`);
    }
  }

  /** One turn, with the `k`-th messages of the pool, on the session idle the longest. */
  async next(k: number, form: WindowForm = 'objects'): Promise<void> {
    if (this.count === 0) throw new Error(`agent turns: more turns in flight than the ${this.ids.length} sessions`);
    const slot = this.idle[this.head]!;
    this.head = (this.head + 1) % this.idle.length;
    this.count--;
    try {
      await this.turn(slot, k, form);
    } finally {
      this.idle[(this.head + this.count) % this.idle.length] = slot;
      this.count++;
    }
  }

  /** One turn on session `slot`, with the `k`-th messages of the pool. */
  private async turn(slot: number, k: number, form: WindowForm): Promise<void> {
    const id = this.ids[slot]!;
    // The host sends the window to the model: the same request body, built from what the store hands out.
    if (form === 'json') {
      const window = await this.api.getMessagesJson!(id, { lastMessages: TURN_WINDOW });
      if (window === undefined) throw new Error(`agent turn: session ${id} is gone`);
      // Measured as the bytes a socket would send, so that the body built around the text is made whole
      // (flattened and scanned) as the serialised one is.
      bodyBytes += Buffer.byteLength(`{"model":"model-1","messages":${window.json}}`, 'utf8');
    } else {
      const window = await this.api.get(id, { lastMessages: TURN_WINDOW });
      if (window === undefined) throw new Error(`agent turn: session ${id} is gone`);
      bodyBytes += Buffer.byteLength(JSON.stringify({ model: 'model-1', messages: window.context }), 'utf8');
    }
    const turn = TURN_POOL[k & 63]!;
    await this.api.appendMessage(id, turn.user);
    await this.api.appendMessages(id, [turn.call, turn.result]);
    await this.api.appendMessage(id, turn.reply);
    if (++this.turns[slot]! % COMPACT_EVERY === 0) await this.api.spliceMessages(id, 0, COMPACT_OLDEST, [SUMMARY]);
  }
}
