/**
 * Validation at the boundary: every argument is checked on the caller's thread, before anything is
 * encoded, so that a bad call fails alone and never reaches a shard.
 */
import { isAbsolute } from 'node:path';
import type { ClientCapabilities, MessageInput, Role } from '../protocol/model.js';
import { ROLES } from '../protocol/model.js';
import { InvalidArgumentError, InvalidSessionIdError, LimitExceededError } from './errors.js';
import { isCanonicalSessionId } from './session-ids.js';

/** A short, safe rendering of a bad value for an error message. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol' || typeof value === 'function') return typeof value;
  if (typeof value === 'undefined') return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

export function checkSessionId(id: unknown, field = 'id'): asserts id is string {
  if (!isCanonicalSessionId(id)) {
    throw new InvalidSessionIdError(`${field} must be a ULID in canonical form (26 characters of uppercase Crockford base32, first at most 7), got ${describeValue(id)}`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** How deep, and how large, client capabilities may be: they are metadata, not a payload. */
const MAX_CAPABILITY_DEPTH = 16;
const MAX_CAPABILITY_VALUES = 10_000;

/**
 * Capabilities must be JSON-like data (null, booleans, finite numbers, strings, arrays, plain objects),
 * bounded in depth and size, so that they always encode, never loop (a cycle hits the depth bound), and
 * come back as they went in.
 */
export function checkCapabilities(value: unknown): ClientCapabilities | null {
  if (value === null) return null;
  if (!isPlainObject(value)) {
    throw new InvalidArgumentError(`clientCapabilities must be a plain object or null, got ${describeValue(value)}`);
  }
  const { fs, terminal } = value;
  if (fs !== undefined) {
    if (!isPlainObject(fs)) throw new InvalidArgumentError(`clientCapabilities.fs must be an object, got ${describeValue(fs)}`);
    for (const key of ['readTextFile', 'writeTextFile'] as const) {
      if (fs[key] !== undefined && typeof fs[key] !== 'boolean') {
        throw new InvalidArgumentError(`clientCapabilities.fs.${key} must be a boolean, got ${describeValue(fs[key])}`);
      }
    }
  }
  if (terminal !== undefined && typeof terminal !== 'boolean') {
    throw new InvalidArgumentError(`clientCapabilities.terminal must be a boolean, got ${describeValue(terminal)}`);
  }
  let budget = MAX_CAPABILITY_VALUES;
  const walk = (node: unknown, path: string, depth: number): void => {
    if (--budget < 0) throw new InvalidArgumentError(`clientCapabilities holds more than ${MAX_CAPABILITY_VALUES} values`);
    if (node === null || node === undefined || typeof node === 'boolean') return;
    if (typeof node === 'string') {
      checkWellFormed(node, path);
      return;
    }
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) throw new InvalidArgumentError(`${path} must be a finite number, got ${describeValue(node)}`);
      return;
    }
    if (depth >= MAX_CAPABILITY_DEPTH) throw new InvalidArgumentError(`${path} is nested deeper than ${MAX_CAPABILITY_DEPTH} levels (or is circular)`);
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) walk(node[i], `${path}[${i}]`, depth + 1);
      return;
    }
    if (isPlainObject(node)) {
      for (const key of Object.keys(node)) {
        // A decoder assigning this key could replace the prototype of the object it builds.
        if (key === '__proto__') throw new InvalidArgumentError(`${path} must not have a "__proto__" key`);
        checkWellFormed(key, `${path} key`);
        walk(node[key], `${path}.${key}`, depth + 1);
      }
      return;
    }
    throw new InvalidArgumentError(`${path} must be JSON-like data (null, boolean, number, string, array, plain object), got ${describeValue(node)}`);
  };
  walk(value, 'clientCapabilities', 0);
  return value as ClientCapabilities;
}

export function checkServers(value: unknown): string[] {
  if (!Array.isArray(value)) throw new InvalidArgumentError(`mcpServers must be an array of strings, got ${describeValue(value)}`);
  for (let i = 0; i < value.length; i++) {
    if (typeof value[i] !== 'string') {
      throw new InvalidArgumentError(`mcpServers[${i}] must be a string, got ${describeValue(value[i])}`);
    }
    checkWellFormed(value[i], `mcpServers[${i}]`);
  }
  return value as string[];
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

const SESSION_FIELDS = ['clientCapabilities', 'mcpServers', 'cwd', 'title', 'owner'] as const;

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
  capabilities: ClientCapabilities | null;
  hasServers: boolean;
  servers: string[];
  hasCwd: boolean;
  cwd: string | null;
  hasTitle: boolean;
  title: string | null;
  hasOwner: boolean;
  owner: string | null;
}

/** `init` or `update` fields; returns which were given. */
export function checkSessionFields(value: unknown, what: 'init' | 'update'): CheckedSessionFields {
  if (value === undefined && what === 'init') value = {};
  if (!isPlainObject(value)) throw new InvalidArgumentError(`${what} must be an object, got ${describeValue(value)}`);
  for (const key of Object.keys(value)) {
    if (!(SESSION_FIELDS as readonly string[]).includes(key)) {
      throw new InvalidArgumentError(`${what}.${key} is not a session field (${SESSION_FIELDS.join(', ')})`);
    }
  }
  const hasCapabilities = value.clientCapabilities !== undefined;
  const hasServers = value.mcpServers !== undefined;
  const hasCwd = value.cwd !== undefined;
  const hasTitle = value.title !== undefined;
  const hasOwner = value.owner !== undefined;
  return {
    hasCapabilities,
    capabilities: hasCapabilities ? checkCapabilities(value.clientCapabilities) : null,
    hasServers,
    servers: hasServers ? checkServers(value.mcpServers) : [],
    hasCwd,
    cwd: hasCwd ? checkCwd(value.cwd, `${what}.cwd`) : null,
    hasTitle,
    title: hasTitle ? checkTextField(value.title, `${what}.title`, MAX_TITLE_LENGTH) : null,
    hasOwner,
    owner: hasOwner ? checkOwner(value.owner, `${what}.owner`) : null,
  };
}

/** The message to store, with its timestamp filled in; checks role, content, timestamp and size. */
export function checkMessage(value: unknown, maxMessageBytes: number): { role: Role; content: string; timestamp: number } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`message must be an object, got ${describeValue(value)}`);
  }
  const { role, content, timestamp } = value as Partial<MessageInput>;
  if (!ROLES.includes(role as Role)) {
    throw new InvalidArgumentError(`message.role must be one of ${ROLES.join(', ')}, got ${describeValue(role)}`);
  }
  if (typeof content !== 'string') throw new InvalidArgumentError(`message.content must be a string, got ${describeValue(content)}`);
  checkWellFormed(content, 'message.content');
  // UTF-8 is at most 3 bytes per UTF-16 unit: only long strings need counting.
  if (content.length * 3 > maxMessageBytes) {
    const bytes = Buffer.byteLength(content, 'utf8');
    if (bytes > maxMessageBytes) {
      throw new LimitExceededError(`message.content is ${bytes} UTF-8 bytes, over maxMessageBytes (${maxMessageBytes})`);
    }
  }
  if (timestamp !== undefined && (typeof timestamp !== 'number' || !Number.isFinite(timestamp) || timestamp < 0)) {
    throw new InvalidArgumentError(`message.timestamp must be a finite number of milliseconds >= 0, got ${describeValue(timestamp)}`);
  }
  return { role: role as Role, content, timestamp: timestamp ?? Date.now() };
}

/** A non-negative integer option of a call, such as `lastMessages` or `limit`. */
export function checkCount(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${field} must be an integer >= 0, got ${describeValue(value)}`);
  }
  return value;
}
