"""The Lua of the shared lines on Redis (see `redis_lines` for the key layout, `lines` for the idea).

The functions are prepended to the turn's own scripts (`compose_take`, `compose_fenced`), so taking
the head and reading the context, or storing the turn and freeing the head, are each one round trip.
"""

from __future__ import annotations

#: How long an idle line's token counter is kept after the line empties (ms): tokens only grow while
#: it lives, and tickets are unique, so a counter that expires cannot let a stale holder through.
_COUNTER_TTL_MS = 86_400_000

#: Lua functions over one line (`line`, `seats` keys) and one person's limits (`rate`, `pending` keys).
LINE_FUNCTIONS = """
local function line_advance(line, seats, now)
  while true do
    local head = redis.call('LINDEX', line, 0)
    if not head then return false end
    local lease_end = tonumber(redis.call('HGET', seats, head) or '0')
    if lease_end >= now then return head end
    -- The head's process died or froze past its lease: drop the seat, and the head with it.
    redis.call('LPOP', line)
    redis.call('HDEL', seats, head)
    if redis.call('HGET', seats, '@holder') == head then redis.call('HDEL', seats, '@holder', '@token') end
  end
end
local function line_admit(rate, pending, ticket, now, per_minute, max_pending, lease_end)
  if max_pending >= 0 then
    redis.call('ZREMRANGEBYSCORE', pending, '-inf', '(' .. now)
    if redis.call('ZCARD', pending) > max_pending then return {'refused', 'busy'} end
  end
  if per_minute > 0 then
    redis.call('ZREMRANGEBYSCORE', rate, '-inf', now - 60000)
    if redis.call('ZCARD', rate) >= per_minute then
      local oldest = redis.call('ZRANGE', rate, 0, 0, 'WITHSCORES')
      return {'refused', 'rate', tostring(tonumber(oldest[2]) + 60000 - now)}
    end
    redis.call('ZADD', rate, now, ticket)
    redis.call('PEXPIRE', rate, 60000)
  end
  redis.call('ZADD', pending, lease_end, ticket)
  redis.call('PEXPIREAT', pending, lease_end)
  return false
end
local function line_take(line, seats, ticket, now, lease_end, enter)
  if enter then
    redis.call('RPUSH', line, ticket)
    redis.call('HSET', seats, ticket, lease_end)
    redis.call('PERSIST', seats)
  elseif not redis.call('HGET', seats, ticket) then
    return -1
  else
    redis.call('HSET', seats, ticket, lease_end)  -- a seat asking again is alive: renewed
  end
  if line_advance(line, seats, now) ~= ticket then return 0 end
  if redis.call('HGET', seats, '@holder') ~= ticket then
    redis.call('HSET', seats, '@holder', ticket, '@token', redis.call('HINCRBY', seats, '@n', 1))
  end
  return tonumber(redis.call('HGET', seats, '@token'))
end
local function line_holds(seats, ticket, token)
  local holder = redis.call('HGET', seats, '@holder')
  if holder then return holder == ticket and redis.call('HGET', seats, '@token') == token end
  -- Nobody holds the head (this seat's lease ran out, or Redis lost the line): the write may go on unless
  -- a later turn was given the head since, which a higher counter says.
  return tonumber(redis.call('HGET', seats, '@n') or '0') <= tonumber(token)
end
local function line_free(line, seats, pending, ticket)
  redis.call('LREM', line, 1, ticket)
  redis.call('HDEL', seats, ticket)
  if redis.call('HGET', seats, '@holder') == ticket then redis.call('HDEL', seats, '@holder', '@token') end
  if pending then redis.call('ZREM', pending, ticket) end
  if redis.call('LLEN', line) == 0 then redis.call('PEXPIRE', seats, COUNTER_TTL_MS) end
end
""".replace("COUNTER_TTL_MS", str(_COUNTER_TTL_MS))

#: Taking the head, run before a turn's read (`compose_take`). It pops its own keys and arguments off the
#: end of KEYS and ARGV, so the read's script below it sees its own unchanged. Tail KEYS: the person link
#: key of the conversation, line, seats, rate, pending (rate and pending are the line's when `admit` is
#: off). Tail ARGV: conversation id, ticket, now (ms), lease end (ms), enter, admit, per minute, max
#: pending (-1: none). Replies {' wait'}, {' lost'} or {' refused', why, retry ms} instead of reading
#: (ids hold no spaces), or the read's own reply with the fencing token appended.
_TAKE = """
local pending_key, rate_key = table.remove(KEYS), table.remove(KEYS)
local seats_key, line_key, link_key = table.remove(KEYS), table.remove(KEYS), table.remove(KEYS)
local max_pending, per_minute = tonumber(table.remove(ARGV)), tonumber(table.remove(ARGV))
local admit, enter = table.remove(ARGV) == '1', table.remove(ARGV) == '1'
local lease_end, now = tonumber(table.remove(ARGV)), tonumber(table.remove(ARGV))
local ticket, conversation = table.remove(ARGV), table.remove(ARGV)
local linked = redis.call('HGET', link_key, 'conversation')
if linked and linked ~= conversation then return {linked} end
if enter and admit then
  local refused = line_admit(rate_key, pending_key, ticket, now, per_minute, max_pending, lease_end)
  if refused then return {' refused', refused[2], refused[3]} end
end
local token = line_take(line_key, seats_key, ticket, now, lease_end, enter)
if token == 0 then return {' wait'} end
if token < 0 then return {' lost'} end
local function read()
-- READ --
end
local reply = read()
reply[#reply + 1] = token
return reply
"""

#: Freeing the head, run around a turn's write (`compose_fenced`). Tail KEYS: line, seats, pending (the
#: line's when the person's keys are elsewhere). Tail ARGV: ticket, token, '1' when pending is the person's.
#: Replies -1 (nothing written) when another seat holds the head, or a later one was given it since; else the write's
#: own reply, the head freed (whatever the write decided: a turn that was taken over gives its place up too).
_FENCED = """
local pending_key, seats_key, line_key = table.remove(KEYS), table.remove(KEYS), table.remove(KEYS)
local own_pending, token, ticket = table.remove(ARGV) == '1', table.remove(ARGV), table.remove(ARGV)
if not line_holds(seats_key, ticket, token) then return -1 end
local function write()
-- WRITE --
end
local reply = write()
local pending = false
if own_pending then pending = pending_key end
line_free(line_key, seats_key, pending, ticket)
return reply
"""


def compose_take(read: str) -> str:
    """`read` (a turn's read script) run only once its seat holds the head."""
    return LINE_FUNCTIONS + _TAKE.replace("-- READ --", read)


def compose_fenced(write: str) -> str:
    """`write` (a turn's write script) run only by the head's holder, freeing the head."""
    return LINE_FUNCTIONS + _FENCED.replace("-- WRITE --", write)


#: Give a seat up. KEYS: line, seats, pending (or the line twice, when the person's keys are elsewhere).
#: ARGV: ticket, '1' when KEYS[3] is the pending set.
LEAVE = (
    LINE_FUNCTIONS
    + """
local pending = false
if ARGV[2] == '1' then pending = KEYS[3] end
line_free(KEYS[1], KEYS[2], pending, ARGV[1])
return 1
"""
)

#: Renew seats of one conversation. KEYS: seats. ARGV: lease end, then tickets. Only seats still there.
RENEW = """
for i = 2, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then redis.call('HSET', KEYS[1], ARGV[i], ARGV[1]) end
end
return 1
"""

#: Renew a person's pending seats. KEYS: pending. ARGV: lease end, then tickets (only those still there).
RENEW_PENDING = """
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[i]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
"""

#: Admit a seat against its person's limits alone (when they live on another shard than the line).
#: KEYS: rate, pending. ARGV: ticket, now (ms), per minute, max pending (-1: none), lease end (ms).
ADMIT = (
    LINE_FUNCTIONS
    + """
return line_admit(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5])) or {'admitted'}
"""
)
