"""The Lua scripts of the Redis store, each one command and one reply.

redis-py spends more CPU packing, sending and parsing each command of a MULTI/EXEC pipeline than
Redis spends running it: a turn's two transactions (~16 commands) cost ~0.9 ms of client CPU, the
same work as two scripts ~0.5 ms (bench P2, P4), and a page of 50 active sessions went from ~100
pipelined commands to one call (bench P7). A script runs atomically, like MULTI/EXEC.

They are plain EVAL scripts (no `#!lua` flags line, which Redis 6 and fakeredis refuse), so Redis
checks memory per write command as it always did: the read-only ones still run when Redis is full.
"""

from __future__ import annotations

#: KEYS: session, history, metadata, summary, facts, person, in-flight replies, owners' leases. ARGV: how
#: many of the newest messages (0: none), the id, then to record a reply in flight (else '' alone): its
#: turn id, record (JSON), owner, lease end and progress (JSON); the lease only ever grows. Returns
#: {session hash, metadata hash, history length, messages, summary (nil when none), facts}; hashes as
#: flat field/value lists. The summary and facts are read only with a live session.
#: When the id is a person linked to another conversation, returns {that conversation's id} alone:
#: its keys hash to another slot, so the caller asks again with it.
LOAD_CONTEXT = """
local linked = redis.call('HGET', KEYS[6], 'conversation')
if linked and linked ~= ARGV[2] then return {linked} end
if ARGV[3] ~= '' then
  local turn = ARGV[3]
  redis.call('HSET', KEYS[7], turn, ARGV[4], turn .. ':owner', ARGV[5], turn .. ':progress', ARGV[7])
  if tonumber(ARGV[6]) > tonumber(redis.call('HGET', KEYS[8], ARGV[5]) or '0') then
    redis.call('HSET', KEYS[8], ARGV[5], ARGV[6])
  end
end
local session = redis.call('HGETALL', KEYS[1])
local summary, facts = false, {}
if #session > 0 then
  summary = redis.call('GET', KEYS[4])
  facts = redis.call('LRANGE', KEYS[5], 0, -1)
end
local length = redis.call('LLEN', KEYS[2])
local limit = tonumber(ARGV[1])
local items = {}
if limit > 0 then items = redis.call('LRANGE', KEYS[2], -limit, -1) end
return {session, redis.call('HGETALL', KEYS[3]), length, items, summary, facts}
"""

#: A page of history. KEYS: history. ARGV: how many, and `before` (a seq; '' for the newest).
#: Returns {seq of the first message returned, messages}.
HISTORY = """
local length = redis.call('LLEN', KEYS[1])
local stop = length
if ARGV[2] ~= '' then stop = math.min(tonumber(ARGV[2]), length) end
local start = math.max(0, stop - tonumber(ARGV[1]))
if stop <= start then return {start, {}} end
return {start, redis.call('LRANGE', KEYS[1], start, stop - 1)}
"""

#: The session upsert every write ends with, shared by the scripts below (a local function each).
#: KEYS: session, history, metadata, summary, facts, index. ARGV[1..6]: conversation id, persona, now,
#: persona wins ('1'/'0'), TTL in ms ('' for none), exclusive index score below which entries expired.
#: Every key of the conversation gets the TTL, so its summary and facts expire with its history.
_MARK_ACTIVE = """
local function mark_active(added)
  local session, index, now = KEYS[1], KEYS[6], ARGV[3]
  redis.call('HSETNX', session, 'created_at', now)
  if ARGV[4] == '1' then
    redis.call('HSET', session, 'persona', ARGV[2])
  else
    redis.call('HSETNX', session, 'persona', ARGV[2])
  end
  redis.call('HSET', session, 'conversation_id', ARGV[1], 'last_activity', now)
  redis.call('HINCRBY', session, 'message_count', added)
  redis.call('ZADD', index, now, ARGV[1])
  if ARGV[5] ~= '' then
    for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
    -- Entries idle longer than the TTL belong to expired sessions: prune them cheaply here.
    redis.call('ZREMRANGEBYSCORE', index, '-inf', ARGV[6])
  end
end
"""

#: Append messages, merge metadata, mark the session active, settle a reply in flight. KEYS and ARGV[1..6]
#: as `_MARK_ACTIVE`'s, then KEYS[7] the in-flight replies; ARGV: the turn id of the reply in flight the
#: messages settle ('' for none) and its owner, the number of metadata fields N, N field/value pairs, then
#: the messages to append (JSON). Returns {session hash, metadata hash} as written, or nil (nothing written)
#: when the reply's record is gone or has another owner.
ACTIVITY = (
    _MARK_ACTIVE
    + """
if ARGV[7] ~= '' then
  if redis.call('HGET', KEYS[7], ARGV[7] .. ':owner') ~= ARGV[8] then return false end
  redis.call('HDEL', KEYS[7], ARGV[7], ARGV[7] .. ':owner', ARGV[7] .. ':progress')
end
local fields = tonumber(ARGV[9])
local first = 10 + 2 * fields
local added = #ARGV - first + 1
if added > 0 then redis.call('RPUSH', KEYS[2], unpack(ARGV, first)) end
if fields > 0 then redis.call('HSET', KEYS[3], unpack(ARGV, 10, first - 1)) end
mark_active(added)
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[3])}
"""
)

#: Remember a fact unless the conversation is full. KEYS and ARGV[1..6] as `_MARK_ACTIVE`'s, then the
#: most facts a conversation holds and the fact (JSON). Returns 1 when added, 0 when full (nothing changed).
ADD_FACT = (
    _MARK_ACTIVE
    + """
if redis.call('LLEN', KEYS[5]) >= tonumber(ARGV[7]) then return 0 end
redis.call('RPUSH', KEYS[5], ARGV[8])
mark_active(0)
return 1
"""
)

#: Compare-and-set a summary. KEYS: session, history, metadata, summary, facts. ARGV: the revision the
#: writer read (0: none), the session's created_at it read, the record (JSON, its revision one on), the TTL
#: in ms ('' for none). Returns 1 when written, 0 when the session or the summary changed meanwhile.
#: The revision is found by pattern: a record's strings are JSON-escaped, so `"revision":` can only be its key.
PUT_SUMMARY = """
local created = redis.call('HGET', KEYS[1], 'created_at')
if not created or tonumber(created) ~= tonumber(ARGV[2]) then return 0 end
local stored = redis.call('GET', KEYS[4])
local revision = 0
if stored then revision = tonumber(string.match(stored, '"revision":(%d+)')) or 0 end
if revision ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[4], ARGV[3])
if ARGV[4] ~= '' then
  for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
end
return 1
"""

#: A page of active sessions and the total. Keys are built from the ids found in the index, so
#: this needs the conversations' keys and the index on one server: true of a single Redis (with replicas).
#: KEYS: the index. ARGV: lowest score, offset, limit, then what surrounds a conversation id in its
#: session key and in its metadata key.
#: Returns {total, {{conversation id, {persona, created_at, last_activity, message_count}, metadata hash}, ...}}.
ACTIVE_PAGE = """
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', ARGV[1], 'LIMIT', ARGV[2], ARGV[3])
local page = {}
for i, id in ipairs(ids) do
  local session = redis.call(
    'HMGET', ARGV[4] .. id .. ARGV[5], 'persona', 'created_at', 'last_activity', 'message_count')
  page[i] = {id, session, redis.call('HGETALL', ARGV[6] .. id .. ARGV[7])}
end
return {redis.call('ZCOUNT', KEYS[1], ARGV[1], '+inf'), page}
"""

#: Take a token once. KEYS: the token. Returns its value, or nil (never set, taken, or expired).
TAKE = """
local value = redis.call('GET', KEYS[1])
if value then redis.call('DEL', KEYS[1]) end
return value
"""
