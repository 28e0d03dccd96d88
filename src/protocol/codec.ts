/**
 * The one msgpack codec of the wire format. Both sides import it, so their options cannot drift.
 *
 * Sessions and messages travel as msgpackr records over a structure table declared here, frozen, and
 * identical on both sides (records decode 2-3x faster than maps). No side may add to the table at run
 * time: a table that each side extends on its own diverges and decodes garbage. Any other object shape
 * (client capabilities, say) travels as a record defined inline in the same buffer.
 */
import { Packr } from 'msgpackr';

/** The shared record structures. Append only, never reorder: the position is the record's wire id. */
export const SHARED_STRUCTURES: readonly (readonly string[])[] = Object.freeze([
  Object.freeze(['id', 'createdAt', 'lastAccessed', 'context', 'clientCapabilities', 'mcpServers']),
  Object.freeze(['role', 'content', 'timestamp']),
  // Session v2 (format 2): structure 0 plus cwd, title, updatedAt and owner. Structure 0 stays so that
  // sessions encoded before still decode; `upgradeSession` fills in what they lack.
  Object.freeze(['id', 'createdAt', 'lastAccessed', 'context', 'clientCapabilities', 'mcpServers', 'cwd', 'title', 'updatedAt', 'owner']),
  // Message v2 (format 3): an id, and content parts as JSON text (`message-record.ts`); with metadata, 4.
  Object.freeze(['id', 'role', 'content', 'timestamp']),
  Object.freeze(['id', 'role', 'content', 'timestamp', 'metadata']),
  // Session v3 (format 3): structure 2 plus metadata (JSON text) and length (the messages held).
  Object.freeze(['id', 'createdAt', 'lastAccessed', 'context', 'clientCapabilities', 'mcpServers', 'cwd', 'title', 'updatedAt', 'owner', 'metadata', 'length']),
]);

/** The position of the first (format 1) Session record in `SHARED_STRUCTURES`; still decoded, no longer written. */
export const SESSION_STRUCTURE = 0;
/** The position of the first Message record (no id) in `SHARED_STRUCTURES`; still read from old logs, no longer written. */
export const MESSAGE_STRUCTURE = 1;
/** The position of the Session record of format 2 (with cwd, title, updatedAt, owner); still decoded, no longer written. */
export const SESSION_V2_STRUCTURE = 2;
/** The Message record since format 3: id, role, content, timestamp. */
export const MESSAGE_STRUCTURE_V2 = 3;
/** The same with metadata. */
export const MESSAGE_STRUCTURE_V2_META = 4;
/** The Session record since format 3: format 2's plus metadata and length. */
export const SESSION_V3_STRUCTURE = 5;

/**
 * The version of the encoded format; changes whenever a structure or an op changes meaning.
 * 2: sessions are written as `SESSION_V2_STRUCTURE`; CREATE, UPDATE and LIST carry the new fields.
 * 3: messages carry ids, content parts and metadata (`message-record.ts`); sessions carry metadata and
 *    length; the history-editing operations.
 */
export const FORMAT_VERSION = 3;

function createPackr(): Packr {
  return new Packr({
    useRecords: true,
    // msgpackr writes bookkeeping into the array it is given: each codec gets its own copy.
    structures: SHARED_STRUCTURES.map((keys) => [...keys]),
    maxSharedStructures: SHARED_STRUCTURES.length,
    shouldShareStructure: () => false,
    mapsAsObjects: true,
    // Maps from a foreign encoder still decode to plain objects; never to `Map`.
    moreTypes: false,
  });
}

const packr = createPackr();

/**
 * Encodes a value into a fresh, exactly sized buffer that the caller owns (it may be transferred).
 * msgpackr's own `pack()` returns a view into a buffer it reuses, which must never be transferred.
 */
export function encode(value: unknown): Uint8Array {
  const view = packr.pack(value);
  const owned = new Uint8Array(view.length);
  owned.set(view);
  return owned;
}

/**
 * Encodes a value into msgpackr's reused buffer: the view is valid only until the next encode, for a
 * caller that copies it at once (never transfer it).
 */
export function encodeView(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes one value. Throws on malformed input; callers turn that into a typed error. */
export function decode(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/**
 * Decodes one value that no side of this engine encoded (a field read back from the store), on a codec of
 * its own: a record definition in it outlives the call in msgpackr's table, and in the shared codec it
 * could redefine a shared structure for every later decode. Slower: for values checked once and cached.
 */
export function decodeForeign(bytes: Uint8Array): unknown {
  return createPackr().unpack(bytes);
}
