/**
 * Checks a structured message on the caller's thread, before it is encoded: its fields (unknown ones are
 * refused: nothing is ever dropped), its id, its content parts (the required fields of the part types
 * hosts use, bounded JSON for any other), and its metadata. Returns a checked copy (what is encoded is
 * what was checked), or, for a caller that serialises at once, the caller's own content and metadata,
 * checked in place (see `checkJson`).
 */
import type { ContentPart, Json, JsonObject } from '../protocol/content.js';
import { ROLES, type Role } from '../protocol/model.js';
import { InvalidArgumentError } from './errors.js';
import {
  checkJson,
  checkJsonObject,
  checkWellFormedText,
  describeData,
  type JsonBudget,
  type JsonCopy,
  readJson,
  readJsonObject,
  readRecord,
} from './json-data.js';

/** The fields a message may have. */
export const MESSAGE_FIELDS = Object.freeze(['id', 'role', 'content', 'timestamp', 'metadata'] as const);

/** A message id: 1-128 printable ASCII characters (space to tilde). */
const MESSAGE_ID = /^[\x20-\x7e]{1,128}$/;

/** How long a part's `type` may be. */
export const MAX_PART_TYPE_LENGTH = 64;

/** A message after its checks (`id` and `timestamp` still optional): a copy of what the caller gave, or its own content and metadata. */
export interface CheckedMessage {
  id: string | undefined;
  role: Role;
  content: string | ContentPart[];
  timestamp: number | undefined;
  metadata: JsonObject | undefined;
  /** UTF-16 units of its text (a lower bound of its encoded bytes), to refuse a message past a limit early. */
  textUnits: number;
}

/** A message id as given: printable ASCII, 1-128 characters. */
export function checkMessageId(value: unknown, path: string): string {
  if (typeof value !== 'string' || !MESSAGE_ID.test(value)) {
    throw new InvalidArgumentError(`${path} must be 1-128 printable ASCII characters, got ${describeData(value)}`);
  }
  return value;
}

function requireString(part: JsonObject, key: string, path: string): void {
  if (typeof part[key] !== 'string') throw new InvalidArgumentError(`${path}.${key} must be a string, got ${describeData(part[key])}`);
}

function requirePresent(part: JsonObject, key: string, path: string): void {
  if (!(key in part)) throw new InvalidArgumentError(`${path}.${key} is required`);
}

/** Checks the required fields of the part types hosts use; any other type is kept as bounded JSON. */
function checkPartFields(part: JsonObject, path: string): void {
  switch (part.type) {
    case 'text':
    case 'thought':
      requireString(part, 'text', path);
      return;
    case 'image':
    case 'audio':
      requireString(part, 'mimeType', path);
      if (part.data === undefined && part.uri === undefined) throw new InvalidArgumentError(`${path} needs data (base64) or uri`);
      if (part.data !== undefined) requireString(part, 'data', path);
      if (part.uri !== undefined) requireString(part, 'uri', path);
      return;
    case 'resource_link':
      requireString(part, 'uri', path);
      requireString(part, 'name', path);
      return;
    case 'resource': {
      const resource = part.resource;
      if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
        throw new InvalidArgumentError(`${path}.resource must be an object with uri and text or blob, got ${describeData(resource)}`);
      }
      requireString(resource, 'uri', `${path}.resource`);
      if (typeof resource.text !== 'string' && typeof resource.blob !== 'string')
        throw new InvalidArgumentError(`${path}.resource needs text or blob (a string)`);
      return;
    }
    case 'tool_call':
      requireString(part, 'toolCallId', path);
      requireString(part, 'name', path);
      requirePresent(part, 'input', path);
      return;
    case 'tool_result':
      requireString(part, 'toolCallId', path);
      requirePresent(part, 'output', path);
      if (part.isError !== undefined && typeof part.isError !== 'boolean')
        throw new InvalidArgumentError(`${path}.isError must be a boolean, got ${describeData(part.isError)}`);
      return;
  }
}

/** A message's content: a string (kept a string) or an array of parts. */
function checkContent(value: unknown, budget: JsonBudget, field: string, copy: JsonCopy): string | ContentPart[] {
  if (typeof value === 'string') {
    checkWellFormedText(value, field);
    budget.textUnits += value.length;
    return value;
  }
  if (!Array.isArray(value)) throw new InvalidArgumentError(`${field} must be a string or an array of parts, got ${describeData(value)}`);
  let parts: Json[];
  if (copy !== 'none') parts = readJson(value, field, 0, budget, copy) as Json[];
  else {
    checkJson(value, field, budget);
    parts = value as Json[];
  }
  for (let i = 0; i < parts.length; i++) {
    const path = `${field}[${i}]`;
    const part = parts[i];
    if (typeof part !== 'object' || part === null || Array.isArray(part))
      throw new InvalidArgumentError(`${path} must be an object with a type, got ${describeData(part)}`);
    const type = part.type;
    if (typeof type !== 'string' || type.length < 1 || type.length > MAX_PART_TYPE_LENGTH) {
      throw new InvalidArgumentError(`${path}.type must be a string of 1-${MAX_PART_TYPE_LENGTH} characters, got ${describeData(type)}`);
    }
    checkPartFields(part, path);
  }
  return parts as ContentPart[];
}

/**
 * Checks one message (see the module comment); `path` names it in errors (`messages[3]`, say). With
 * `copy` `none`, `content` and `metadata` are the caller's own objects, checked in place: serialise them
 * before the caller's code runs again. With a `limit`, the walk stops once the message's text is past it.
 */
export function checkStructuredMessage(value: unknown, path = 'message', copy: JsonCopy = 'copy', limit?: JsonBudget['limit']): CheckedMessage {
  const given = readRecord(value, path);
  if (given === undefined) throw new InvalidArgumentError(`${path} must be a plain object, got ${describeData(value)}`);
  for (const key in given) {
    if (!(MESSAGE_FIELDS as readonly string[]).includes(key)) {
      throw new InvalidArgumentError(`${path}.${key} is not a message field (${MESSAGE_FIELDS.join(', ')})`);
    }
  }
  const budget: JsonBudget = { textUnits: 0, limit };
  const id = given.id === undefined ? undefined : checkMessageId(given.id, `${path}.id`);
  if (!ROLES.includes(given.role as Role)) throw new InvalidArgumentError(`${path}.role must be one of ${ROLES.join(', ')}, got ${describeData(given.role)}`);
  const content = checkContent(given.content, budget, `${path}.content`, copy);
  const { timestamp } = given;
  if (timestamp !== undefined && (typeof timestamp !== 'number' || !Number.isFinite(timestamp) || timestamp < 0)) {
    throw new InvalidArgumentError(`${path}.timestamp must be a finite number of milliseconds >= 0, got ${describeData(timestamp)}`);
  }
  let metadata: JsonObject | undefined;
  if (given.metadata === undefined) metadata = undefined;
  else if (copy !== 'none') metadata = readJsonObject(given.metadata, `${path}.metadata`, 0, budget, copy);
  else {
    checkJsonObject(given.metadata, `${path}.metadata`, budget);
    metadata = given.metadata as JsonObject;
  }
  return { id, role: given.role as Role, content, timestamp: timestamp as number | undefined, metadata, textUnits: budget.textUnits };
}
