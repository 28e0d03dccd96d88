/**
 * The Lua scripts of the Redis store. Each operation on a session is one script, so that it is atomic on
 * the server: no other host's call can interleave between its check and its write, and the limits are
 * enforced where the data is rather than by a read-modify-write from the host.
 *
 * KEYS[1] is the session's meta hash, KEYS[2] its message list (`keys.ts`). The hash holds `v` (the format
 * version), `c` (createdAt), `a` (lastAccessed), `u` (updatedAt), `cap` and `srv` (encoded capabilities
 * and server names), and `cwd`, `title`, `owner` when set (absent: null). Both keys get the same
 * `PEXPIRE` in the same script, so they expire at the same instant (a script sees one frozen clock).
 * ARGV[1] is the host's clock, ARGV[2] the idle TTL in milliseconds.
 *
 * `b` is the session's byte total, checked against `maxSessionBytes`: its message records plus `cap`,
 * `srv`, `cwd`, `title` and `owner`, all as stored bytes (the memory store counts the plain fields in
 * UTF-16 code units, so non-ASCII text weighs a little more here). Sessions written before `b` existed get
 * it computed once, on their first call (`SESSION_BYTES`); the writing scripts keep it current. Writes by
 * a host of an earlier release still running on the same Redis do not update it (a rolling upgrade).
 */

/** The scripts, by the command name ioredis defines for each. */
export interface ScriptSource {
  numberOfKeys: number;
  lua: string;
}

/** The plain and encoded fields counted in `b`. */
const COUNTED_FIELDS = `{'cap', 'srv', 'cwd', 'title', 'owner'}`;

/**
 * `fieldBytes()`: the counted fields' bytes; `sessionBytes()`: `b`, or, when absent (a session of an
 * earlier release) or unreadable, the sum over the fields and the whole log: O(messages), once.
 */
const SESSION_BYTES = `
local function fieldBytes()
  local n = 0
  for _, f in ipairs(${COUNTED_FIELDS}) do n = n + redis.call('HSTRLEN', KEYS[1], f) end
  return n
end
local function sessionBytes()
  local b = tonumber(redis.call('HGET', KEYS[1], 'b'))
  if b then return b end
  b = fieldBytes()
  for _, r in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do b = b + #r end
  return b
end
`;

const REFRESH = `
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
`;

/**
 * ARGV[3] version, [4] capabilities, [5] servers, [6] maxSessionBytes, then field/value pairs of the plain
 * fields set. Returns `[1, bytes]`, `[0, 0]` if the id exists, or `[2, bytes]` (past maxSessionBytes).
 */
export const CREATE_SCRIPT: ScriptSource = {
  numberOfKeys: 2,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, 0} end
local b = #ARGV[4] + #ARGV[5]
for i = 8, #ARGV, 2 do b = b + #ARGV[i] end
if b > tonumber(ARGV[6]) then return {2, b} end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'c', ARGV[1], 'a', ARGV[1], 'u', ARGV[1], 'cap', ARGV[4], 'srv', ARGV[5], 'b', b)
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, b}
`,
};

/**
 * ARGV[3]: how many of the newest messages (-1: all), [4] maxSessionBytes. Returns nil, `[hash as a flat
 * list, messages]`, or `[bytes]` when the session holds more than maxSessionBytes (only after the limit was
 * lowered) and so would this read: refused before anything is read, as the memory store refuses it.
 */
export const GET_SCRIPT: ScriptSource = {
  numberOfKeys: 2,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
${SESSION_BYTES}
local b = sessionBytes()
redis.call('HSET', KEYS[1], 'a', ARGV[1], 'b', b)
${REFRESH}
local n = tonumber(ARGV[3])
local max = tonumber(ARGV[4])
if b > max and n < 0 then return {b} end
local log
if n < 0 then log = redis.call('LRANGE', KEYS[2], 0, -1)
elseif n == 0 then log = {}
else log = redis.call('LRANGE', KEYS[2], -n, -1) end
if b > max then
  local read = fieldBytes()
  for _, r in ipairs(log) do read = read + #r end
  if read > max then return {b} end
end
return {redis.call('HGETALL', KEYS[1]), log}
`,
};

/**
 * ARGV[3] the encoded Message record, [4] its content's UTF-8 bytes, [5] maxMessagesPerSession,
 * [6] maxMessageBytes, [7] maxSessionBytes. Returns `[0, new length]`, `[1, 0]` (no session), `[2, held]`
 * (too many messages), `[3, bytes]` (too large) or `[4, bytes the session would hold]`.
 */
export const APPEND_SCRIPT: ScriptSource = {
  numberOfKeys: 2,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return {1, 0} end
if tonumber(ARGV[4]) > tonumber(ARGV[6]) then return {3, tonumber(ARGV[4])} end
local held = redis.call('LLEN', KEYS[2])
if held >= tonumber(ARGV[5]) then return {2, held} end
${SESSION_BYTES}
local b = sessionBytes() + #ARGV[3]
if b > tonumber(ARGV[7]) then return {4, b} end
local length = redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[1], 'a', ARGV[1], 'u', ARGV[1], 'b', b)
${REFRESH}
return {0, length}
`,
};

/**
 * ARGV[3] maxSessionBytes, then triples of field, '1' (set to the value) or '0' (delete: null), value.
 * Returns `[1, bytes]`, `[0, 0]` when there is no session, or `[2, bytes it would hold]` (nothing changed).
 */
export const UPDATE_SCRIPT: ScriptSource = {
  numberOfKeys: 2,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
${SESSION_BYTES}
local b = sessionBytes()
for i = 4, #ARGV, 3 do
  b = b - redis.call('HSTRLEN', KEYS[1], ARGV[i])
  if ARGV[i + 1] == '1' then b = b + #ARGV[i + 2] end
end
if b > tonumber(ARGV[3]) then return {2, b} end
for i = 4, #ARGV, 3 do
  if ARGV[i + 1] == '1' then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  else redis.call('HDEL', KEYS[1], ARGV[i]) end
end
redis.call('HSET', KEYS[1], 'a', ARGV[1], 'u', ARGV[1], 'b', b)
${REFRESH}
return {1, b}
`,
};

/** Returns whether the session exists (and refreshes it). */
export const TOUCH_SCRIPT: ScriptSource = {
  numberOfKeys: 2,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'a', ARGV[1])
${REFRESH}
return 1
`,
};

/** Returns nil, or the session as it was (like GET's reply), and deletes it. */
export const REMOVE_SCRIPT: ScriptSource = {
  numberOfKeys: 2,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local session = {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1)}
redis.call('DEL', KEYS[1], KEYS[2])
return session
`,
};

/** Every script, by the name of the command ioredis defines for it. */
export const SCRIPTS = Object.freeze({
  ssCreate: CREATE_SCRIPT,
  ssGet: GET_SCRIPT,
  ssAppend: APPEND_SCRIPT,
  ssUpdate: UPDATE_SCRIPT,
  ssTouch: TOUCH_SCRIPT,
  ssRemove: REMOVE_SCRIPT,
});
