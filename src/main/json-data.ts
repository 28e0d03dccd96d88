/**
 * Reading a caller's data once, as JSON: the value is walked a single time and copied, and the copy is what
 * gets encoded, so that a getter, a Proxy or a value that changes between two reads can never store
 * something that was not checked. Everything outside JSON is refused with a typed error naming the path:
 * `undefined`, functions, symbols, bigints, `NaN` and infinities, cycles (by the depth bound), accessors,
 * Proxies, class instances, `__proto__` keys and ill-formed Unicode.
 */
import { types } from 'node:util';
import type { Json, JsonObject } from '../protocol/content.js';
import { InvalidArgumentError } from './errors.js';

/** How deep JSON data may nest (a cycle meets this bound). */
export const MAX_JSON_DEPTH = 32;

/** Describes a value for an error message without running the caller's code. */
export function describeData(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'number') return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value !== 'object') return typeof value;
  if (types.isProxy(value)) return 'a Proxy';
  if (Array.isArray(value)) return 'an array';
  const proto = Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null;
  if (proto === null || proto === Object.prototype) return 'an object';
  const name = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value?.name;
  return typeof name === 'string' && name !== '' ? `an instance of ${name}` : 'an object with a prototype';
}

/** Whether `value` is an object made by `{}` or `Object.create(null)` (not a Proxy, not a class instance). */
export function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || types.isProxy(value) || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The value of an own data property, read once; an accessor (getter or setter) is refused. */
export function readDataProperty(owner: object, key: string, path: string): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(owner, key);
  if (descriptor === undefined) return undefined;
  if (descriptor.get !== undefined || descriptor.set !== undefined) throw new InvalidArgumentError(`${path} must be a data property, got a getter or setter`);
  return descriptor.value;
}

/**
 * The own enumerable data properties of a plain object, each read once, into a null-prototype copy; `undefined`
 * when `value` is no plain object. Throws for a Proxy or an accessor.
 */
export function readRecord(value: unknown, path: string): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (types.isProxy(value)) throw new InvalidArgumentError(`${path} must be plain data, got a Proxy`);
  if (!isPlainRecord(value)) return undefined;
  const copy: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value)) copy[key] = readDataProperty(value, key, `${path}.${key}`);
  return copy;
}

/** Throws unless `value` is well-formed Unicode (no lone surrogate, which UTF-8 cannot carry). */
export function checkWellFormedText(value: string, path: string): void {
  if (!value.isWellFormed()) throw new InvalidArgumentError(`${path} must be well-formed Unicode (it holds a lone surrogate)`);
}

/** Counts what a walk has read, so that callers can bound it before encoding. */
export interface JsonBudget {
  /** UTF-16 units of strings and keys read so far: a lower bound of the UTF-8 bytes they encode to. */
  textUnits: number;
}

/**
 * A checked copy of JSON data. Objects come back as null-prototype objects holding only data properties,
 * arrays as fresh arrays; `depth` is the depth of `value` itself (0 at the top of a field).
 */
export function readJson(value: unknown, path: string, depth = 0, budget: JsonBudget = { textUnits: 0 }): Json {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    checkWellFormedText(value, path);
    budget.textUnits += value.length;
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidArgumentError(`${path} must be a finite number, got ${value}`);
    return value;
  }
  if (typeof value !== 'object')
    throw new InvalidArgumentError(`${path} must be JSON data (null, boolean, number, string, array, plain object), got ${describeData(value)}`);
  if (depth >= MAX_JSON_DEPTH) throw new InvalidArgumentError(`${path} is nested deeper than ${MAX_JSON_DEPTH} levels (or is circular)`);
  if (types.isProxy(value)) throw new InvalidArgumentError(`${path} must be plain data, got a Proxy`);
  if (Array.isArray(value)) {
    const copy = new Array<Json>(value.length);
    for (let i = 0; i < value.length; i++) {
      const item = readDataProperty(value, String(i), `${path}[${i}]`);
      if (item === undefined) throw new InvalidArgumentError(`${path}[${i}] must be JSON data, got undefined (a hole or undefined)`);
      copy[i] = readJson(item, `${path}[${i}]`, depth + 1, budget);
    }
    return copy;
  }
  return readJsonObject(value, path, depth, budget);
}

/** A checked copy of a JSON object (see `readJson`); a non-object is refused naming `path`. */
export function readJsonObject(value: unknown, path: string, depth = 0, budget: JsonBudget = { textUnits: 0 }): JsonObject {
  const record = readRecord(value, path);
  if (record === undefined) throw new InvalidArgumentError(`${path} must be a plain object, got ${describeData(value)}`);
  if (depth >= MAX_JSON_DEPTH) throw new InvalidArgumentError(`${path} is nested deeper than ${MAX_JSON_DEPTH} levels (or is circular)`);
  const copy: JsonObject = Object.create(null);
  for (const key in record) {
    // A decoder assigning this key could replace the prototype of the object it builds.
    if (key === '__proto__') throw new InvalidArgumentError(`${path} must not have a "__proto__" key`);
    checkWellFormedText(key, `${path} key`);
    budget.textUnits += key.length;
    const item = record[key];
    if (item === undefined) throw new InvalidArgumentError(`${path}.${key} must be JSON data, got undefined`);
    copy[key] = readJson(item, `${path}.${key}`, depth + 1, budget);
  }
  return copy;
}
