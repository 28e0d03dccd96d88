/**
 * Reading a caller's data once, as JSON. Every value is checked in one walk; what gets encoded is what was
 * checked, so a getter, a Proxy or a value that changes between two reads can never store something that
 * was not: a store that keeps the data keeps a copy made by the walk (`readJson`), and the engine, which
 * serialises at once, checks the caller's own data in place and serialises it in the same synchronous run
 * (`checkJson`). Everything outside JSON is refused with a typed error naming the path: `undefined`,
 * functions, symbols, bigints, `NaN` and infinities, cycles (by the depth bound), accessors, Proxies, class
 * instances, `__proto__` keys and ill-formed Unicode.
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
  /**
   * A lower bound of the JSON bytes read so far: the UTF-16 units of strings and keys (each encodes to at
   * least one UTF-8 byte) and one per array element.
   */
  textUnits: number;
  /**
   * Set, the walk stops with this error as soon as `textUnits` passes `limit`: data far over a limit (ten
   * million numbers, say) is refused without being walked whole and serialised first.
   */
  limit?: { bytes: number; refuse: (textUnits: number) => Error };
}

function overBudget(budget: JsonBudget): void {
  const limit = budget.limit;
  if (limit !== undefined && budget.textUnits > limit.bytes) throw limit.refuse(budget.textUnits);
}

/** The keys from the top of a walk down to the value being read: an error's path, built only when one is thrown. */
type Trail = (string | number)[];

function pathOf(base: string, trail: Trail): string {
  let path = base;
  for (const key of trail) path += typeof key === 'number' ? `[${key}]` : `.${key}`;
  return path;
}

/**
 * What a walk returns: the value itself (`none`), a copy whose objects have no prototype (`copy`), or a
 * copy whose arrays have none either (`bare`: nothing in it reaches a prototype's `toJSON`).
 */
export type JsonCopy = 'none' | 'copy' | 'bare';

/**
 * The walk of `readJson` and `checkJson`: checks `value` and returns it or a copy of it (`copy`). Paths
 * are kept as a trail of keys and joined only for an error: most data is valid, and building a path
 * string for every value it holds cost more than checking it.
 */
function walkJson(value: unknown, base: string, trail: Trail, depth: number, budget: JsonBudget, copy: JsonCopy): Json {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    if (!value.isWellFormed()) checkWellFormedText(value, pathOf(base, trail));
    budget.textUnits += value.length;
    overBudget(budget);
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidArgumentError(`${pathOf(base, trail)} must be a finite number, got ${value}`);
    return value;
  }
  if (typeof value !== 'object')
    throw new InvalidArgumentError(`${pathOf(base, trail)} must be JSON data (null, boolean, number, string, array, plain object), got ${describeData(value)}`);
  if (depth >= MAX_JSON_DEPTH) throw new InvalidArgumentError(`${pathOf(base, trail)} is nested deeper than ${MAX_JSON_DEPTH} levels (or is circular)`);
  if (types.isProxy(value)) throw new InvalidArgumentError(`${pathOf(base, trail)} must be plain data, got a Proxy`);
  if (Array.isArray(value)) {
    const length = value.length;
    budget.textUnits += length;
    overBudget(budget);
    const out = copy === 'none' ? null : new Array<Json>(length);
    if (copy === 'bare') Object.setPrototypeOf(out, null);
    for (let i = 0; i < length; i++) {
      trail.push(i);
      const descriptor = Object.getOwnPropertyDescriptor(value, i);
      if (descriptor === undefined || (descriptor.value === undefined && descriptor.get === undefined && descriptor.set === undefined))
        throw new InvalidArgumentError(`${pathOf(base, trail)} must be JSON data, got undefined (a hole or undefined)`);
      if (descriptor.get !== undefined || descriptor.set !== undefined)
        throw new InvalidArgumentError(`${pathOf(base, trail)} must be a data property, got a getter or setter`);
      const item = walkJson(descriptor.value, base, trail, depth + 1, budget, copy);
      if (out !== null) out[i] = item;
      trail.pop();
    }
    return out ?? (value as Json[]);
  }
  return walkObject(value, base, trail, depth, budget, copy);
}

function walkObject(value: unknown, base: string, trail: Trail, depth: number, budget: JsonBudget, copy: JsonCopy): JsonObject {
  if (typeof value === 'object' && value !== null && types.isProxy(value))
    throw new InvalidArgumentError(`${pathOf(base, trail)} must be plain data, got a Proxy`);
  if (!isPlainRecord(value)) throw new InvalidArgumentError(`${pathOf(base, trail)} must be a plain object, got ${describeData(value)}`);
  if (depth >= MAX_JSON_DEPTH) throw new InvalidArgumentError(`${pathOf(base, trail)} is nested deeper than ${MAX_JSON_DEPTH} levels (or is circular)`);
  const out: JsonObject | null = copy === 'none' ? null : Object.create(null);
  for (const key of Object.keys(value)) {
    // A decoder assigning this key could replace the prototype of the object it builds.
    if (key === '__proto__') throw new InvalidArgumentError(`${pathOf(base, trail)} must not have a "__proto__" key`);
    if (!key.isWellFormed()) checkWellFormedText(key, `${pathOf(base, trail)} key`);
    budget.textUnits += key.length;
    trail.push(key);
    const descriptor = Object.getOwnPropertyDescriptor(value, key)!;
    if (descriptor.get !== undefined || descriptor.set !== undefined)
      throw new InvalidArgumentError(`${pathOf(base, trail)} must be a data property, got a getter or setter`);
    if (descriptor.value === undefined) throw new InvalidArgumentError(`${pathOf(base, trail)} must be JSON data, got undefined`);
    const item = walkJson(descriptor.value, base, trail, depth + 1, budget, copy);
    if (out !== null) out[key] = item;
    trail.pop();
  }
  return out ?? (value as JsonObject);
}

/**
 * A checked copy of JSON data. Objects come back as null-prototype objects holding only data properties,
 * arrays as fresh arrays; `depth` is the depth of `value` itself (0 at the top of a field).
 */
export function readJson(value: unknown, path: string, depth = 0, budget: JsonBudget = { textUnits: 0 }, copy: JsonCopy = 'copy'): Json {
  return walkJson(value, path, [], depth, budget, copy);
}

/** A checked copy of a JSON object (see `readJson`); a non-object is refused naming `path`. */
export function readJsonObject(value: unknown, path: string, depth = 0, budget: JsonBudget = { textUnits: 0 }, copy: JsonCopy = 'copy'): JsonObject {
  return walkObject(value, path, [], depth, budget, copy);
}

/**
 * Checks JSON data in place, as `readJson` does, without copying it. Only for data that is serialised in
 * the same synchronous run, before the caller's code can run again: it holds nothing but data properties
 * of plain objects and arrays (no getter, Proxy or `toJSON` function runs when `JSON.stringify` reads it),
 * so what is serialised is exactly what was checked.
 */
export function checkJson(value: unknown, path: string, budget: JsonBudget = { textUnits: 0 }): void {
  walkJson(value, path, [], 0, budget, 'none');
}

/** Checks a JSON object in place (see `checkJson`); a non-object is refused naming `path`. */
export function checkJsonObject(value: unknown, path: string, budget: JsonBudget = { textUnits: 0 }): void {
  walkObject(value, path, [], 0, budget, 'none');
}

/**
 * Whether `JSON.stringify` of checked data runs no code but its own: nothing gave the prototypes of plain
 * objects or arrays a `toJSON` (a polluted prototype would be called for every object serialised).
 */
export function serialisesPlainly(): boolean {
  return Object.getOwnPropertyDescriptor(Object.prototype, 'toJSON') === undefined && Object.getOwnPropertyDescriptor(Array.prototype, 'toJSON') === undefined;
}
