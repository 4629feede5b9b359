"""The Lua scripts of the Redis store, each one command and one reply.

redis-py spends more CPU packing, sending and parsing each command of a MULTI/EXEC pipeline than
Redis spends running it: a turn's two transactions (~16 commands) cost ~0.9 ms of client CPU, the
same work as two scripts ~0.5 ms (bench P2, P4), and a page of 50 active sessions went from ~100
pipelined commands to one call (bench P7). A script runs atomically, like MULTI/EXEC.

They are plain EVAL scripts (no `#!lua` flags line, which Redis 6 and fakeredis refuse), so Redis
checks memory per write command as it always did: the read-only ones still run when Redis is full.

Each script touches the keys of one conversation only, all named in KEYS and sharing its hash tag,
so on a Redis Cluster it runs on the one shard that holds them. What spans conversations (the
`conversations:active` index, the sweep index and leases of replies in flight) is written by plain
commands sent in the same pipeline as the script (`redis_batch`): still one round trip on one Redis.
"""

from __future__ import annotations

#: KEYS (one hash tag, the conversation's): [1] session, [2] history, [3] metadata, [4] summary, [5] facts,
#: [6] person (the link record of the id), [7] the conversation's replies in flight.
#: ARGV: [1] how many of the newest messages (0: none), [2] the conversation id, then to record a reply
#: in flight (else '' alone): [3] its turn id, [4] record (JSON), [5] owner, [6] progress (JSON). The
#: owner's lease and the sweep index are written beside it (`redis_inflight.RedisInFlight.begin`).
#: Returns {session hash, metadata hash, history length, messages, summary (nil when none), facts};
#: hashes as flat field/value lists. The summary and facts are read only with a live session.
#: When the id is a person linked to another conversation, returns {that conversation's id} alone
#: (nothing recorded): its keys hash to another slot, so the caller asks again with it.
LOAD_CONTEXT = """
local linked = redis.call('HGET', KEYS[6], 'conversation')
if linked and linked ~= ARGV[2] then return {linked} end
if ARGV[3] ~= '' then
  local turn = ARGV[3]
  redis.call('HSET', KEYS[7], turn, ARGV[4], turn .. ':owner', ARGV[5], turn .. ':progress', ARGV[6])
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
#: KEYS[1..5]: session, history, metadata, summary, facts. ARGV[1..5]: conversation id, persona, now,
#: persona wins ('1'/'0'), TTL in ms ('' for none). Every key of the conversation gets the TTL, so its
#: summary and facts expire with its history. The `conversations:active` index spans every conversation
#: (every shard): the caller writes it beside the script (`redis_active.queue_mark`).
_MARK_ACTIVE = """
local function mark_active(added)
  local session, now = KEYS[1], ARGV[3]
  redis.call('HSETNX', session, 'created_at', now)
  if ARGV[4] == '1' then
    redis.call('HSET', session, 'persona', ARGV[2])
  else
    redis.call('HSETNX', session, 'persona', ARGV[2])
  end
  redis.call('HSET', session, 'conversation_id', ARGV[1], 'last_activity', now)
  redis.call('HINCRBY', session, 'message_count', added)
  if ARGV[5] ~= '' then
    for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
  end
end
"""

#: Append messages, merge metadata, mark the session active, settle a reply in flight.
#: KEYS (one hash tag, the conversation's): [1..5] as `_MARK_ACTIVE`'s, [6] the conversation's replies in flight.
#: ARGV: [1..5] as `_MARK_ACTIVE`'s, [6] the turn id of the reply in flight the messages settle ('' for
#: none), [7] its owner, [8] the number of metadata fields N, [9 .. 8+2N] N field/value pairs, then the
#: messages to append (JSON). Returns {session hash, metadata hash} as written, or nil (nothing written)
#: when the reply's record is gone or has another owner.
ACTIVITY = (
    _MARK_ACTIVE
    + """
if ARGV[6] ~= '' then
  if redis.call('HGET', KEYS[6], ARGV[6] .. ':owner') ~= ARGV[7] then return false end
  redis.call('HDEL', KEYS[6], ARGV[6], ARGV[6] .. ':owner', ARGV[6] .. ':progress')
end
local fields = tonumber(ARGV[8])
local first = 9 + 2 * fields
local added = #ARGV - first + 1
if added > 0 then redis.call('RPUSH', KEYS[2], unpack(ARGV, first)) end
if fields > 0 then redis.call('HSET', KEYS[3], unpack(ARGV, 9, first - 1)) end
mark_active(added)
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[3])}
"""
)

#: Remember a fact unless the conversation is full. KEYS and ARGV[1..5] as `_MARK_ACTIVE`'s, then ARGV[6]
#: the most facts a conversation holds and ARGV[7] the fact (JSON). Returns 1 when added, 0 when full
#: (nothing changed).
ADD_FACT = (
    _MARK_ACTIVE
    + """
if redis.call('LLEN', KEYS[5]) >= tonumber(ARGV[6]) then return 0 end
redis.call('RPUSH', KEYS[5], ARGV[7])
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
#: this needs the conversations' keys and the index on one server: true of a single Redis (with replicas),
#: never of a cluster, where `redis_active` reads the index, then the sessions, with two pipelines.
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

#: Forget a conversation at once. KEYS: session, history, metadata, summary, facts. Returns how many existed.
CLEAR = """
return redis.call('DEL', unpack(KEYS))
"""
