import { describe, expect, it, vi } from 'vitest';
import {
  CapacityError,
  CorruptDataError,
  EngineClosedError,
  ErrorCode,
  fromWire,
  InvalidArgumentError,
  InvalidSessionIdError,
  LimitExceededError,
  PersistenceCorruptError,
  PersistenceLockedError,
  ProtocolError,
  QueueFullError,
  SessionEngineError,
  SessionNotFoundError,
  ShardCrashedError,
} from '../../src/main/errors.js';
import type { WireError } from '../../src/protocol/error-codes.js';

const CLASSES: [string, new (message: string) => SessionEngineError][] = [
  ['ERR_SESSION_NOT_FOUND', SessionNotFoundError],
  ['ERR_INVALID_SESSION_ID', InvalidSessionIdError],
  ['ERR_INVALID_ARGUMENT', InvalidArgumentError],
  ['ERR_LIMIT_EXCEEDED', LimitExceededError],
  ['ERR_CAPACITY', CapacityError],
  ['ERR_QUEUE_FULL', QueueFullError],
  ['ERR_SHARD_CRASHED', ShardCrashedError],
  ['ERR_ENGINE_CLOSED', EngineClosedError],
  ['ERR_PROTOCOL', ProtocolError],
  ['ERR_PERSISTENCE_LOCKED', PersistenceLockedError],
  ['ERR_PERSISTENCE_CORRUPT', PersistenceCorruptError],
  ['ERR_CORRUPT_DATA', CorruptDataError],
];

describe('errors', () => {
  it('has a stable code for every failure the issue names', () => {
    expect(Object.values(ErrorCode)).toEqual(expect.arrayContaining(CLASSES.map(([code]) => code)));
  });

  it.each(CLASSES)('%s: the subclass carries its code, its name, and is a SessionEngineError and an Error', (code, ErrorClass) => {
    const error = new ErrorClass('boom');
    expect(error.code).toBe(code);
    expect(error.name).toBe(ErrorClass.name);
    expect(error.message).toBe('boom');
    expect(error).toBeInstanceOf(SessionEngineError);
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(ErrorClass);
  });

  it.each(CLASSES)('fromWire rebuilds %s as its own subclass, with the message', (code, ErrorClass) => {
    const error = fromWire({ code, message: 'from a worker' } as WireError);
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error).toBeInstanceOf(SessionEngineError);
    expect(error.code).toBe(code);
    expect(error.message).toBe('from a worker');
    expect(error.name).toBe(ErrorClass.name);
  });

  it('fromWire turns an unknown code into a ProtocolError rather than throwing', () => {
    const error = fromWire({ code: 'ERR_NO_SUCH_THING', message: 'x' } as unknown as WireError);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe('ERR_PROTOCOL');
  });

  it('fromWire turns a non-string message into a string', () => {
    const error = fromWire({ code: 'ERR_CAPACITY', message: 42 } as unknown as WireError);
    expect(error.message).toBe('42');
  });

  it('a subclass is not an instance of a sibling subclass', () => {
    expect(new SessionNotFoundError('x')).not.toBeInstanceOf(ShardCrashedError);
    expect(new CapacityError('x')).not.toBeInstanceOf(QueueFullError);
  });

  it('a plain Error is not a SessionEngineError', () => {
    expect(new Error('x')).not.toBeInstanceOf(SessionEngineError);
    expect({ code: 'ERR_CAPACITY' }).not.toBeInstanceOf(SessionEngineError);
    expect(null).not.toBeInstanceOf(SessionEngineError);
  });

  it('an error from a second copy of the module is still recognised as a SessionEngineError', async () => {
    vi.resetModules();
    const copy = await import('../../src/main/errors.js');
    expect(copy.SessionEngineError).not.toBe(SessionEngineError);
    expect(new copy.SessionNotFoundError('x')).toBeInstanceOf(SessionEngineError);
  });

  it('EngineClosedError has a default message', () => {
    expect(new EngineClosedError().message).toMatch(/closed/);
  });
});
