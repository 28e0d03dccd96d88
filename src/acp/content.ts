/**
 * Conversions between ACP content and what the engine stores: a prompt's blocks to the text of a user
 * message, a stored message to the `session/update` that replays it, and `session/list` cursors.
 */
import type { ContentBlock, SessionUpdate } from '@agentclientprotocol/sdk';
import type { Message, SessionId } from '../protocol/model.js';

/**
 * The text the engine stores for a prompt: its text blocks, and its resource links as their URIs, joined
 * by blank lines. Images, audio and embedded resources are not stored (the engine keeps text only).
 */
export function promptText(prompt: string | ContentBlock | readonly ContentBlock[]): string {
  if (typeof prompt === 'string') return prompt;
  const blocks = Array.isArray(prompt) ? (prompt as readonly ContentBlock[]) : [prompt as ContentBlock];
  const parts: string[] = [];
  for (const block of blocks) {
    if (block.type === 'text') parts.push(block.text);
    else if (block.type === 'resource_link') parts.push(block.uri);
  }
  return parts.join('\n\n');
}

/**
 * The `session/update` that replays a stored message, or `null` for a system message (ACP has no update
 * for one). Each message gets its own `messageId`, so that a client never merges two messages in a row
 * from the same side into one.
 */
export function replayUpdate(sessionId: SessionId, index: number, message: Message): SessionUpdate | null {
  if (message.role === 'system' || message.role === 'tool') return null;
  // Structured messages replay their text parts (faithful replay of every part kind is the ACP adapter's next step).
  const text =
    typeof message.content === 'string'
      ? message.content
      : message.content.flatMap((part) => (part.type === 'text' && typeof part.text === 'string' ? [part.text] : [])).join('\n\n');
  return {
    sessionUpdate: message.role === 'user' ? 'user_message_chunk' : 'agent_message_chunk',
    content: { type: 'text', text },
    messageId: `${sessionId}-${index}`,
  };
}

const CURSOR_PREFIX = 'ss1:';

/** An opaque `session/list` cursor: the last id of the page just sent. */
export function encodeCursor(lastId: SessionId): string {
  return Buffer.from(CURSOR_PREFIX + lastId, 'utf8').toString('base64url');
}

/** The id a cursor carries, or `null` when the string is not a cursor this adapter made. */
export function decodeCursor(cursor: string): SessionId | null {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  return text.startsWith(CURSOR_PREFIX) ? text.slice(CURSOR_PREFIX.length) : null;
}
