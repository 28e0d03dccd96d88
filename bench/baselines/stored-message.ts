/**
 * The message the baselines store: checked as the engine checks it, with an id and a timestamp, as the
 * engine stores it (a plain-string message: the baselines compare the engine's string workloads).
 */
import type { Message } from '../../src/protocol/model.js';
import { checkMessage } from '../../src/main/validation.js';

export { checkSessionId } from '../../src/main/validation.js';

export function checkStoredMessage(message: unknown, maxMessageBytes: number): Message {
  const { id, role, content, timestamp } = checkMessage(message, maxMessageBytes);
  if (typeof content !== 'string') throw new TypeError('the baselines store plain-string messages');
  return { id, role, content, timestamp };
}
