/**
 * session-shards: conversation sessions kept in worker-thread shards.
 * This file only re-exports the public API.
 */
export { SessionEngine } from './main/session-engine.js';
export type {
  CallOptions,
  ConditionalOptions,
  EngineStats,
  ForkOptions,
  GetOptions,
  ListOptions,
  RecoveryReport,
  SessionEngineEvents,
  ShardRestartEvent,
  ShardStats,
  StoreDownEvent,
} from './main/session-engine.js';
export {
  availableMemoryBytes,
  defaultShardCount,
  defaultShardHeapMb,
  type EngineLogger,
  type LogFields,
  type LogFunction,
  type MemorySources,
  type PersistenceOptions,
  type ResolvedOptions,
  type ResolvedPersistence,
  type SessionEngineOptions,
} from './main/options.js';
export { shardFor } from './main/shard-for.js';
export {
  BATCH_BOUNDS_OPS,
  type BatchMessage,
  type CallMessage,
  type HistogramSnapshot,
  LATENCY_BOUNDS_MS,
  METRICS_CHANNELS,
  type MetricsSnapshot,
  type OperationMetrics,
} from './main/metrics.js';
export {
  AbortedError,
  CapacityError,
  ConflictError,
  CorruptDataError,
  EngineClosedError,
  ErrorCode,
  InvalidArgumentError,
  InvalidSessionIdError,
  LimitExceededError,
  PersistenceLockedError,
  PersistenceCorruptError,
  ProtocolError,
  QueueFullError,
  SessionEngineError,
  SessionNotFoundError,
  ShardCrashedError,
  StoreUnavailableError,
  TimeoutError,
} from './main/errors.js';
export type { RedisClusterOptions, RedisConnectionOptions, ResolvedStore, StoreOptions } from './main/store-options.js';
export type { FaultKind, FsyncPolicy } from './protocol/messages.js';
export type { ShardFigures } from './protocol/ops.js';
export { LogCode, SKIPPED_RECORDS_WARNING } from './protocol/error-codes.js';
export { KEYSPACE_EVENTS_WARNING } from './protocol/messages.js';
export type {
  AudioPart,
  ContentPart,
  ImagePart,
  Json,
  JsonObject,
  KnownContentPart,
  ResourceLinkPart,
  ResourcePart,
  TextPart,
  ThoughtPart,
  ToolCallPart,
  ToolResultPart,
} from './protocol/content.js';
export type {
  ClientCapabilities,
  Message,
  MessagesJson,
  MessageInput,
  Role,
  Session,
  SessionId,
  SessionInit,
  SessionUpdate,
} from './protocol/model.js';
