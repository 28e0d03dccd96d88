/**
 * session-shards/openai-agents: a `Session` of the OpenAI Agents SDK (`@openai/agents`) kept in a
 * `SessionEngine`. Its types come from the optional peer dependency `@openai/agents-core` (0.20.x); nothing
 * of it is loaded at run time. This file only re-exports.
 */
export { EngineSession, type EngineSessionOptions } from './engine-session.js';
export { type ItemPath, itemToMessage, messageToItem, OPENAI_ITEM_PART, type OpenAIItemPart, roleOf } from './items.js';
