/**
 * Validation at the boundary: every argument is checked on the caller's thread, before anything is
 * encoded, so that a bad call fails alone and never reaches a shard.
 */
import { isAbsolute } from 'node:path';
import { types } from 'node:util';
import { encode } from '../protocol/codec.js';
import type { MessageInput, Role } from '../protocol/model.js';
import { ROLES } from '../protocol/model.js';
import { newMessageId } from '../protocol/message-ids.js';
import { JsonText } from '../protocol/message-record.js';
import { InvalidArgumentError, InvalidSessionIdError, LimitExceededError } from './errors.js';
import { readJsonObject, serialisesPlainly } from './json-data.js';
import { checkStructuredMessage } from './message-validation.js';
import { isCanonicalSessionId } from './session-ids.js';

/** A short, safe rendering of a bad value for an error message. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol' || typeof value === 'function') return typeof value;
  if (typeof value === 'undefined') return 'undefined';
  // Before Array.isArray, which throws on a revoked Proxy.
  if (typeof value === 'object' && value !== null && types.isProxy(value)) return 'a Proxy';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

export function checkSessionId(id: unknown, field = 'id'): asserts id is string {
  if (!isCanonicalSessionId(id)) {
    throw new InvalidSessionIdError(
      `${field} must be a ULID in canonical form (26 characters of uppercase Crockford base32, first at most 7), got ${describeValue(id)}`,
    );
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || types.isProxy(value) || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * The own enumerable data properties of a caller's plain object, each read once, as a copy: what is
 * checked is what is encoded, whatever the object does later. A Proxy or an accessor property (a getter
 * or setter, which could answer differently at each read, or throw) is refused; reading the copy runs
 * none of the caller's code. `undefined` when `value` is no plain object (the caller says what it wanted).
 */
function readPlainObject(value: unknown, field: string): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (types.isProxy(value)) throw new InvalidArgumentError(`${field} must be plain data, got a Proxy`);
  if (!isPlainObject(value)) return undefined;
  const copy: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value)) copy[key] = dataProperty(value, key, field);
  return copy;
}

/** The value of an own data property; refuses a getter or setter. */
function dataProperty(owner: object, key: string, field: string): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(owner, key);
  if (descriptor === undefined) return undefined;
  if (descriptor.get !== undefined || descriptor.set !== undefined) {
    throw new InvalidArgumentError(`${field}.${key} must be a data property, got a getter or setter`);
  }
  return descriptor.value;
}

/** How deep, and how large, client capabilities may be: they are metadata, not a payload. */
const MAX_CAPABILITY_DEPTH = 16;
const MAX_CAPABILITY_VALUES = 10_000;

/** The limits on a session's fields (the options of the same names). */
export interface FieldLimits {
  maxFieldBytes: number;
  maxSessionBytes: number;
  maxMetadataBytes: number;
}

const NO_FIELD_LIMITS: FieldLimits = Object.freeze({ maxFieldBytes: Infinity, maxSessionBytes: Infinity, maxMetadataBytes: Infinity });

/** Rejects an encoded field past `maxFieldBytes` (or, alone, past `maxSessionBytes`); `atLeast`: a lower bound of its bytes. */
function checkFieldBytes(bytes: number, field: string, limits: FieldLimits, atLeast = false): void {
  const size = `${atLeast ? 'at least ' : ''}${bytes} bytes encoded`;
  if (bytes > limits.maxFieldBytes) throw new LimitExceededError(`${field} is ${size}, over maxFieldBytes (${limits.maxFieldBytes})`);
  if (bytes > limits.maxSessionBytes) throw new LimitExceededError(`${field} is ${size}, over maxSessionBytes (${limits.maxSessionBytes})`);
}

/**
 * Capabilities must be JSON-like data (null, booleans, finite numbers, strings, arrays, plain objects),
 * bounded in depth, values and encoded bytes, so that they always encode, never loop (a cycle hits the
 * depth bound), and come back as they went in. Returns them encoded (`null` stays `null`), from a copy
 * read once (see `readPlainObject`): objects are copied into `Map`s, which the codec writes as maps
 * whatever their keys (`constructor`, `toJSON`), and the shard decodes as plain objects.
 */
export function checkCapabilities(value: unknown, limits: FieldLimits = NO_FIELD_LIMITS): Uint8Array | null {
  if (value === null) return null;
  let budget = MAX_CAPABILITY_VALUES;
  // UTF-8 takes at least a byte a UTF-16 unit: strings past the limit are refused before anything is encoded.
  let stringUnits = 0;
  const byteLimit = Math.min(limits.maxFieldBytes, limits.maxSessionBytes);
  const walk = (node: unknown, path: string, depth: number): unknown => {
    if (--budget < 0) throw new InvalidArgumentError(`clientCapabilities holds more than ${MAX_CAPABILITY_VALUES} values`);
    if (node === null || node === undefined || typeof node === 'boolean') return node;
    if (typeof node === 'string') {
      checkWellFormed(node, path);
      stringUnits += node.length;
      if (stringUnits > byteLimit) checkFieldBytes(stringUnits, 'clientCapabilities', limits, true);
      return node;
    }
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) throw new InvalidArgumentError(`${path} must be a finite number, got ${describeValue(node)}`);
      return node;
    }
    if (depth >= MAX_CAPABILITY_DEPTH) throw new InvalidArgumentError(`${path} is nested deeper than ${MAX_CAPABILITY_DEPTH} levels (or is circular)`);
    if (typeof node === 'object' && types.isProxy(node)) throw new InvalidArgumentError(`${path} must be plain data, got a Proxy`);
    if (Array.isArray(node)) {
      const copy = new Array<unknown>(node.length);
      for (let i = 0; i < node.length; i++) copy[i] = walk(dataProperty(node, String(i), path), `${path}[${i}]`, depth + 1);
      return copy;
    }
    const object = readPlainObject(node, path);
    if (object !== undefined) {
      const copy = new Map<string, unknown>();
      for (const key in object) {
        // A decoder assigning this key could replace the prototype of the object it builds.
        if (key === '__proto__') throw new InvalidArgumentError(`${path} must not have a "__proto__" key`);
        checkWellFormed(key, `${path} key`);
        stringUnits += key.length;
        copy.set(key, walk(object[key], `${path}.${key}`, depth + 1));
      }
      return copy;
    }
    throw new InvalidArgumentError(`${path} must be JSON-like data (null, boolean, number, string, array, plain object), got ${describeValue(node)}`);
  };
  if (readPlainObject(value, 'clientCapabilities') === undefined) {
    throw new InvalidArgumentError(`clientCapabilities must be a plain object or null, got ${describeValue(value)}`);
  }
  const copy = walk(value, 'clientCapabilities', 0) as Map<string, unknown>;
  const fs = copy.get('fs');
  if (fs !== undefined) {
    if (!(fs instanceof Map)) throw new InvalidArgumentError(`clientCapabilities.fs must be an object, got ${describeValue(fs)}`);
    for (const key of ['readTextFile', 'writeTextFile'] as const) {
      if (fs.get(key) !== undefined && typeof fs.get(key) !== 'boolean') {
        throw new InvalidArgumentError(`clientCapabilities.fs.${key} must be a boolean, got ${describeValue(fs.get(key))}`);
      }
    }
  }
  const terminal = copy.get('terminal');
  if (terminal !== undefined && typeof terminal !== 'boolean') {
    throw new InvalidArgumentError(`clientCapabilities.terminal must be a boolean, got ${describeValue(terminal)}`);
  }
  const bytes = encode(copy);
  checkFieldBytes(bytes.length, 'clientCapabilities', limits);
  return bytes;
}

/** MCP server names: an array of well-formed strings, returned encoded (`[]` stays `[]`) from a copy read once. */
export function checkServers(value: unknown, limits: FieldLimits = NO_FIELD_LIMITS): Uint8Array | string[] {
  if (typeof value === 'object' && value !== null && types.isProxy(value)) throw new InvalidArgumentError('mcpServers must be plain data, got a Proxy');
  if (!Array.isArray(value)) throw new InvalidArgumentError(`mcpServers must be an array of strings, got ${describeValue(value)}`);
  if (value.length === 0) return [];
  const copy = new Array<string>(value.length);
  const byteLimit = Math.min(limits.maxFieldBytes, limits.maxSessionBytes);
  let units = 0;
  for (let i = 0; i < value.length; i++) {
    const name = dataProperty(value, String(i), 'mcpServers');
    if (typeof name !== 'string') throw new InvalidArgumentError(`mcpServers[${i}] must be a string, got ${describeValue(name)}`);
    checkWellFormed(name, `mcpServers[${i}]`);
    units += name.length;
    if (units > byteLimit) checkFieldBytes(units, 'mcpServers', limits, true);
    copy[i] = name;
  }
  const bytes = encode(copy);
  checkFieldBytes(bytes.length, 'mcpServers', limits);
  return bytes;
}

/**
 * Strings travel as UTF-8, which cannot carry a lone surrogate: it would come back as U+FFFD, a silent
 * change of what was stored. Such strings are refused instead.
 */
export function checkWellFormed(value: string, field: string): void {
  if (!value.isWellFormed()) {
    throw new InvalidArgumentError(`${field} must be well-formed Unicode, got a string with a lone surrogate`);
  }
}

/** The longest `cwd`, `title` and `owner` accepted, in UTF-16 units: they are metadata, not a payload. */
export const MAX_CWD_LENGTH = 4096;
export const MAX_TITLE_LENGTH = 1024;
export const MAX_OWNER_LENGTH = 256;

const SESSION_FIELDS = ['clientCapabilities', 'mcpServers', 'cwd', 'title', 'owner', 'metadata'] as const;

/** A string field of a session: `null` clears it; the rules are the field's own. */
function checkTextField(value: unknown, field: string, maxLength: number): string | null {
  if (value === null) return null;
  if (typeof value !== 'string') throw new InvalidArgumentError(`${field} must be a string or null, got ${describeValue(value)}`);
  if (value.length > maxLength) throw new InvalidArgumentError(`${field} must be at most ${maxLength} characters, got ${value.length}`);
  checkWellFormed(value, field);
  return value;
}

/** A session's working directory: an absolute path (or `null`). */
export function checkCwd(value: unknown, field = 'cwd'): string | null {
  const cwd = checkTextField(value, field, MAX_CWD_LENGTH);
  if (cwd !== null && (!isAbsolute(cwd) || cwd.includes('\0'))) {
    throw new InvalidArgumentError(`${field} must be an absolute path, got ${describeValue(cwd)}`);
  }
  return cwd;
}

/** A session's owner: a non-empty string (or `null`). */
export function checkOwner(value: unknown, field = 'owner'): string | null {
  const owner = checkTextField(value, field, MAX_OWNER_LENGTH);
  if (owner === '') throw new InvalidArgumentError(`${field} must be a non-empty string, got ""`);
  return owner;
}

/** The checked fields of an `init` or `update`, and which were given. */
export interface CheckedSessionFields {
  hasCapabilities: boolean;
  /** Encoded (`checkCapabilities`); `null` for none. */
  capabilities: Uint8Array | null;
  hasServers: boolean;
  /** Encoded (`checkServers`); `[]` for none. */
  servers: Uint8Array | string[];
  hasCwd: boolean;
  cwd: string | null;
  hasTitle: boolean;
  title: string | null;
  hasOwner: boolean;
  owner: string | null;
  hasMetadata: boolean;
  /** Its JSON text in UTF-8 (`checkMetadata`); `null` for none. */
  metadata: Uint8Array | null;
}

/**
 * Session metadata: a JSON object (see `json-data.ts`) of at most `maxMetadataBytes` as JSON text, which is
 * how it is stored and sent. `null` stays `null`.
 */
export function checkMetadata(value: unknown, field: string, limits: FieldLimits): Uint8Array | null {
  if (value === null) return null;
  const budget = { textUnits: 0 };
  const checked = readJsonObject(value, field, 0, budget);
  if (budget.textUnits > limits.maxMetadataBytes) {
    throw new LimitExceededError(`${field} is at least ${budget.textUnits} bytes as JSON, over maxMetadataBytes (${limits.maxMetadataBytes})`);
  }
  const json = Buffer.from(JSON.stringify(checked), 'utf8');
  if (json.length > limits.maxMetadataBytes)
    throw new LimitExceededError(`${field} is ${json.length} bytes as JSON, over maxMetadataBytes (${limits.maxMetadataBytes})`);
  return json;
}

/** `init` or `update` fields, each read once (see `readPlainObject`); returns which were given. */
export function checkSessionFields(value: unknown, what: 'init' | 'update' | 'options', limits: FieldLimits = NO_FIELD_LIMITS): CheckedSessionFields {
  if (value === undefined && what === 'init') value = {};
  const given = readPlainObject(value, what);
  if (given === undefined) throw new InvalidArgumentError(`${what} must be an object, got ${describeValue(value)}`);
  for (const key in given) {
    if (!(SESSION_FIELDS as readonly string[]).includes(key)) {
      throw new InvalidArgumentError(`${what}.${key} is not a session field (${SESSION_FIELDS.join(', ')})`);
    }
  }
  const hasCapabilities = given.clientCapabilities !== undefined;
  const hasServers = given.mcpServers !== undefined;
  const hasCwd = given.cwd !== undefined;
  const hasTitle = given.title !== undefined;
  const hasOwner = given.owner !== undefined;
  const hasMetadata = given.metadata !== undefined;
  const capabilities = hasCapabilities ? checkCapabilities(given.clientCapabilities, limits) : null;
  const servers = hasServers ? checkServers(given.mcpServers, limits) : [];
  const fieldBytes = (capabilities?.length ?? 0) + (servers instanceof Uint8Array ? servers.length : 0);
  if (fieldBytes > limits.maxSessionBytes) {
    throw new LimitExceededError(
      `${what}.clientCapabilities and ${what}.mcpServers are ${fieldBytes} bytes encoded, over maxSessionBytes (${limits.maxSessionBytes})`,
    );
  }
  return {
    hasCapabilities,
    capabilities,
    hasServers,
    servers,
    hasCwd,
    cwd: hasCwd ? checkCwd(given.cwd, `${what}.cwd`) : null,
    hasTitle,
    title: hasTitle ? checkTextField(given.title, `${what}.title`, MAX_TITLE_LENGTH) : null,
    hasOwner,
    owner: hasOwner ? checkOwner(given.owner, `${what}.owner`) : null,
    hasMetadata,
    metadata: hasMetadata ? checkMetadata(given.metadata, `${what}.metadata`, limits) : null,
  };
}

/** A checked message, ready to be encoded (`message-record.ts`). */
export interface CheckedMessageInput {
  /** The caller's id, or a minted one (`minted`). */
  id: string;
  minted: boolean;
  role: Role;
  /** A plain string, or the parts' JSON text. */
  content: string | JsonText;
  /** The caller's, or the time of the call (`stamped` false). */
  timestamp: number;
  stamped: boolean;
  /** The metadata's JSON text; `null` for none. */
  metadata: JsonText | null;
}

const PLAIN_MESSAGE_KEYS: readonly string[] = ['role', 'content', 'timestamp'];

/**
 * Checks a message (`path` names it in errors: `message`, `messages[2]`): its fields (an unknown one is
 * refused, never dropped), role, content, timestamp, id and metadata, and its size against
 * `maxMessageBytes` (content and metadata as stored). A message of role, string content and timestamp
 * alone, the common one, takes a short path; the rest is read once into a checked copy (`message-validation.ts`).
 */
export function checkMessage(value: unknown, maxMessageBytes: number, path = 'message'): CheckedMessageInput {
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError(`${path} must be an object, got ${describeValue(value)}`);
  // Each field is read once, into these: what is checked below is what is encoded. An object that throws
  // when read (a revoked Proxy, a throwing getter) rejects typed.
  let role: unknown, content: unknown, timestamp: unknown;
  let plain = true;
  try {
    if (Array.isArray(value)) throw new InvalidArgumentError(`${path} must be an object, got an array`);
    if (!isPlainObject(value)) throw new InvalidArgumentError(`${path} must be a plain object, got ${describeValue(value)}`);
    for (const key in value) {
      if (!PLAIN_MESSAGE_KEYS.includes(key)) plain = false;
    }
    if (plain) ({ role, content, timestamp } = value as Partial<MessageInput>);
  } catch (error) {
    throw unreadable(error, path);
  }
  if (!plain || typeof content !== 'string') return checkRichMessage(value, maxMessageBytes, path);
  if (!ROLES.includes(role as Role)) {
    throw new InvalidArgumentError(`${path}.role must be one of ${ROLES.join(', ')}, got ${describeValue(role)}`);
  }
  checkWellFormed(content, `${path}.content`);
  // UTF-8 is at most 3 bytes per UTF-16 unit: only long strings need counting.
  if (content.length * 3 > maxMessageBytes) {
    const bytes = Buffer.byteLength(content, 'utf8');
    if (bytes > maxMessageBytes) {
      throw new LimitExceededError(`${path}.content is ${bytes} UTF-8 bytes, over maxMessageBytes (${maxMessageBytes})`);
    }
  }
  if (timestamp !== undefined && (typeof timestamp !== 'number' || !Number.isFinite(timestamp) || timestamp < 0)) {
    throw new InvalidArgumentError(`${path}.timestamp must be a finite number of milliseconds >= 0, got ${describeValue(timestamp)}`);
  }
  const now = Date.now();
  return {
    id: newMessageId(now),
    minted: true,
    role: role as Role,
    content,
    timestamp: (timestamp as number | undefined) ?? now,
    stamped: timestamp !== undefined,
    metadata: null,
  };
}

/** A message with an id, content parts or metadata (or an unknown field, which this refuses). */
function checkRichMessage(value: unknown, maxMessageBytes: number, path: string): CheckedMessageInput {
  // Checked in place and serialised at once; copied with no prototypes if one was given a toJSON, which
  // JSON.stringify would run.
  const refuse = (textUnits: number): Error =>
    new LimitExceededError(`${path} is at least ${textUnits} bytes of content and metadata, over maxMessageBytes (${maxMessageBytes})`);
  const checked = checkStructuredMessage(value, path, serialisesPlainly() ? 'none' : 'bare', { bytes: maxMessageBytes, refuse });
  if (checked.textUnits > maxMessageBytes) throw refuse(checked.textUnits);
  const content = typeof checked.content === 'string' ? checked.content : new JsonText(JSON.stringify(checked.content));
  const metadata = checked.metadata === undefined ? null : new JsonText(JSON.stringify(checked.metadata));
  const bytes = (typeof content === 'string' ? Buffer.byteLength(content, 'utf8') : content.bytes) + (metadata?.bytes ?? 0);
  if (bytes > maxMessageBytes) {
    throw new LimitExceededError(`${path} is ${bytes} bytes of content and metadata as stored, over maxMessageBytes (${maxMessageBytes})`);
  }
  const now = Date.now();
  return {
    id: checked.id ?? newMessageId(now),
    minted: checked.id === undefined,
    role: checked.role,
    content,
    timestamp: checked.timestamp ?? now,
    stamped: checked.timestamp !== undefined,
    metadata,
  };
}

/**
 * Checks a call's options object: unknown keys are refused, as start options are, so that a misspelled
 * option never passes silently. Cheap, for it runs on reads: the caller reads each option once (through
 * `readOption`), so what it checks is what it uses; an object that throws when read (a revoked Proxy, a
 * throwing getter) rejects typed. `undefined` stays `undefined`.
 */
export function checkCallOptions<T extends object>(value: T | undefined, known: readonly string[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError(`options must be an object, got ${describeValue(value)}`);
  try {
    if (Array.isArray(value)) throw new InvalidArgumentError('options must be an object, got an array');
    for (const key in value) {
      if (!known.includes(key)) throw new InvalidArgumentError(`options.${key} is not an option of this call (known: ${known.join(', ')})`);
    }
  } catch (error) {
    throw unreadable(error, 'options');
  }
  return value;
}

/** One option of a checked options object, read once; a read that throws rejects typed. */
export function readOption<T extends object, K extends keyof T>(options: T, key: K): T[K] {
  try {
    return options[key];
  } catch (error) {
    throw unreadable(error, `options.${String(key)}`);
  }
}

/** The typed error of a caller's object that threw when read. */
function unreadable(error: unknown, field: string): Error {
  if (error instanceof InvalidArgumentError) return error;
  return new InvalidArgumentError(`${field} could not be read: ${(error as Error)?.message ?? String(error)}`);
}

/** A non-negative integer option of a call, such as `lastMessages` or `limit`. */
export function checkCount(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${field} must be an integer >= 0, got ${describeValue(value)}`);
  }
  return value;
}
