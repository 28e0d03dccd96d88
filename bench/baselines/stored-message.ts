/**
 * The message the baselines store, checked as the engine checks it and given an id and a timestamp as the
 * engine gives them. A plain-string message is the engine's own check; a structured one (content parts,
 * metadata) is the engine's structured check, which returns a copy of what it checked: a store that keeps
 * it is safe from the caller changing its object afterwards, as the engine is.
 */
import { LimitExceededError } from '../../src/main/errors.js';
import { checkStructuredMessage } from '../../src/main/message-validation.js';
import { checkMessage } from '../../src/main/validation.js';
import { newMessageId } from '../../src/protocol/message-ids.js';
import type { Message } from '../../src/protocol/model.js';

export { checkSessionId } from '../../src/main/validation.js';

/** A checked copy of `message`, as a baseline stores it. */
export function checkStoredMessage(message: unknown, maxMessageBytes: number, path = 'message'): Message {
  const plain = message as { content?: unknown; metadata?: unknown; id?: unknown };
  if (typeof plain?.content === 'string' && plain.metadata === undefined && plain.id === undefined) {
    const { id, role, content, timestamp } = checkMessage(message, maxMessageBytes, path);
    return { id, role, content: content as string, timestamp };
  }
  const checked = checkStructuredMessage(message, path);
  // A lower bound of the stored bytes, as the engine's first check; the baselines store no encoding to measure.
  if (checked.textUnits > maxMessageBytes)
    throw new LimitExceededError(`${path} is at least ${checked.textUnits} bytes, over maxMessageBytes (${maxMessageBytes})`);
  const now = Date.now();
  const stored: Message = { id: checked.id ?? newMessageId(now), role: checked.role, content: checked.content, timestamp: checked.timestamp ?? now };
  if (checked.metadata !== undefined) stored.metadata = checked.metadata;
  return stored;
}

/** Checked copies of `messages`, all or none (the first bad one throws, naming `messages[i]`). */
export function checkStoredMessages(messages: readonly unknown[], maxMessageBytes: number): Message[] {
  return messages.map((message, i) => checkStoredMessage(message, maxMessageBytes, `messages[${i}]`));
}

/**
 * `Array.prototype.splice`'s start and count, as the engine reads them: a negative start counts from the
 * end; a count past the end (or `Infinity`) takes every message from `start`.
 */
export function spliceBounds(length: number, start: number, deleteCount: number): { from: number; count: number } {
  const from = start < 0 ? Math.max(0, length + start) : Math.min(start, length);
  return { from, count: Math.min(Math.max(0, deleteCount), length - from) };
}
