/**
 * What a structured message holds: JSON values and content parts. The part types hosts use are named
 * and their required fields checked (`main/message-validation.ts`); a part of any other `type` (from
 * another protocol) is kept as given, as bounded JSON. The Agent Client Protocol's content blocks fit as
 * they are: `text`, `image`, `audio`, `resource_link` and `resource` use its field names.
 */

/** A JSON value: what metadata and content parts are made of. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object. */
export type JsonObject = { [key: string]: Json };

/** A part of a message. `type` says what it is (1-64 characters); every other field is kept as given. */
export type ContentPart = { type: string; [key: string]: Json | undefined };

/** Text the model or the user wrote. */
export interface TextPart extends ContentPart {
  type: 'text';
  text: string;
}

/** An image: base64 `data` or a `uri` (or both), with its MIME type. */
export interface ImagePart extends ContentPart {
  type: 'image';
  mimeType: string;
  data?: string;
  uri?: string;
}

/** Audio: base64 `data` or a `uri` (or both), with its MIME type. */
export interface AudioPart extends ContentPart {
  type: 'audio';
  mimeType: string;
  data?: string;
  uri?: string;
}

/** A link to a resource the agent can read (ACP `resource_link`). */
export interface ResourceLinkPart extends ContentPart {
  type: 'resource_link';
  uri: string;
  name: string;
}

/** An embedded resource (ACP `resource`): its `uri` and its `text` or base64 `blob`. */
export interface ResourcePart extends ContentPart {
  type: 'resource';
  resource: { uri: string; text: string; mimeType?: string } | { uri: string; blob: string; mimeType?: string };
}

/** The model asks for a tool to run. */
export interface ToolCallPart extends ContentPart {
  type: 'tool_call';
  toolCallId: string;
  name: string;
  input: Json;
}

/** What a tool answered to the call `toolCallId`. */
export interface ToolResultPart extends ContentPart {
  type: 'tool_result';
  toolCallId: string;
  output: Json;
  isError?: boolean;
}

/** The model's reasoning, kept apart from what it answers. */
export interface ThoughtPart extends ContentPart {
  type: 'thought';
  text: string;
}

/** The part types whose required fields are checked. */
export type KnownContentPart = TextPart | ImagePart | AudioPart | ResourceLinkPart | ResourcePart | ToolCallPart | ToolResultPart | ThoughtPart;
