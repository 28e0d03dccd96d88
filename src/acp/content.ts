/**
 * Conversions between ACP and what the engine stores: a `session/update` to the messages that record it,
 * a stored message to the `session/update`s that replay it, and `session/list` cursors.
 *
 * How updates are stored (docs/acp.md, "How a conversation is stored"):
 * - a prompt is a `user` message whose parts are the prompt's content blocks, as they are;
 * - a run of `user_message_chunk`, `agent_message_chunk` or `agent_thought_chunk` updates of one message is a
 *   `user` or `assistant` message whose parts are the chunks' content blocks (adjacent plain text joined;
 *   a thought's text blocks as `thought` parts), with `metadata.acp` saying which update and `messageId`;
 * - every other update is an `assistant` message with one part `{ type: 'acp_update', update }`, the update whole.
 */
import type { ContentBlock, SessionConfigOption, SessionUpdate } from '@agentclientprotocol/sdk';
import type { ContentPart, Json, JsonObject } from '../protocol/content.js';
import type { Message, MessageInput, SessionId } from '../protocol/model.js';

/** The part type that carries an update other than a message chunk, whole. */
export const ACP_UPDATE_PART = 'acp_update';

/** The update kinds that stream a message's content. */
export type ChunkKind = 'user_message_chunk' | 'agent_message_chunk' | 'agent_thought_chunk';

/** What `metadata.acp` of a stored chunk run (or prompt) holds. */
export interface ChunkRunInfo {
  /** The update kind of the run. */
  update: ChunkKind;
  /** The ACP `messageId` the chunks carried, or one given to them when they carried none. */
  messageId: string;
  /** `true` for the prompt of a turn. */
  prompt?: boolean;
  /** Fields of the chunks besides `sessionUpdate`, `content` and `messageId` (`_meta`, say), sent with each chunk. */
  extra?: JsonObject;
}

/** Whether an update kind streams a message's content. */
export function isChunk(kind: string): kind is ChunkKind {
  return kind === 'user_message_chunk' || kind === 'agent_message_chunk' || kind === 'agent_thought_chunk';
}

/**
 * The text the engine stores for a prompt by `recordTurn`: its text blocks, and its resource links as their
 * URIs, joined by blank lines. (Turns run by a prompt handler store the prompt's blocks whole.)
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

/** The message that stores a turn's prompt: its blocks as they are. */
export function promptMessage(id: string, prompt: readonly ContentBlock[]): MessageInput {
  const info: ChunkRunInfo = { update: 'user_message_chunk', messageId: id, prompt: true };
  return { id, role: 'user', content: prompt.map((block) => toJson(block) as ContentPart), metadata: { acp: info as unknown as JsonObject } };
}

/** A content block as the stored part: a thought's text becomes a `thought` part, so that no model takes it for the answer. */
export function chunkPart(kind: ChunkKind, block: ContentPart): ContentPart {
  return kind === 'agent_thought_chunk' && block.type === 'text' ? { ...block, type: 'thought' } : block;
}

/** Whether a part is plain text (nothing but `type` and `text`), which may be joined with its neighbour. */
export function isPlainText(part: ContentPart): part is { type: 'text' | 'thought'; text: string } {
  if ((part.type !== 'text' && part.type !== 'thought') || typeof part.text !== 'string') return false;
  for (const key in part) if (key !== 'type' && key !== 'text') return false;
  return true;
}

/** The message that stores an update other than a message chunk: the update whole. */
export function updateMessage(update: JsonObject): MessageInput {
  return { role: 'assistant', content: [{ type: ACP_UPDATE_PART, update }] };
}

/**
 * The `session/update`s that replay a stored message, in order: a recorded message replays exactly the
 * updates it records (adjacent text chunks of one message joined); a message the host appended itself replays
 * its content blocks as chunks of one message (`messageId` its id), its thoughts as thought chunks, its tool
 * calls and results as `tool_call` and `tool_call_update`. System messages, and parts ACP has no update for,
 * replay nothing.
 */
export function replayUpdates(message: Message): SessionUpdate[] {
  if (message.role === 'system') return [];
  const info = runInfo(message);
  if (typeof message.content === 'string') {
    if (message.role === 'tool') return [];
    const kind = info?.update ?? (message.role === 'user' ? 'user_message_chunk' : 'agent_message_chunk');
    return [chunkUpdate(kind, { type: 'text', text: message.content }, info?.messageId ?? message.id, info?.extra)];
  }
  const updates: SessionUpdate[] = [];
  for (const part of message.content) {
    if (part.type === ACP_UPDATE_PART) {
      if (isObject(part.update) && typeof part.update.sessionUpdate === 'string') updates.push(part.update as unknown as SessionUpdate);
      continue;
    }
    if (info !== null) {
      updates.push(chunkUpdate(info.update, part, info.messageId, info.extra));
      continue;
    }
    const update = hostPartUpdate(message, part);
    if (update !== null) updates.push(update);
  }
  return updates;
}

/**
 * The replay of the original text-only adapter: one text chunk per message, with a `messageId` made of the
 * session id and the message's index.
 * @deprecated Use `replayUpdates`, which replays every part of a message.
 */
export function replayUpdate(sessionId: SessionId, index: number, message: Message): SessionUpdate | null {
  if (message.role === 'system' || message.role === 'tool') return null;
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

/** The session's mode and config options as the recorded updates last set them (`undefined`: never set). */
export interface SessionState {
  currentModeId?: string;
  configOptions?: SessionConfigOption[];
}

/** Folds one stored message into the session's state: the last `current_mode_update` and `config_option_update` win. */
export function foldState(state: SessionState, message: Message): SessionState {
  if (typeof message.content === 'string') return state;
  for (const part of message.content) {
    if (part.type !== ACP_UPDATE_PART || !isObject(part.update)) continue;
    const update = part.update;
    if (update.sessionUpdate === 'current_mode_update' && typeof update.currentModeId === 'string') state.currentModeId = update.currentModeId;
    else if (update.sessionUpdate === 'config_option_update' && Array.isArray(update.configOptions)) {
      state.configOptions = update.configOptions as unknown as SessionConfigOption[];
    }
  }
  return state;
}

/**
 * A value as JSON carries it: what the client receives of an update, and what the engine can store
 * (`undefined` fields dropped, `toJSON` applied). Throws on what JSON cannot carry (a cycle, a bigint).
 */
export function toJson(value: unknown): Json {
  return JSON.parse(JSON.stringify(value)) as Json;
}

function runInfo(message: Message): ChunkRunInfo | null {
  const acp = message.metadata?.acp;
  if (!isObject(acp) || typeof acp.update !== 'string' || !isChunk(acp.update) || typeof acp.messageId !== 'string') return null;
  return acp as unknown as ChunkRunInfo;
}

function chunkUpdate(kind: ChunkKind, part: ContentPart, messageId: string, extra: JsonObject | undefined): SessionUpdate {
  const content = (part.type === 'thought' ? { ...part, type: 'text' } : part) as unknown as ContentBlock;
  return { ...(extra ?? {}), sessionUpdate: kind, content, messageId } as SessionUpdate;
}

const CONTENT_BLOCKS = new Set(['text', 'image', 'audio', 'resource_link', 'resource']);

/** The update for a part of a message the host appended itself (not recorded from ACP), or `null`. */
function hostPartUpdate(message: Message, part: ContentPart): SessionUpdate | null {
  if (CONTENT_BLOCKS.has(part.type) && message.role !== 'tool') {
    return chunkUpdate(message.role === 'user' ? 'user_message_chunk' : 'agent_message_chunk', part, message.id, undefined);
  }
  if (part.type === 'thought' && typeof part.text === 'string') return chunkUpdate('agent_thought_chunk', part, `${message.id}-thought`, undefined);
  if (part.type === 'tool_call' && typeof part.toolCallId === 'string') {
    const name = typeof part.name === 'string' ? part.name : 'tool';
    return { sessionUpdate: 'tool_call', toolCallId: part.toolCallId, title: name, rawInput: part.input };
  }
  if (part.type === 'tool_result' && typeof part.toolCallId === 'string') {
    return { sessionUpdate: 'tool_call_update', toolCallId: part.toolCallId, status: part.isError === true ? 'failed' : 'completed', rawOutput: part.output };
  }
  return null;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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
