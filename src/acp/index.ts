/**
 * session-shards/acp: the session methods of an Agent Client Protocol agent, served from a `SessionEngine`.
 * Needs the peer dependency `@agentclientprotocol/sdk` (2.x). This file only re-exports.
 */
export { AcpSessionService, toRequestError, type AcpSessionServiceOptions } from './session-service.js';
export { promptText, replayUpdate } from './content.js';
