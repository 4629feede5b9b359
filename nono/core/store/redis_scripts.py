"""The Lua scripts of the Redis store, each one command and one reply.

redis-py spends more CPU packing, sending and parsing each command of a MULTI/EXEC pipeline than
Redis spends running it: a turn's two transactions (~16 commands) cost ~0.9 ms of client CPU, the
same work as two scripts ~0.5 ms (bench P2, P4), and a page of 50 active sessions went from ~100
pipelined commands to one call (bench P7). A script runs atomically, like MULTI/EXEC.

They are plain EVAL scripts (no `#!lua` flags line, which Redis 6 and fakeredis refuse), so Redis
checks memory per write command as it always did: the read-only ones still run when Redis is full.
"""

from __future__ import annotations

#: KEYS: session, metadata, history, person. ARGV: how many of the newest messages (0: none), the id.
#: Returns {session hash, metadata hash, history length, messages}; hashes as flat field/value lists.
#: When the id is a person linked to another conversation, returns {that conversation's id} alone:
#: its keys hash to another slot, so the caller asks again with it.
LOAD_CONTEXT = """
local linked = redis.call('HGET', KEYS[4], 'conversation')
if linked and linked ~= ARGV[2] then return {linked} end
local length = redis.call('LLEN', KEYS[3])
local limit = tonumber(ARGV[1])
local items = {}
if limit > 0 then items = redis.call('LRANGE', KEYS[3], -limit, -1) end
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), length, items}
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

#: The session upsert every write ends with, after appending any messages.
#: KEYS: session, history, metadata, index. ARGV: conversation id, persona, now, persona wins ('1'/'0'),
#: TTL in ms ('' for none), exclusive index score below which entries expired, the number of
#: metadata fields N, N field/value pairs, then the messages to append (JSON).
#: Returns {session hash, metadata hash} as written.
ACTIVITY = """
local session, history, metadata, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local user, persona, now = ARGV[1], ARGV[2], ARGV[3]
local fields = tonumber(ARGV[7])
local first = 8 + 2 * fields
local added = #ARGV - first + 1
if added > 0 then redis.call('RPUSH', history, unpack(ARGV, first)) end
redis.call('HSETNX', session, 'created_at', now)
if ARGV[4] == '1' then
  redis.call('HSET', session, 'persona', persona)
else
  redis.call('HSETNX', session, 'persona', persona)
end
redis.call('HSET', session, 'conversation_id', user, 'last_activity', now)
redis.call('HINCRBY', session, 'message_count', added)
if fields > 0 then redis.call('HSET', metadata, unpack(ARGV, 8, first - 1)) end
redis.call('ZADD', index, now, user)
if ARGV[5] ~= '' then
  for _, key in ipairs({session, history, metadata}) do redis.call('PEXPIRE', key, ARGV[5]) end
  -- Entries idle longer than the TTL belong to expired sessions: prune them cheaply here.
  redis.call('ZREMRANGEBYSCORE', index, '-inf', ARGV[6])
end
return {redis.call('HGETALL', session), redis.call('HGETALL', metadata)}
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
