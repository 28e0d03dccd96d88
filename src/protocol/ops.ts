/**
 * Every operation a shard answers, in one typed table: its wire code, its argument and its result as named
 * shapes, and how each crosses the thread boundary. The engine builds calls from it and the shard's batch
 * runner decodes them with it; positional arrays exist only inside the `encodeArgs` / `decodeArgs` /
 * `writeResult` / `readResult` pairs below, which keep the wire (and the persistence logs) as they were.
 *
 * Adding an operation: a shape in `OpShapes`, an entry in `OPS`, a handler in each backend
 * (`shard/backend.ts`), and the engine's method. The compiler finds every place that must change.
 */
import type { WireError } from './error-codes.js';
import { ErrorCode } from './error-codes.js';
import { newMessageId } from './message-ids.js';
import {
  checkMessageRecord,
  encodeLegacyMessageRecord,
  isLegacyRecord,
  messageRecordTimestamp,
  readMessageJson,
  upgradeLegacyRecord,
} from './message-record.js';
import type { FaultKind, RecoveryFigures } from './messages.js';
import { FAULT_KINDS } from './messages.js';
import { ROLES, type ClientCapabilities, type Message, type MessagesJson, type Role, type Session, type SessionId } from './model.js';
import { type MsgpackWriter, writeStringHeader } from './msgpack-writer.js';
import { fail } from './operation-failure.js';

/**
 * The fields a session is created with; each `null` (or empty) when not given. The host sends capabilities
 * and servers encoded, as it checked them (`null` and `[]` as themselves); logs written before carry values.
 */
export interface CreateArgs {
  capabilities: ClientCapabilities | Uint8Array | null;
  servers: string[] | Uint8Array;
  cwd: string | null;
  title: string | null;
  owner: string | null;
  /** The metadata object's JSON text (UTF-8), as the host checked it; `null`: none. */
  metadata: Uint8Array | null;
}

/** The fields an update replaces: a key that is present replaces the stored field, an absent one leaves it. */
export type UpdateArgs = Partial<CreateArgs>;

/**
 * What a read takes of the history: the newest `lastMessages` (when >= 0), else the messages from index
 * `fromMessage` on, at most `maxMessages` of them (-1: all).
 */
export interface GetArgs {
  lastMessages: number;
  fromMessage: number;
  maxMessages: number;
}

/** The whole history, as a read takes it by default. */
export const WHOLE_HISTORY: GetArgs = Object.freeze({ lastMessages: -1, fromMessage: 0, maxMessages: -1 });

/** A message to append, as the record the shard stores (`message-record.ts`), checked. */
export interface AppendArgs {
  record: Uint8Array;
  /** The bytes it counts against `maxMessageBytes` (its content's and metadata's; the Redis store checks them again). */
  contentBytes: number;
}

/**
 * Messages appended all or none (`appendMessages`, and `appendMessage` with an id or a condition). If the
 * session's newest messages already are these (a retry), nothing is appended; else, with `ifLength >= 0`,
 * only if the session holds exactly that many; ids must be new to the session and to the call.
 */
export interface AppendManyArgs {
  records: Uint8Array[];
  /** Per record: whether its caller gave the timestamp (a retry must then match it too). */
  stamped: boolean[];
  /** -1: no condition. */
  ifLength: number;
}

/** Removes the newest message, if any (and, with `ifLength >= 0`, only if the session holds that many). */
export interface PopArgs {
  ifLength: number;
}

/**
 * `Array.prototype.splice` on the history: `start` as given (negative counts from the end), `deleteCount`
 * -1 for all from `start` on. Inserted ids must be new to what remains and to the call.
 */
export interface SpliceArgs {
  start: number;
  deleteCount: number;
  records: Uint8Array[];
  ifLength: number;
}

/**
 * A new session `newId` (on the same shard as the source) with the source's fields and a copy of its
 * first `messages` messages (-1: all); `title` and `metadata`, when set, replace the source's.
 */
export interface ForkArgs {
  newId: SessionId;
  messages: number;
  setTitle: boolean;
  title: string | null;
  setMetadata: boolean;
  metadata: Uint8Array | null;
}

/** Which ids `list` returns, and in which order. */
export interface ListArgs {
  /** The most ids; -1 for all. */
  limit: number;
  desc: boolean;
  /** Only sessions whose cwd is exactly this (`null`: any). */
  cwd: string | null;
  /** Only sessions whose owner is exactly this (`null`: any). */
  owner: string | null;
}

/** A flush's argument: whether the log is closed after it (the engine is closing). */
export interface FlushArgs {
  close: boolean;
}

/** One shard's own figures (`stats()` adds the host's counters). A Redis shard reports zeros. */
export interface ShardFigures {
  /** Sessions held (including expired ones not yet swept). */
  sessions: number;
  /** Messages held over all its sessions. */
  messages: number;
  /**
   * The bytes its sessions are counted for against its share of `shardHeapMb` (creates and appends past
   * the share reject `ERR_CAPACITY`). 0 on a Redis store.
   */
  sessionBytes: number;
  /** Its worker's V8 heap in use, in bytes (garbage not yet collected included). */
  heapUsedBytes: number;
  /**
   * The longest a slice of the last complete sweep (the timer's or `sweep()`'s) held the shard, in
   * milliseconds, garbage collection during the slice included. 0 before the first sweep and on a Redis store.
   */
  lastSweepSliceMs: number;
  /** The bytes of message log its sessions hold, outside its worker's heap (spare room included). 0 on a Redis store. */
  logBytes: number;
  /**
   * The bytes of message log it keeps for reuse: released by removed and expired sessions, taken again by
   * later appends, never given back to the system. 0 on a Redis store.
   */
  logBytesFree: number;
}

/** Writes a Session record into a reply: the shard's stored bytes, copied, never decoded and encoded again. */
export type SessionWrite = (writer: MsgpackWriter) => void;

/** Writes stored message records into a reply (one record, or an array of them), copied as they are. */
export type RecordsWrite = (writer: MsgpackWriter) => void;

/** Writes a read's messages into a reply as JSON text (a str) and the session's length (`MessagesJsonWriter`). */
export type MessagesJsonWrite = (writer: MsgpackWriter) => void;

/** The reply of a read as JSON text: `[text, length]`, the text (UTF-8 JSON) copied in as a str. */
export function messagesJsonWrite(text: Uint8Array, length: number): MessagesJsonWrite {
  return (writer) => {
    writer.arrayHeader(2);
    const target = writer.reserve(5 + text.length);
    const at = writeStringHeader(target, writer.length, text.length);
    target.set(text, at);
    writer.advanceTo(at + text.length);
    writer.number(length);
  };
}

/**
 * Each operation's shapes: `id` (the session, or `null` for shard-wide ops), `args`, `result` (what the host
 * receives) and `out` (what a shard's handler returns for the reply; the same as `result` but for sessions).
 */
export interface OpShapes {
  create: { id: SessionId; args: CreateArgs; result: true; out: true };
  get: { id: SessionId; args: GetArgs; result: Session | null; out: SessionWrite | null };
  append: { id: SessionId; args: AppendArgs; result: number; out: number };
  update: { id: SessionId; args: UpdateArgs; result: true; out: true };
  touch: { id: SessionId; args: null; result: boolean; out: boolean };
  remove: { id: SessionId; args: null; result: Session | null; out: SessionWrite | null };
  /** `id`: the cursor, only ids past it in the order asked for (`null`: from the start). */
  list: { id: SessionId | null; args: ListArgs; result: SessionId[]; out: SessionId[] };
  size: { id: null; args: null; result: number; out: number };
  sweep: { id: null; args: null; result: number; out: number };
  stats: { id: null; args: null; result: ShardFigures; out: ShardFigures };
  ping: { id: null; args: null; result: number; out: number };
  fault: { id: null; args: FaultKind; result: true; out: true };
  recovery: { id: null; args: null; result: RecoveryFigures; out: RecoveryFigures };
  flush: { id: null; args: FlushArgs; result: true; out: true };
  appendMany: { id: SessionId; args: AppendManyArgs; result: number; out: number };
  pop: { id: SessionId; args: PopArgs; result: Message | null; out: RecordsWrite | null };
  splice: { id: SessionId; args: SpliceArgs; result: Message[]; out: RecordsWrite };
  fork: { id: SessionId; args: ForkArgs; result: true; out: true };
  getJson: { id: SessionId; args: GetArgs; result: MessagesJson | null; out: MessagesJsonWrite | null };
}

export type OpName = keyof OpShapes;
export type IdOf<K extends OpName> = OpShapes[K]['id'];
export type ArgsOf<K extends OpName> = OpShapes[K]['args'];
export type ResultOf<K extends OpName> = OpShapes[K]['result'];
export type OutOf<K extends OpName> = OpShapes[K]['out'];

/** How one operation crosses the boundary. */
export interface OpCodec<K extends OpName> {
  /** The wire code: part of the batch format and of persistence logs. Never renumber one. */
  readonly code: number;
  readonly name: K;
  /** What its id slot holds: a session's id (checked by the shard), an optional cursor, or nothing. */
  readonly id: 'session' | 'cursor' | 'none';
  /** How persistence logs it: as itself, as the touch a read is (it refreshes the idle clock), or not at all. */
  readonly logged: 'self' | 'touch' | null;
  /** Host side: the argument as it goes into the batch. */
  encodeArgs(args: ArgsOf<K>): unknown;
  /** Shard side: the batch's argument, checked (a malformed one throws `OperationFailure`). */
  decodeArgs(wire: unknown): ArgsOf<K>;
  /** Shard side: writes the handler's result into the reply. */
  writeResult(writer: MsgpackWriter, out: OutOf<K>): void;
  /** Host side: the decoded result as the caller receives it; absent when that is the decoded value itself. */
  readonly readResult?: (wire: unknown) => ResultOf<K>;
}

function expectInt(value: unknown, field: string): number {
  if (!Number.isSafeInteger(value)) fail(ErrorCode.INVALID_ARGUMENT, `${field}: not an integer`);
  return value as number;
}

function expectArray(value: unknown, length: number, field: string): unknown[] {
  if (!Array.isArray(value) || value.length !== length) fail(ErrorCode.INVALID_ARGUMENT, `${field}: malformed`);
  return value;
}

function expectOptionalString(value: unknown, field: string): string | null {
  if (value !== null && typeof value !== 'string') fail(ErrorCode.INVALID_ARGUMENT, `${field}: not a string or null`);
  return value as string | null;
}

/** Encoded field bytes as the host sends them (it checked them against `maxFieldBytes`). */
function expectFieldBytes(bytes: Uint8Array, field: string): Uint8Array {
  if (bytes.length === 0) fail(ErrorCode.INVALID_ARGUMENT, `${field}: empty bytes`);
  return bytes;
}

function expectCapabilities(value: unknown): ClientCapabilities | Uint8Array | null {
  if (value === null) return null;
  if (value instanceof Uint8Array) return expectFieldBytes(value, 'clientCapabilities');
  if (typeof value !== 'object' || Array.isArray(value)) fail(ErrorCode.INVALID_ARGUMENT, 'clientCapabilities: not an object');
  return value as ClientCapabilities;
}

function expectServers(value: unknown): string[] | Uint8Array {
  if (value instanceof Uint8Array) return expectFieldBytes(value, 'mcpServers');
  if (!Array.isArray(value) || !value.every((name) => typeof name === 'string')) fail(ErrorCode.INVALID_ARGUMENT, 'mcpServers: not an array of strings');
  return value as string[];
}

/** A session id as the shard checks it (the host has checked its spelling). */
export function expectSessionId(id: unknown): SessionId {
  if (typeof id !== 'string' || id.length !== 26) fail(ErrorCode.INVALID_SESSION_ID, `id: not a session id: ${String(id).slice(0, 40)}`);
  return id;
}

/**
 * An APPEND's argument. Persistence logs written before messages travelled as records carry a message
 * object: it is checked as the shard checked it then, and encoded.
 */
function decodeAppend(wire: unknown): AppendArgs {
  if (wire instanceof Uint8Array) {
    const contentBytes = checkMessageRecord(wire);
    if (contentBytes < 0) fail(ErrorCode.INVALID_ARGUMENT, 'message: not a well-formed message record');
    // A message logged before ids existed gets one as it is replayed (the snapshot after recovery keeps it).
    return { record: isLegacyRecord(wire) ? upgradeLegacyRecord(wire, newMessageId(messageRecordTimestamp(wire))) : wire, contentBytes };
  }
  const message = wire as { role?: unknown; content?: unknown; timestamp?: unknown } | null;
  if (message === null || typeof message !== 'object') fail(ErrorCode.INVALID_ARGUMENT, 'message: not an object');
  if (!ROLES.includes(message.role as Role)) fail(ErrorCode.INVALID_ARGUMENT, 'role: unknown');
  if (typeof message.content !== 'string') fail(ErrorCode.INVALID_ARGUMENT, 'content: not a string');
  if (typeof message.timestamp !== 'number') fail(ErrorCode.INVALID_ARGUMENT, 'timestamp: not a number');
  const record = upgradeLegacyRecord(encodeLegacyMessageRecord(message.role as Role, message.content, message.timestamp), newMessageId(message.timestamp));
  return { record, contentBytes: checkMessageRecord(record) };
}

function expectMetadata(value: unknown): Uint8Array | null {
  if (value === null) return null;
  if (!(value instanceof Uint8Array) || value.length === 0 || value[0] !== 0x7b) fail(ErrorCode.INVALID_ARGUMENT, 'metadata: not JSON text of an object');
  return value;
}

function expectRecords(value: unknown): Uint8Array[] {
  if (!Array.isArray(value)) fail(ErrorCode.INVALID_ARGUMENT, 'messages: not an array');
  for (const record of value) if (!(record instanceof Uint8Array)) fail(ErrorCode.INVALID_ARGUMENT, 'messages: not message records');
  return value as Uint8Array[];
}

/** A session as decoded, made whole: its metadata and its messages' parts and metadata parsed from JSON text. */
export function readSession(wire: unknown): Session | null {
  if (wire === null || wire === undefined) return null;
  const session = wire as Session & { metadata: unknown };
  if (session.metadata instanceof Uint8Array) session.metadata = JSON.parse(utf8.decode(session.metadata)) as Session['metadata'];
  for (const message of session.context) readMessageJson(message);
  return session;
}

const utf8 = new TextDecoder();

const writeTrue = (writer: MsgpackWriter): void => writer.boolean(true);
const writeNumber = (writer: MsgpackWriter, value: number): void => writer.number(value);
const writeBoolean = (writer: MsgpackWriter, value: boolean): void => writer.boolean(value);
/** A result a shard writes itself (a session, a read's JSON text), or nil. */
const writeOrNil = (writer: MsgpackWriter, write: ((writer: MsgpackWriter) => void) | null): void => {
  if (write === null) writer.nil();
  else write(writer);
};
function writeStrings(writer: MsgpackWriter, values: readonly string[]): void {
  writer.arrayHeader(values.length);
  for (const value of values) writer.string(value);
}
/** A read's window: a plain number (lastMessages, -1 for all) for the common reads, in one or two bytes; else [from, max]. */
function encodeWindow(a: GetArgs): unknown {
  return a.lastMessages >= 0 || (a.fromMessage === 0 && a.maxMessages < 0) ? a.lastMessages : [a.fromMessage, a.maxMessages];
}

function decodeWindow(wire: unknown): GetArgs {
  if (!Array.isArray(wire)) return { lastMessages: expectInt(wire, 'lastMessages'), fromMessage: 0, maxMessages: -1 };
  const [fromMessage, maxMessages] = expectArray(wire, 2, 'window');
  return { lastMessages: -1, fromMessage: expectInt(fromMessage, 'fromMessage'), maxMessages: expectInt(maxMessages, 'maxMessages') };
}

/** A read's messages as JSON text: `[json, length]` on the wire. */
function readMessagesJson(wire: unknown): MessagesJson | null {
  if (wire === null || wire === undefined) return null;
  const [json, length] = wire as [string, number];
  return { json, length };
}

const noArgs = (): null => null;

/** The operation table. The codes are the wire format's: never renumber one. */
export const OPS: { readonly [K in OpName]: OpCodec<K> } = Object.freeze({
  create: {
    code: 1,
    name: 'create',
    id: 'session',
    logged: 'self',
    encodeArgs: (a: CreateArgs) => [a.capabilities, a.servers, a.cwd, a.title, a.owner, a.metadata],
    decodeArgs(wire: unknown): CreateArgs {
      // Logs written before format 3 carry five fields (no metadata).
      const fields = Array.isArray(wire) && wire.length === 5 ? [...wire, null] : wire;
      const [capabilities, servers, cwd, title, owner, metadata] = expectArray(fields, 6, 'init');
      return {
        capabilities: expectCapabilities(capabilities),
        servers: expectServers(servers),
        cwd: expectOptionalString(cwd, 'cwd'),
        title: expectOptionalString(title, 'title'),
        owner: expectOptionalString(owner, 'owner'),
        metadata: expectMetadata(metadata),
      };
    },
    writeResult: writeTrue,
  },
  get: {
    code: 2,
    name: 'get',
    id: 'session',
    logged: 'touch',
    encodeArgs: encodeWindow,
    decodeArgs: decodeWindow,
    writeResult: writeOrNil,
    readResult: readSession,
  },
  append: {
    code: 3,
    name: 'append',
    id: 'session',
    logged: 'self',
    // The host writes an append's record straight into the batch (`BatchWriter.addAppend`).
    encodeArgs: (a: AppendArgs) => a.record,
    decodeArgs: decodeAppend,
    writeResult: writeNumber,
  },
  update: {
    code: 4,
    name: 'update',
    id: 'session',
    logged: 'self',
    // [set, value] pairs: `null` is a value (it clears a field), so presence needs its own flag.
    encodeArgs: (a: UpdateArgs) => [
      a.metadata !== undefined,
      a.metadata ?? null,
      a.capabilities !== undefined,
      a.capabilities ?? null,
      a.servers !== undefined,
      a.servers ?? null,
      a.cwd !== undefined,
      a.cwd ?? null,
      a.title !== undefined,
      a.title ?? null,
      a.owner !== undefined,
      a.owner ?? null,
    ],
    decodeArgs(wire: unknown): UpdateArgs {
      // Logs written before format 3 carry ten fields (no metadata).
      const fields = Array.isArray(wire) && wire.length === 10 ? [false, null, ...wire] : wire;
      const [setMetadata, metadata, setCapabilities, capabilities, setServers, servers, setCwd, cwd, setTitle, title, setOwner, owner] = expectArray(
        fields,
        12,
        'update',
      );
      const args: UpdateArgs = {};
      if (setMetadata === true) args.metadata = expectMetadata(metadata);
      if (setCapabilities === true) args.capabilities = expectCapabilities(capabilities);
      if (setServers === true) args.servers = expectServers(servers);
      if (setCwd === true) args.cwd = expectOptionalString(cwd, 'cwd');
      if (setTitle === true) args.title = expectOptionalString(title, 'title');
      if (setOwner === true) args.owner = expectOptionalString(owner, 'owner');
      return args;
    },
    writeResult: writeTrue,
  },
  touch: { code: 5, name: 'touch', id: 'session', logged: 'self', encodeArgs: noArgs, decodeArgs: noArgs, writeResult: writeBoolean },
  remove: {
    code: 6,
    name: 'remove',
    id: 'session',
    logged: 'self',
    encodeArgs: noArgs,
    decodeArgs: noArgs,
    writeResult: writeOrNil,
    readResult: readSession,
  },
  list: {
    code: 7,
    name: 'list',
    id: 'cursor',
    logged: null,
    encodeArgs: (a: ListArgs) => [a.limit, a.desc, a.cwd, a.owner],
    decodeArgs(wire: unknown): ListArgs {
      const [limit, desc, cwd, owner] = expectArray(wire, 4, 'list');
      return { limit: expectInt(limit, 'limit'), desc: desc === true, cwd: expectOptionalString(cwd, 'cwd'), owner: expectOptionalString(owner, 'owner') };
    },
    writeResult: writeStrings,
  },
  size: { code: 8, name: 'size', id: 'none', logged: null, encodeArgs: noArgs, decodeArgs: noArgs, writeResult: writeNumber },
  sweep: { code: 9, name: 'sweep', id: 'none', logged: null, encodeArgs: noArgs, decodeArgs: noArgs, writeResult: writeNumber },
  stats: {
    code: 10,
    name: 'stats',
    id: 'none',
    logged: null,
    encodeArgs: noArgs,
    decodeArgs: noArgs,
    writeResult(writer: MsgpackWriter, f: ShardFigures): void {
      writer.arrayHeader(7);
      for (const value of [f.sessions, f.messages, f.sessionBytes, f.heapUsedBytes, f.lastSweepSliceMs, f.logBytes, f.logBytesFree]) writer.number(value);
    },
    readResult(wire: unknown): ShardFigures {
      const [sessions, messages, sessionBytes, heapUsedBytes, lastSweepSliceMs, logBytes, logBytesFree] = wire as number[];
      return {
        sessions: sessions!,
        messages: messages!,
        sessionBytes: sessionBytes!,
        heapUsedBytes: heapUsedBytes!,
        lastSweepSliceMs: lastSweepSliceMs!,
        logBytes: logBytes!,
        logBytesFree: logBytesFree!,
      };
    },
  },
  ping: { code: 11, name: 'ping', id: 'none', logged: null, encodeArgs: noArgs, decodeArgs: noArgs, writeResult: writeNumber },
  fault: {
    code: 12,
    name: 'fault',
    id: 'none',
    logged: null,
    encodeArgs: (kind: FaultKind) => kind,
    decodeArgs(wire: unknown): FaultKind {
      if (!FAULT_KINDS.includes(wire as FaultKind)) fail(ErrorCode.INVALID_ARGUMENT, `kind: unknown fault ${String(wire)}`);
      return wire as FaultKind;
    },
    writeResult: writeTrue,
  },
  recovery: {
    code: 13,
    name: 'recovery',
    id: 'none',
    logged: null,
    encodeArgs: noArgs,
    decodeArgs: noArgs,
    writeResult(writer: MsgpackWriter, r: RecoveryFigures): void {
      writer.arrayHeader(5);
      writer.number(r.sessions);
      writer.number(r.expired);
      writer.number(r.skippedRecords);
      writer.number(r.ms);
      writeStrings(writer, r.warnings);
    },
    readResult(wire: unknown): RecoveryFigures {
      const [sessions, expired, skippedRecords, ms, warnings] = wire as [number, number, number, number, string[]];
      return { sessions, expired, skippedRecords, ms, warnings };
    },
  },
  flush: {
    code: 14,
    name: 'flush',
    id: 'none',
    logged: null,
    encodeArgs: (a: FlushArgs) => a.close,
    decodeArgs: (wire: unknown): FlushArgs => ({ close: wire === true }),
    writeResult: writeTrue,
  },
  appendMany: {
    code: 15,
    name: 'appendMany',
    id: 'session',
    logged: 'self',
    encodeArgs: (a: AppendManyArgs) => [a.records, a.stamped, a.ifLength],
    decodeArgs(wire: unknown): AppendManyArgs {
      const [records, stamped, ifLength] = expectArray(wire, 3, 'appendMessages');
      const checked = expectRecords(records);
      if (!Array.isArray(stamped) || stamped.length !== checked.length) fail(ErrorCode.INVALID_ARGUMENT, 'appendMessages: malformed');
      return { records: checked, stamped: stamped.map((given) => given === true), ifLength: expectInt(ifLength, 'ifLength') };
    },
    writeResult: writeNumber,
  },
  pop: {
    code: 16,
    name: 'pop',
    id: 'session',
    logged: 'self',
    encodeArgs: (a: PopArgs) => a.ifLength,
    decodeArgs: (wire: unknown): PopArgs => ({ ifLength: expectInt(wire, 'ifLength') }),
    writeResult: (writer: MsgpackWriter, out: RecordsWrite | null) => (out === null ? writer.nil() : out(writer)),
    readResult: (wire: unknown) => (wire === null || wire === undefined ? null : readMessageJson(wire as Message)),
  },
  splice: {
    code: 17,
    name: 'splice',
    id: 'session',
    logged: 'self',
    encodeArgs: (a: SpliceArgs) => [a.start, a.deleteCount, a.records, a.ifLength],
    decodeArgs(wire: unknown): SpliceArgs {
      const [start, deleteCount, records, ifLength] = expectArray(wire, 4, 'spliceMessages');
      return {
        start: expectInt(start, 'start'),
        deleteCount: expectInt(deleteCount, 'deleteCount'),
        records: expectRecords(records),
        ifLength: expectInt(ifLength, 'ifLength'),
      };
    },
    writeResult: (writer: MsgpackWriter, out: RecordsWrite) => out(writer),
    readResult: (wire: unknown) => (wire as Message[]).map(readMessageJson),
  },
  fork: {
    code: 18,
    name: 'fork',
    id: 'session',
    logged: 'self',
    encodeArgs: (a: ForkArgs) => [a.newId, a.messages, a.setTitle, a.title, a.setMetadata, a.metadata],
    decodeArgs(wire: unknown): ForkArgs {
      const [newId, messages, setTitle, title, setMetadata, metadata] = expectArray(wire, 6, 'fork');
      return {
        newId: expectSessionId(newId),
        messages: expectInt(messages, 'messages'),
        setTitle: setTitle === true,
        title: expectOptionalString(title, 'title'),
        setMetadata: setMetadata === true,
        metadata: expectMetadata(metadata),
      };
    },
    writeResult: writeTrue,
  },
  getJson: {
    code: 19,
    name: 'getJson',
    id: 'session',
    logged: 'touch',
    encodeArgs: encodeWindow,
    decodeArgs: decodeWindow,
    writeResult: writeOrNil,
    readResult: readMessagesJson,
  },
} satisfies { [K in OpName]: OpCodec<K> });

/** The op of each wire code (`undefined`: no such op). */
export const OP_BY_CODE: readonly (OpCodec<OpName> | undefined)[] = (() => {
  const table: (OpCodec<OpName> | undefined)[] = [];
  for (const op of Object.values(OPS) as OpCodec<OpName>[]) table[op.code] = op;
  return Object.freeze(table);
})();

/** Every slot of a batch triple `[code, id, arg]`, in order. */
export const OP_STRIDE = 3;

export type { WireError };
