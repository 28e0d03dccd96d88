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
 */

/** The scripts, by the command name ioredis defines for each. */
export interface ScriptSource {
  numberOfKeys: number;
  lua: string;
}

const REFRESH = `
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
`;

/** ARGV[3] version, [4] capabilities, [5] servers, then field/value pairs of the plain fields set. Returns 1, or 0 if the id exists. */
export const CREATE_SCRIPT: ScriptSource = {
  numberOfKeys: 2,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'c', ARGV[1], 'a', ARGV[1], 'u', ARGV[1], 'cap', ARGV[4], 'srv', ARGV[5])
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`,
};

/** ARGV[3]: how many of the newest messages (-1: all). Returns nil, or `[hash as a flat list, messages]`. */
export const GET_SCRIPT: ScriptSource = {
  numberOfKeys: 2,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSET', KEYS[1], 'a', ARGV[1])
${REFRESH}
local n = tonumber(ARGV[3])
local log
if n < 0 then log = redis.call('LRANGE', KEYS[2], 0, -1)
elseif n == 0 then log = {}
else log = redis.call('LRANGE', KEYS[2], -n, -1) end
return {redis.call('HGETALL', KEYS[1]), log}
`,
};

/**
 * ARGV[3] the encoded Message record, [4] its content's UTF-8 bytes, [5] maxMessagesPerSession,
 * [6] maxMessageBytes. Returns `[0, new length]`, `[1, 0]` (no session), `[2, held]` (too many messages) or
 * `[3, bytes]` (too large).
 */
export const APPEND_SCRIPT: ScriptSource = {
  numberOfKeys: 2,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return {1, 0} end
if tonumber(ARGV[4]) > tonumber(ARGV[6]) then return {3, tonumber(ARGV[4])} end
local held = redis.call('LLEN', KEYS[2])
if held >= tonumber(ARGV[5]) then return {2, held} end
local length = redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[1], 'a', ARGV[1], 'u', ARGV[1])
${REFRESH}
return {0, length}
`,
};

/**
 * ARGV from 3: triples of field, '1' (set to the value) or '0' (delete: null), value. Returns 1, or 0 when
 * there is no session.
 */
export const UPDATE_SCRIPT: ScriptSource = {
  numberOfKeys: 2,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 3, #ARGV, 3 do
  if ARGV[i + 1] == '1' then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  else redis.call('HDEL', KEYS[1], ARGV[i]) end
end
redis.call('HSET', KEYS[1], 'a', ARGV[1], 'u', ARGV[1])
${REFRESH}
return 1
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
