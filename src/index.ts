/**
 * session-shards: conversation sessions kept in worker-thread shards.
 * This file only re-exports the public API.
 */
export { SessionEngine } from './main/session-engine.js';
export type {
  EngineStats,
  GetOptions,
  ListOptions,
  SessionEngineEvents,
  ShardRestartEvent,
  ShardStats,
} from './main/session-engine.js';
export { defaultShardCount, type ResolvedOptions, type SessionEngineOptions } from './main/options.js';
export { shardFor } from './main/shard-for.js';
export {
  CapacityError,
  EngineClosedError,
  ErrorCode,
  InvalidArgumentError,
  InvalidSessionIdError,
  LimitExceededError,
  ProtocolError,
  QueueFullError,
  SessionEngineError,
  SessionNotFoundError,
  ShardCrashedError,
} from './main/errors.js';
export type { FaultKind } from './protocol/messages.js';
export type {
  ClientCapabilities,
  Message,
  MessageInput,
  Role,
  Session,
  SessionId,
  SessionInit,
  SessionUpdate,
} from './protocol/model.js';
