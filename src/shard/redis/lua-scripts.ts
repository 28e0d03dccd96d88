/**
 * The Lua scripts of the Redis store. Each operation on a session is one script, so that it is atomic on
 * the server: no other host's call can interleave between its check and its write, and the limits are
 * enforced where the data is rather than by a read-modify-write from the host.
 *
 * KEYS[1] is the session's meta hash, KEYS[2] its message list, KEYS[3] the set of its message ids
 * (`keys.ts`). The hash holds `v` (the format version), `c` (createdAt), `a` (lastAccessed), `u`
 * (updatedAt), `cap` and `srv` (encoded capabilities and server names), and `cwd`, `title`, `owner` and
 * `meta` (the metadata's JSON text) when set (absent: null). All keys get the same `PEXPIRE` in the same
 * script, so they expire at the same instant (a script sees one frozen clock); a call skips it while the
 * TTL left is close enough (see `refresh` in `SESSION_END`). ARGV[1] is the host's clock, ARGV[2] the idle
 * TTL in milliseconds.
 *
 * `b` is the session's byte total, checked against `maxSessionBytes`: its message records plus `cap`,
 * `srv`, `cwd`, `title`, `owner` and `meta`, all as stored bytes (the memory store counts the plain fields
 * in UTF-16 code units, so non-ASCII text weighs a little more here). Sessions written before `b` existed
 * get it computed once, on their first call (`sessionBytes`); the writing scripts keep it current. Writes
 * by a host of an earlier release still running on the same Redis do not update it (a rolling upgrade).
 *
 * Message ids: KEYS[3] holds the id of every record of the log, and `ni` in the hash how many ids the
 * scripts put there. An id's uniqueness is checked against the set (O(1)), never by reading the log. When
 * the count and the set disagree (the set expired while only hosts of an earlier release, which refresh
 * the first two keys alone, touched the session), the set is rebuilt from the log, once (`ensureIndex`).
 *
 * Records of the first format (marker 0x41, no id: sessions written by an earlier release) are upgraded
 * by the first script that hands them out. A read upgrades those of its window in place (`LSET`), each
 * with a fresh id (a ULID of the record's timestamp whose random part is the host's `seed` and a count,
 * checked against the set): the bytes `upgradeLegacyRecord` writes. So an id, once served, is stored and
 * never changes. A pop, a splice or a remove upgrades the records it removes in its reply only. Nothing
 * else needs a record's id, so records of the first format stay in the log until read.
 */

/** The scripts, by the command name ioredis defines for each. */
export interface ScriptSource {
  numberOfKeys: number;
  lua: string;
}

/** The plain and encoded fields counted in `b`. */
const COUNTED_FIELDS = `{'cap', 'srv', 'cwd', 'title', 'owner', 'meta'}`;

/**
 * The start of every script on an existing session: one `HMGET` reads what most of them need (`b`, `ni`),
 * and `EXISTS` is asked only when `b` is missing (no session, or one of an earlier release). `missing` is
 * what the script returns when there is no session. Then the session's state as locals, and the functions
 * that end a call on it (see `SESSION_END`).
 */
function sessionStart(missing: string): string {
  return `
local state = redis.call('HMGET', KEYS[1], 'b', 'ni')
if not state[1] and redis.call('EXISTS', KEYS[1]) == 0 then return ${missing} end
${SESSION_END}
`;
}

/**
 * `fieldBytes()`: the counted fields' bytes; `sessionBytes()`: `b`, or, when absent (a session of an
 * earlier release) or unreadable, the sum over the fields and the whole log: O(messages), once (the
 * caller stores it with `save`). `recordBytes(list)`: the bytes of records.
 *
 * `ni` is the count of ids in the set as the scripts keep it (`INDEX`); a change to it is written by the
 * script's `save`. `save(fields)` sets `a` (lastAccessed), the given field/value pairs and `ni` when it
 * changed, in one `HSET`.
 *
 * `refresh(force)`: the idle TTL of the three keys. Every refresh sets all three to the TTL plus a slack (a
 * 32nd of it, at most a minute), and one is skipped while the id set's remaining TTL is still between the
 * TTL and that: so an active session never expires before it was idle for the TTL, and an idle one expires
 * at most the slack later, for one `PTTL` instead of three `PEXPIRE`s on most calls. The set is the key
 * probed because only this release refreshes it: a key missing or without a TTL reads as out of range.
 * A script that creates a key (the first record pushed into an empty list) forces the refresh.
 */
const SESSION_END = `
local ttl = tonumber(ARGV[2])
local ni, niChanged = tonumber(state[2]) or 0, false
local function fieldBytes()
  local n = 0
  for _, f in ipairs(${COUNTED_FIELDS}) do n = n + redis.call('HSTRLEN', KEYS[1], f) end
  return n
end
local function recordBytes(list)
  local n = 0
  for _, r in ipairs(list) do n = n + #r end
  return n
end
local function sessionBytes()
  local b = tonumber(state[1])
  if b then return b end
  return fieldBytes() + recordBytes(redis.call('LRANGE', KEYS[2], 0, -1))
end
local function save(fields)
  fields[#fields + 1] = 'a'
  fields[#fields + 1] = ARGV[1]
  if niChanged then
    fields[#fields + 1] = 'ni'
    fields[#fields + 1] = ni
  end
  redis.call('HSET', KEYS[1], unpack(fields))
end
local function refresh(force)
  local slack = math.min(math.floor(ttl / 32), 60000)
  if not force then
    local left = redis.call('PTTL', KEYS[3])
    if left >= ttl and left <= ttl + slack then return end
  end
  redis.call('PEXPIRE', KEYS[1], ttl + slack)
  redis.call('PEXPIRE', KEYS[2], ttl + slack)
  redis.call('PEXPIRE', KEYS[3], ttl + slack)
end
`;

/**
 * The message ids: `recordId(r)` (nil for a record of the first format), `indexAdd(ids)`,
 * `indexRemove(ids)`, `ensureIndex()` (rebuilds the set when it disagrees with `ni`, and stores the new
 * count at once: a script may return early after it); `pushBack(list)` and `pushFront(list)` push many
 * records, in their order, in chunks (Lua's `unpack` takes some thousands); `pushBack` returns whether
 * it created the list (it was empty: `refresh` must be forced).
 */
const INDEX = `
local function recordId(r)
  local m = string.byte(r, 1)
  if (m ~= 0x43 and m ~= 0x44) or #r < 3 then return nil end
  local h = string.byte(r, 2)
  if h == 0xd9 then return string.sub(r, 4, 3 + string.byte(r, 3)) end
  return string.sub(r, 3, 2 + h - 0xa0)
end
local function indexAdd(ids)
  local added = 0
  for i = 1, #ids, 1000 do added = added + redis.call('SADD', KEYS[3], unpack(ids, i, math.min(i + 999, #ids))) end
  if added > 0 then
    ni = ni + added
    niChanged = true
  end
end
local function indexRemove(ids)
  local removed = 0
  for i = 1, #ids, 1000 do removed = removed + redis.call('SREM', KEYS[3], unpack(ids, i, math.min(i + 999, #ids))) end
  if removed > 0 then
    ni = ni - removed
    niChanged = true
  end
end
local function ensureIndex()
  if ni == redis.call('SCARD', KEYS[3]) then return end
  redis.call('DEL', KEYS[3])
  ni = 0
  local held = redis.call('LLEN', KEYS[2])
  for from = 0, held - 1, 1000 do
    local ids = {}
    for _, r in ipairs(redis.call('LRANGE', KEYS[2], from, from + 999)) do
      local id = recordId(r)
      if id then ids[#ids + 1] = id end
    end
    indexAdd(ids)
  end
  redis.call('HSET', KEYS[1], 'ni', ni)
  niChanged = false
end
local function pushBack(list)
  local created = false
  for i = 1, #list, 1000 do
    local last = math.min(i + 999, #list)
    if redis.call('RPUSH', KEYS[2], unpack(list, i, last)) == last then created = true end
  end
  return created
end
local function pushFront(list)
  local i = #list
  while i >= 1 do
    local chunk = {}
    for j = i, math.max(1, i - 999), -1 do chunk[#chunk + 1] = list[j] end
    redis.call('LPUSH', KEYS[2], unpack(chunk))
    i = i - #chunk
  end
end
`;

/**
 * Records of the first format (needs `INDEX`): `isLegacy(r)`; `upgraded(r, seed)`, the record with a
 * fresh id not in the set; `upgradeStored(first, records, seed)` upgrades those of `records` (read from
 * index `first`) in place and in the log, and returns how many bytes they grew by; `upgradeRemoved`
 * upgrades records no longer in the log, for the reply only.
 */
const LEGACY = `
local CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
local minted = 0
local function base32(n, digits)
  local s = ''
  for _ = 1, digits do
    local d = n % 32
    s = string.sub(CROCKFORD, d + 1, d + 1) .. s
    n = (n - d) / 32
  end
  return s
end
local function isLegacy(r)
  return string.byte(r, 1) == 0x41 and #r >= 16
end
local function anyLegacy(records)
  for _, r in ipairs(records) do if isLegacy(r) then return true end end
  return false
end
local function upgraded(r, seed)
  local ms = math.floor(struct.unpack('>d', r, #r - 7))
  if not (ms >= 0 and ms < 281474976710656) then ms = tonumber(ARGV[1]) end
  local time = base32(ms, 10)
  local id
  repeat
    minted = minted + 1
    id = time .. seed .. base32(minted % 1048576, 4)
  until redis.call('SISMEMBER', KEYS[3], id) == 0
  return string.char(0x43, 0xa0 + #id) .. id .. string.sub(r, 2), id
end
local function upgradeStored(first, records, seed)
  if not anyLegacy(records) then return 0 end
  ensureIndex()
  local growth = 0
  for i, r in ipairs(records) do
    if isLegacy(r) then
      local u, id = upgraded(r, seed)
      records[i] = u
      growth = growth + #u - #r
      redis.call('LSET', KEYS[2], first + i - 1, u)
      indexAdd({id})
    end
  end
  return growth
end
local function upgradeRemoved(records, seed)
  if not anyLegacy(records) then return end
  ensureIndex()
  for i, r in ipairs(records) do
    if isLegacy(r) then records[i] = upgraded(r, seed) end
  end
end
`;

/** The start of a script that may hand out or rewrite records of the first format: the session, its ids, their upgrade. */
function editStart(missing: string): string {
  return `${sessionStart(missing)}
${INDEX}
${LEGACY}`;
}

/**
 * ARGV[3] version, [4] capabilities, [5] servers, [6] maxSessionBytes, then field/value pairs of the plain
 * fields set (metadata as `meta`). Returns `[1, bytes]`, `[0, 0]` if the id exists, or `[2, bytes]` (past
 * maxSessionBytes).
 */
export const CREATE_SCRIPT: ScriptSource = {
  numberOfKeys: 3,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, 0} end
local b = #ARGV[4] + #ARGV[5]
for i = 8, #ARGV, 2 do b = b + #ARGV[i] end
if b > tonumber(ARGV[6]) then return {2, b} end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'c', ARGV[1], 'a', ARGV[1], 'u', ARGV[1], 'cap', ARGV[4], 'srv', ARGV[5], 'b', b)
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, b}
`,
};

/**
 * ARGV[3] lastMessages (-1: a window from [4] fromMessage of at most [5] maxMessages, -1: all), [6]
 * maxSessionBytes, [7] seed (`LEGACY`). Returns nil, `[hash as a flat list, messages, messages held]`, or
 * `[bytes]` when the session holds more than maxSessionBytes (only after the limit was lowered) and so
 * would this read: refused before anything is read when the read is the whole log, as the memory store
 * refuses it. Records of the first format in the window are upgraded (see the module comment).
 */
export const GET_SCRIPT: ScriptSource = {
  numberOfKeys: 3,
  lua: `
${editStart('false')}
local b = sessionBytes()
local last, from, most = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local max = tonumber(ARGV[6])
local held, first, count
local log = {}
if last < 0 and from == 0 and most < 0 and b <= max then
  -- The whole log, within the limit: one LRANGE, and its length is the length.
  log = redis.call('LRANGE', KEYS[2], 0, -1)
  held, first, count = #log, 0, #log
else
  held = redis.call('LLEN', KEYS[2])
  if last >= 0 then
    count = math.min(last, held)
    first = held - count
  else
    first = math.min(from, held)
    count = held - first
    if most >= 0 and most < count then count = most end
  end
  if count > 0 and (b <= max or count < held) then log = redis.call('LRANGE', KEYS[2], first, first + count - 1) end
end
local growth = upgradeStored(first, log, ARGV[7])
if growth ~= 0 or not tonumber(state[1]) then save({'b', b + growth}) else save({}) end
b = b + growth
refresh(false)
if b > max and count == held then return {b} end
if b > max and fieldBytes() + recordBytes(log) > max then return {b} end
return {redis.call('HGETALL', KEYS[1]), log, held}
`,
};

/**
 * The first command of a read on a single Redis, in one `MULTI` with the `LRANGE` of the window (so the
 * records go to the host straight from Redis, never through Lua, which costs more than the rest of a read
 * once they are a few kilobytes). Refreshes the session as `GET` does and returns nil, or `[hash as a flat
 * list, messages held, bytes held]`. The host checks the window for records of the first format, and reads
 * again with `GET` (which upgrades them in place) when it finds one.
 */
export const OPEN_SCRIPT: ScriptSource = {
  numberOfKeys: 3,
  lua: `
${sessionStart('false')}
local b = sessionBytes()
if tonumber(state[1]) then save({}) else save({'b', b}) end
refresh(false)
return {redis.call('HGETALL', KEYS[1]), redis.call('LLEN', KEYS[2]), b}
`,
};

/**
 * ARGV[3] the encoded Message record, [4] its content's UTF-8 bytes, [5] maxMessagesPerSession,
 * [6] maxMessageBytes, [7] maxSessionBytes. Returns `[0, new length]`, `[1, 0]` (no session), `[2, held]`
 * (too many messages), `[3, bytes]` (too large) or `[4, bytes the session would hold]`. The id is not
 * checked for uniqueness (it was minted), but it is added to the set.
 */
export const APPEND_SCRIPT: ScriptSource = {
  numberOfKeys: 3,
  lua: `
${sessionStart('{1, 0}')}
${INDEX}
if tonumber(ARGV[4]) > tonumber(ARGV[6]) then return {3, tonumber(ARGV[4])} end
local held = redis.call('LLEN', KEYS[2])
if held >= tonumber(ARGV[5]) then return {2, held} end
local b = sessionBytes() + #ARGV[3]
if b > tonumber(ARGV[7]) then return {4, b} end
local created = pushBack({ARGV[3]})
local id = recordId(ARGV[3])
if id then indexAdd({id}) end
save({'u', ARGV[1], 'b', b})
refresh(created)
return {0, held + 1}
`,
};

/**
 * ARGV[3] ifLength (-1: none), [4] maxMessagesPerSession, [5] maxMessageBytes, [6] maxSessionBytes, then a
 * triple per record: its bytes, where its timestamp's float64 marker is (0-based; -1 when the caller gave
 * the timestamp, so a retry must match it too), and the bytes it counts against maxMessageBytes.
 * In the order of the contract: a retry (the newest records are these) returns `[0, held]` and appends
 * nothing; then `[2, held]` (ifLength differs), `[3, i]` (record i's id is in the session or earlier in
 * the call), `[4, i, bytes]` (record i past maxMessageBytes), `[5, held]` (too many messages), `[6, bytes
 * the session would hold]`; else all are appended: `[0, new length]`. `[1]`: no session.
 */
export const APPEND_MANY_SCRIPT: ScriptSource = {
  numberOfKeys: 3,
  lua: `
${sessionStart('{1}')}
${INDEX}
local n = (#ARGV - 6) / 3
local held = redis.call('LLEN', KEYS[2])
if n > 0 then ensureIndex() end
-- A retry only when the first record's id is in the session: a new id (the common case) reads no record.
local firstKnown = n > 0 and redis.call('SISMEMBER', KEYS[3], recordId(ARGV[7]) or '') == 1
if firstKnown and held >= n then
  local newest = redis.call('LRANGE', KEYS[2], held - n, -1)
  local same = true
  for i = 1, n do
    local s, g, at = newest[i], ARGV[4 + 3 * i], tonumber(ARGV[5 + 3 * i])
    if #s ~= #g then same = false break end
    if at < 0 then
      if s ~= g then same = false break end
    elseif string.sub(s, 1, at + 1) ~= string.sub(g, 1, at + 1) or string.sub(s, at + 10) ~= string.sub(g, at + 10) then
      same = false
      break
    end
  end
  if same then
    save({})
    refresh(false)
    return {0, held}
  end
end
local ifLength = tonumber(ARGV[3])
if ifLength >= 0 and held ~= ifLength then return {2, held} end
if n == 0 then
  save({})
  refresh(false)
  return {0, held}
end
local seen, ids = {}, {}
for i = 1, n do
  local id = recordId(ARGV[4 + 3 * i])
  if id == nil or seen[id] or (i == 1 and firstKnown) or (i > 1 and redis.call('SISMEMBER', KEYS[3], id) == 1) then return {3, i} end
  seen[id] = true
  ids[i] = id
end
local maxBytes = tonumber(ARGV[5])
for i = 1, n do
  local bytes = tonumber(ARGV[6 + 3 * i])
  if bytes > maxBytes then return {4, i, bytes} end
end
if held + n > tonumber(ARGV[4]) then return {5, held} end
local records = {}
for i = 1, n do records[i] = ARGV[4 + 3 * i] end
local b = sessionBytes() + recordBytes(records)
if b > tonumber(ARGV[6]) then return {6, b} end
local created = pushBack(records)
indexAdd(ids)
save({'u', ARGV[1], 'b', b})
refresh(created)
return {0, held + n}
`,
};

/**
 * ARGV[3] ifLength (-1: none), [4] seed (`LEGACY`). Returns `[1]` (no session), `[2, held]` (ifLength
 * differs), `[0]` (no messages) or `[0, the record removed]`.
 */
export const POP_SCRIPT: ScriptSource = {
  numberOfKeys: 3,
  lua: `
${editStart('{1}')}
local held = redis.call('LLEN', KEYS[2])
local ifLength = tonumber(ARGV[3])
if ifLength >= 0 and held ~= ifLength then return {2, held} end
if held == 0 then
  save({})
  refresh(false)
  return {0}
end
local b = sessionBytes()
local r = redis.call('RPOP', KEYS[2])
b = b - #r
local id = recordId(r)
local popped = {r}
if id then indexRemove({id}) else upgradeRemoved(popped, ARGV[4]) end
save({'u', ARGV[1], 'b', b})
refresh(false)
return {0, popped[1]}
`,
};

/**
 * ARGV[3] ifLength (-1: none), [4] start (negative: from the end), [5] deleteCount (-1: all from start),
 * [6] maxMessagesPerSession, [7] maxMessageBytes, [8] maxSessionBytes, [9] seed (`LEGACY`), then a pair
 * per record to insert: its bytes and the bytes it counts against maxMessageBytes. `Array.prototype.splice`
 * on the log: the shorter side of the list around the edit is read and pushed again, so an edit near
 * either end costs about the edit. Returns `[1]` (no session), `[2, held]` (ifLength differs), `[3, i]`
 * (record i's id is in what remains or earlier in the call), `[4, i, bytes]` (past maxMessageBytes),
 * `[5, count]` (the result would hold too many messages), `[6, bytes]` (or too many bytes; both only
 * refused when the edit grows them), or `[0, the records removed]`.
 */
export const SPLICE_SCRIPT: ScriptSource = {
  numberOfKeys: 3,
  lua: `
${editStart('{1}')}
local held = redis.call('LLEN', KEYS[2])
local ifLength = tonumber(ARGV[3])
if ifLength >= 0 and held ~= ifLength then return {2, held} end
local start, dc = tonumber(ARGV[4]), tonumber(ARGV[5])
if start < 0 then start = math.max(held + start, 0) else start = math.min(start, held) end
if dc < 0 then dc = held - start else dc = math.min(dc, held - start) end
local k = (#ARGV - 9) / 2
local removed = {}
if dc > 0 then removed = redis.call('LRANGE', KEYS[2], start, start + dc - 1) end
ensureIndex()
local leaving, leavingIds = {}, {}
for _, r in ipairs(removed) do
  local id = recordId(r)
  if id then
    leaving[id] = true
    leavingIds[#leavingIds + 1] = id
  end
end
local seen, ids, records = {}, {}, {}
for i = 1, k do
  local r = ARGV[8 + 2 * i]
  local id = recordId(r)
  if id == nil or seen[id] or (not leaving[id] and redis.call('SISMEMBER', KEYS[3], id) == 1) then return {3, i} end
  seen[id] = true
  ids[i] = id
  records[i] = r
end
local maxBytes = tonumber(ARGV[7])
for i = 1, k do
  local bytes = tonumber(ARGV[9 + 2 * i])
  if bytes > maxBytes then return {4, i, bytes} end
end
local count = held - dc + k
if count > tonumber(ARGV[6]) and count > held then return {5, count} end
local b = sessionBytes()
local after = b - recordBytes(removed) + recordBytes(records)
if after > tonumber(ARGV[8]) and after > b then return {6, after} end
if dc > 0 or k > 0 then
  local tail = held - start - dc
  if start <= tail then
    local kept = {}
    if start > 0 then kept = redis.call('LRANGE', KEYS[2], 0, start - 1) end
    if start + dc > 0 then redis.call('LTRIM', KEYS[2], start + dc, -1) end
    for _, r in ipairs(records) do kept[#kept + 1] = r end
    pushFront(kept)
  else
    if tail > 0 then
      for _, r in ipairs(redis.call('LRANGE', KEYS[2], start + dc, -1)) do records[#records + 1] = r end
    end
    redis.call('LTRIM', KEYS[2], 0, start - 1)
    pushBack(records)
  end
end
indexRemove(leavingIds)
indexAdd(ids)
upgradeRemoved(removed, ARGV[9])
save({'u', ARGV[1], 'b', after})
-- The list may have been emptied and pushed again (a new key): always refreshed.
refresh(true)
return {0, removed}
`,
};

/**
 * The first step of a fork, on the source's keys: ARGV[3] how many of the oldest messages (-1: all),
 * [4] seed (`LEGACY`). Returns nil, or `[hash as a flat list, messages]`; records of the first format
 * among them are upgraded in the source first, so the copy carries the ids the source serves.
 */
export const FORK_READ_SCRIPT: ScriptSource = {
  numberOfKeys: 3,
  lua: `
${editStart('false')}
local b = sessionBytes()
local n = tonumber(ARGV[3])
local log = {}
if n ~= 0 then log = redis.call('LRANGE', KEYS[2], 0, n < 0 and -1 or n - 1) end
b = b + upgradeStored(0, log, ARGV[4])
save({'b', b})
refresh(false)
return {redis.call('HGETALL', KEYS[1]), log}
`,
};

/**
 * The second step of a fork, on the new session's keys, in one script (all or nothing): ARGV[3] version,
 * [4] maxSessionBytes, [5] how many fields, then field/value pairs (counted fields only), then the
 * records. Returns `[0]`, `[1]` (the id exists), or `[2, bytes]` (past maxSessionBytes).
 */
export const FORK_WRITE_SCRIPT: ScriptSource = {
  numberOfKeys: 3,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then return {1} end
local state = {false, false}
${SESSION_END}
${INDEX}
local f = tonumber(ARGV[5])
local b = 0
for i = 1, f do b = b + #ARGV[5 + 2 * i] end
local records, ids = {}, {}
for i = 6 + 2 * f, #ARGV do
  local r = ARGV[i]
  records[#records + 1] = r
  b = b + #r
  local id = recordId(r)
  if id then ids[#ids + 1] = id end
end
if b > tonumber(ARGV[4]) then return {2, b} end
redis.call('DEL', KEYS[2], KEYS[3])
pushBack(records)
indexAdd(ids)
local fields = {'v', ARGV[3], 'c', ARGV[1], 'u', ARGV[1], 'b', b}
for i = 1, f do
  fields[#fields + 1] = ARGV[4 + 2 * i]
  fields[#fields + 1] = ARGV[5 + 2 * i]
end
save(fields)
refresh(true)
return {0}
`,
};

/**
 * ARGV[3] maxSessionBytes, then triples of field, '1' (set to the value) or '0' (delete: null), value.
 * Returns `[1, bytes]`, `[0, 0]` when there is no session, or `[2, bytes it would hold]` (nothing changed).
 */
export const UPDATE_SCRIPT: ScriptSource = {
  numberOfKeys: 3,
  lua: `
${sessionStart('{0, 0}')}
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
save({'u', ARGV[1], 'b', b})
refresh(false)
return {1, b}
`,
};

/** Returns whether the session exists (and refreshes it). */
export const TOUCH_SCRIPT: ScriptSource = {
  numberOfKeys: 3,
  lua: `
${sessionStart('0')}
save({})
refresh(false)
return 1
`,
};

/**
 * ARGV[1] the host's clock, [2] seed (`LEGACY`). Returns nil, or the session as it was (like GET's reply, records of the first
 * format upgraded in the reply), and deletes it.
 */
export const REMOVE_SCRIPT: ScriptSource = {
  numberOfKeys: 3,
  lua: `
${editStart('false')}
local log = redis.call('LRANGE', KEYS[2], 0, -1)
upgradeRemoved(log, ARGV[2])
local session = {redis.call('HGETALL', KEYS[1]), log, #log}
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return session
`,
};

/** Every script, by the name of the command ioredis defines for it. */
export const SCRIPTS = Object.freeze({
  ssCreate: CREATE_SCRIPT,
  ssGet: GET_SCRIPT,
  ssOpen: OPEN_SCRIPT,
  ssAppend: APPEND_SCRIPT,
  ssAppendMany: APPEND_MANY_SCRIPT,
  ssPop: POP_SCRIPT,
  ssSplice: SPLICE_SCRIPT,
  ssForkRead: FORK_READ_SCRIPT,
  ssForkWrite: FORK_WRITE_SCRIPT,
  ssUpdate: UPDATE_SCRIPT,
  ssTouch: TOUCH_SCRIPT,
  ssRemove: REMOVE_SCRIPT,
});
