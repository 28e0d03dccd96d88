/**
 * Helpers of the behaviour suite: refusals checked by code and by what their message names, sessions
 * compared without the clock a read moves, and the messages and parts the specifications use.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { Message, MessageInput, Session, SessionEngine } from '../../dist/src/index.js';
import type { ContentPart, Json, JsonObject } from '../../dist/src/protocol/content.js';
import { codeOf } from '../helpers/engine.js';

export type { ContentPart, Json, JsonObject };

/**
 * Awaits `call`, which must reject with `code`; its message must name each of `mentions`. Returns the
 * error, for more checks.
 */
export async function refusal(call: Promise<unknown>, code: string, ...mentions: string[]): Promise<Error> {
  const error = await call.then(
    (value: unknown) => {
      throw new Error(`resolved ${JSON.stringify(value)}; expected a rejection with ${code}`);
    },
    (reason: unknown) => reason as Error,
  );
  expect(codeOf(error), error.message).toBe(code);
  for (const mention of mentions) expect(error.message).toContain(mention);
  return error;
}

/** A session without `lastAccessed`, which every read moves: what must stay the same when nothing changed. */
export function held(session: Session | undefined): Omit<Session, 'lastAccessed'> | undefined {
  if (session === undefined) return undefined;
  const { lastAccessed: _moved, ...rest } = session;
  return rest;
}

/** Reads the session; it must exist. */
export async function read(engine: SessionEngine, id: string): Promise<Session> {
  const session = await engine.get(id);
  expect(session, `session ${id}`).toBeDefined();
  return session!;
}

/** A message as the engine returns it for `input` given with its id and timestamp. */
export function stored(input: MessageInput): Message {
  const message: Message = { id: input.id!, role: input.role, content: input.content, timestamp: input.timestamp! };
  if (input.metadata !== undefined) message.metadata = input.metadata;
  return message;
}

/** What JSON text keeps of a value: the one difference is -0, which JSON writes as 0. */
export function asJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

let serial = 0;

/** A message with a fresh id (unique in the test file) and a given timestamp: it reads back exactly so. */
export function message(
  content: string | ContentPart[] = `message ${serial + 1}`,
  extra: Partial<MessageInput> = {},
): MessageInput & { id: string; timestamp: number } {
  serial++;
  return { id: `msg-${serial}`, role: 'user', content, timestamp: 1_700_000_000_000 + serial, ...extra } as MessageInput & { id: string; timestamp: number };
}

/** One part of each type the engine knows, with the optional fields hosts use, and one of a type it does not. */
export const EVERY_PART: readonly ContentPart[] = Object.freeze([
  { type: 'text', text: 'Hello, wörld 😀 — ça va?' },
  { type: 'image', data: 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', mimeType: 'image/png' },
  { type: 'image', uri: 'https://example.com/cat.png', mimeType: 'image/png' },
  { type: 'audio', data: 'UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=', mimeType: 'audio/wav' },
  { type: 'resource_link', uri: 'file:///work/src/a.ts', name: 'a.ts', mimeType: 'text/x-typescript', size: 1_204 },
  { type: 'resource', resource: { uri: 'file:///work/README.md', text: '# Title\n\nBody.', mimeType: 'text/markdown' } },
  { type: 'resource', resource: { uri: 'file:///work/logo.bin', blob: 'AAECAwQF' } },
  { type: 'tool_call', toolCallId: 'call-1', name: 'read_file', input: { path: '/work/src/a.ts', lines: [1, 20], follow: true } },
  { type: 'tool_call', toolCallId: 'call-2', name: 'list', input: null },
  { type: 'tool_result', toolCallId: 'call-1', output: { text: 'export const a = 1;', bytes: 19 }, isError: false },
  { type: 'tool_result', toolCallId: 'call-2', output: 'permission denied', isError: true },
  { type: 'tool_result', toolCallId: 'call-3', output: [] },
  { type: 'thought', text: 'The user wants the file; read it first.' },
  { type: 'x-vendor/annotation', anything: [null, true, false, 0, -1.5e300, 'ünïcode', { nested: { deeper: [[], {}] } }], '': 'empty key' },
]) as readonly ContentPart[];

/** JSON within the limits: finite numbers, well-formed strings, no `__proto__` key, not deep. */
export const json = (maxDepth = 3): fc.Arbitrary<Json> =>
  fc.jsonValue({ maxDepth }).filter((value) => !JSON.stringify(value).includes('"__proto__"')) as fc.Arbitrary<Json>;

/** A JSON object within the limits. */
export const jsonObject = (maxDepth = 3): fc.Arbitrary<JsonObject> =>
  fc.dictionary(
    fc.string({ maxLength: 12 }).filter((key) => key !== '__proto__'),
    json(maxDepth),
    { maxKeys: 5 },
  );

const KNOWN_TYPES = ['text', 'image', 'audio', 'resource_link', 'resource', 'tool_call', 'tool_result', 'thought'];

/** A content part of any type, known or not, with arbitrary JSON where the type allows it. */
export const part: fc.Arbitrary<ContentPart> = fc.oneof(
  fc.record({ type: fc.constant('text'), text: fc.string() }),
  fc.record({ type: fc.constant('thought'), text: fc.string() }),
  fc.record({ type: fc.constantFrom('image', 'audio'), mimeType: fc.string(), data: fc.base64String() }),
  fc.record({ type: fc.constant('resource_link'), uri: fc.webUrl(), name: fc.string() }),
  fc.record({
    type: fc.constant('resource'),
    resource: fc.oneof(fc.record({ uri: fc.webUrl(), text: fc.string() }), fc.record({ uri: fc.webUrl(), blob: fc.base64String() })),
  }),
  fc.record({ type: fc.constant('tool_call'), toolCallId: fc.string(), name: fc.string(), input: json() }),
  fc.record(
    { type: fc.constant('tool_result'), toolCallId: fc.string(), output: json(), isError: fc.boolean() },
    { requiredKeys: ['type', 'toolCallId', 'output'] },
  ),
  fc
    .tuple(
      fc.string({ minLength: 1, maxLength: 64 }).filter((type) => !KNOWN_TYPES.includes(type)),
      jsonObject(),
    )
    .map(([type, rest]) => ({ ...rest, type })),
) as fc.Arbitrary<ContentPart>;
