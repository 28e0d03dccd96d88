/**
 * session-shards/acp: the session methods of an Agent Client Protocol agent, served from a `SessionEngine`,
 * with every `session/update` of a prompt turn recorded and replayed by `session/load`.
 * Needs the peer dependency `@agentclientprotocol/sdk` (2.x). This file only re-exports.
 */
export {
  AcpSessionService,
  toRequestError,
  type AcpSessionServiceOptions,
  type ForkRequest,
  type PromptHandler,
  type PromptTurn,
  type RegisterOptions,
} from './session-service.js';
export { ACP_UPDATE_PART, promptText, replayUpdate, replayUpdates, type ChunkRunInfo } from './content.js';
