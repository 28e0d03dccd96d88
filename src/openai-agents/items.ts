/**
 * How an OpenAI Agents SDK item becomes one engine message and comes back deep-equal.
 *
 * The item is kept whole as one content part, `{ type: 'openai_item', item }`, so that every item type the SDK
 * has or will have (messages, tool calls and their results, reasoning, compaction, unknown ones) survives
 * without this adapter knowing its fields. The engine stores JSON only, and SDK items may hold three values
 * JSON cannot: `undefined` (optional fields set to it), `Uint8Array` (binary image and file data of tool
 * outputs) and `-0`. Each is written as a JSON placeholder in its own place (so key order is kept) and its
 * path is listed beside the item, to be put back on reading. Anything else outside JSON (a function, a class
 * instance, `NaN`, a cycle) is passed on unchanged for the engine to refuse with its typed error.
 */
import { Buffer } from 'node:buffer';
import { types } from 'node:util';
import { CorruptDataError } from '../main/errors.js';
import { MAX_JSON_DEPTH } from '../main/json-data.js';
import type { ContentPart, Json } from '../protocol/content.js';
import type { Message, MessageInput, Role } from '../protocol/model.js';

/** The content part type of a stored item. */
export const OPENAI_ITEM_PART = 'openai_item';

/** A path into an item: object keys and array indexes, from the item down. */
export type ItemPath = (string | number)[];

/**
 * The content part an item is stored as. `undefined`, `bytes` and `negativeZero` list the paths whose JSON
 * placeholder (`null`, a base64 string, `0`) stands for `undefined`, a `Uint8Array` or `-0`; each is present
 * only when not empty.
 */
export interface OpenAIItemPart {
  type: typeof OPENAI_ITEM_PART;
  item: Json;
  undefined?: ItemPath[];
  bytes?: ItemPath[];
  negativeZero?: ItemPath[];
}

const PART_KEYS = new Set(['type', 'item', 'undefined', 'bytes', 'negativeZero']);

/** What an encoding walk found besides JSON. */
interface Found {
  undefined: ItemPath[];
  bytes: ItemPath[];
  negativeZero: ItemPath[];
}

/** Item types that carry what a tool or a program answered: stored with the `tool` role. */
const TOOL_OUTPUT_TYPES = new Set([
  'function_call_result',
  'computer_call_result',
  'shell_call_output',
  'apply_patch_call_output',
  'tool_search_output',
  'program_output',
]);

/**
 * The engine role of an item, for readers of the engine's messages that are not the SDK (the item keeps its
 * own fields whatever the role): a message item's own role (`developer` read as `system`), `tool` for what a
 * tool answered, `assistant` for everything the model produced (calls, reasoning, compaction).
 */
export function roleOf(item: unknown): Role {
  if (typeof item !== 'object' || item === null) return 'assistant';
  const { type, role } = item as { type?: unknown; role?: unknown };
  if (type === undefined || type === 'message') {
    if (role === 'user' || role === 'assistant' || role === 'system') return role;
    if (role === 'developer') return 'system';
  }
  if (typeof type === 'string' && TOOL_OUTPUT_TYPES.has(type)) return 'tool';
  return 'assistant';
}

/**
 * The engine message that stores `item`: its role (see `roleOf`) and one `openai_item` content part. The
 * engine mints the message's id and timestamp. The item is copied; the caller's object is never changed.
 */
export function itemToMessage(item: unknown): MessageInput {
  const found: Found = { undefined: [], bytes: [], negativeZero: [] };
  const part: Record<string, unknown> = { type: OPENAI_ITEM_PART, item: encode(item, [], 0, found) };
  if (found.undefined.length > 0) part.undefined = found.undefined;
  if (found.bytes.length > 0) part.bytes = found.bytes;
  if (found.negativeZero.length > 0) part.negativeZero = found.negativeZero;
  return { role: roleOf(item), content: [part as ContentPart] };
}

/** A JSON copy of `value`, the non-JSON values it holds listed in `found` (see the file's comment). */
function encode(value: unknown, path: ItemPath, depth: number, found: Found): unknown {
  if (value === undefined) {
    found.undefined.push(path);
    return null;
  }
  if (typeof value === 'number' && Object.is(value, -0)) {
    found.negativeZero.push(path);
    return 0;
  }
  // Past the engine's depth bound (or a cycle), a Proxy, or anything not plain: handed on as it is, for the
  // engine to refuse naming the path.
  if (typeof value !== 'object' || value === null || depth > MAX_JSON_DEPTH || types.isProxy(value)) return value;
  if (value instanceof Uint8Array) {
    found.bytes.push(path);
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  }
  if (Array.isArray(value)) {
    const copy = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      const descriptor = Object.getOwnPropertyDescriptor(value, i);
      if (descriptor !== undefined && !('value' in descriptor)) return value;
      copy[i] = encode(descriptor?.value, [...path, i], depth + 1, found);
    }
    return copy;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key)!;
    if (!('value' in descriptor) || key === '__proto__') return value;
    copy[key] = encode(descriptor.value, [...path, key], depth + 1, found);
  }
  return copy;
}

/**
 * The SDK item a message holds. A message `itemToMessage` made comes back deep-equal to the item it was made
 * from. A message written otherwise (with the engine's own API, by another adapter) is read if it is plain
 * text from the user, the system or the assistant, as the SDK's message item of that role; anything else
 * throws `CorruptDataError` naming the session and the message: it is not an item, and guessing one could
 * mislead the model.
 */
export function messageToItem(message: Message, sessionId: string): unknown {
  const { content } = message;
  if (Array.isArray(content) && content.length === 1 && content[0].type === OPENAI_ITEM_PART) {
    return decodePart(content[0], message, sessionId);
  }
  const text = plainText(content);
  if (text !== undefined) {
    if (message.role === 'user' || message.role === 'system') return { role: message.role, content: text };
    if (message.role === 'assistant') return { role: 'assistant', status: 'completed', content: [{ type: 'output_text', text }] };
  }
  throw new CorruptDataError(
    `session ${sessionId} message ${message.id} (${message.role}) is not an OpenAI Agents item: it holds no "${OPENAI_ITEM_PART}" part and is not plain user, system or assistant text`,
  );
}

/** The text of a string content or of text parts alone; `undefined` for anything else. */
function plainText(content: Message['content']): string | undefined {
  if (typeof content === 'string') return content;
  if (content.length === 0 || !content.every((part) => part.type === 'text' && typeof part.text === 'string')) return undefined;
  return content.map((part) => part.text as string).join('');
}

function decodePart(part: ContentPart, message: Message, sessionId: string): unknown {
  const where = `session ${sessionId} message ${message.id}`;
  const corrupt = (what: string) => new CorruptDataError(`${where}: its "${OPENAI_ITEM_PART}" part ${what}`);
  for (const key of Object.keys(part)) {
    if (!PART_KEYS.has(key)) throw corrupt(`has an unknown key "${key}"`);
  }
  if (!('item' in part)) throw corrupt('has no item');
  // The engine returns the caller's own copy: the placeholders are replaced in place.
  const holder: { item: unknown } = { item: part.item };
  const restore = (key: 'undefined' | 'bytes' | 'negativeZero', value: (placeholder: unknown, path: ItemPath) => unknown) => {
    const paths = part[key];
    if (paths === undefined) return;
    if (!Array.isArray(paths)) throw corrupt(`has ${key} that is not a list of paths`);
    for (const path of paths) {
      if (!Array.isArray(path) || !path.every((step) => typeof step === 'string' || typeof step === 'number')) {
        throw corrupt(`has ${key} with a path that is not a list of keys and indexes`);
      }
      let parent: unknown = holder;
      let last: string | number = 'item';
      for (const step of path as ItemPath) {
        parent = (parent as Record<string | number, unknown>)[last];
        last = step;
        if (typeof parent !== 'object' || parent === null || !Object.hasOwn(parent, step)) {
          throw corrupt(`has ${key} with a path, ${JSON.stringify(path)}, that is not in its item`);
        }
      }
      const target = parent as Record<string | number, unknown>;
      target[last] = value(target[last], path as ItemPath);
    }
  };
  restore('undefined', (placeholder, path) => {
    if (placeholder !== null) throw corrupt(`has undefined at ${JSON.stringify(path)} where no null placeholder is`);
    return undefined;
  });
  restore('bytes', (placeholder, path) => {
    if (typeof placeholder !== 'string') throw corrupt(`has bytes at ${JSON.stringify(path)} where no base64 placeholder is`);
    return new Uint8Array(Buffer.from(placeholder, 'base64'));
  });
  restore('negativeZero', (placeholder, path) => {
    if (placeholder !== 0) throw corrupt(`has negativeZero at ${JSON.stringify(path)} where no 0 placeholder is`);
    return -0;
  });
  return holder.item;
}
