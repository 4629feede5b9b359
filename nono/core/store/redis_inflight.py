"""The Redis store's replies in flight: one hash of records (`inflight`) and one of owners' leases.

A reply's record is written by the turn's `load_context` script and removed by its `append_turn`
script (see `redis_scripts`), so recording costs a turn no round trip of its own; the verbs here
are the rest: lease renewals, the sweep after a crash and its claims.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import redis.asyncio as aioredis

from nono.core.store import redis_codec as codec
from nono.core.store.common import OutageGuard
from nono.core.store.inflight import InFlight, Lease, Orphan, Progress
from nono.core.store.redis_keys import RedisKeys

#: Extend a lease (never shorten it) and record progress. KEYS: in-flight, owners. ARGV: owner, lease end,
#: then turn id / progress (JSON) pairs; a turn no longer in flight is skipped.
KEEP_ALIVE = """
if tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
for i = 3, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    redis.call('HSET', KEYS[1], ARGV[i] .. ':progress', ARGV[i + 1])
  end
end
"""

#: Take a record over if its owner is still the one expected. KEYS: in-flight, owners. ARGV: turn id,
#: expected owner, new owner, its lease end. Returns 1 when taken.
CLAIM = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], ARGV[1] .. ':owner') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1] .. ':owner', ARGV[3])
if tonumber(ARGV[4]) > tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0') then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
end
return 1
"""


def begin_args(record: InFlight | None, lease_until: float) -> list[str]:
    """The in-flight arguments of the load_context script: '' alone when nothing is recorded."""
    if record is None:
        return [""]
    return [
        record.turn_id, json.dumps(record.to_data()), record.owner, repr(float(lease_until)),
        json.dumps(record.progress.to_data()),
    ]  # fmt: skip


class RedisInFlight:
    """The in-flight verbs on the store's client and guard."""

    def __init__(self, client: aioredis.Redis, keys: RedisKeys, guard: OutageGuard) -> None:
        self._redis = client
        self._keys = (keys.inflight, keys.owners)
        self._guard = guard
        self._keep_alive = client.register_script(KEEP_ALIVE)
        self._claim = client.register_script(CLAIM)

    async def keep_alive(self, lease: Lease, progress: Mapping[str, Progress]) -> None:
        pairs = [item for turn, shown in progress.items() for item in (turn, json.dumps(shown.to_data()))]
        with self._guard("keep_alive"):
            await self._keep_alive(keys=self._keys, args=[lease.owner, repr(float(lease.until)), *pairs])

    async def records(self) -> list[Orphan]:
        with self._guard("inflight_records"):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hgetall(self._keys[0])
                pipe.hgetall(self._keys[1])
                fields, leases = await pipe.execute()
        values = {codec.text(k): codec.text(v) for k, v in fields.items()}
        until = {codec.text(k): float(v) for k, v in leases.items()}
        found = []
        for turn, record in values.items():
            if turn.endswith((":owner", ":progress")):
                continue
            owner = values.get(f"{turn}:owner", "")
            progress = Progress.from_data(json.loads(values.get(f"{turn}:progress", "{}")))
            found.append(Orphan(InFlight.from_data(json.loads(record), owner, progress), until.get(owner, 0.0)))
        return sorted(found, key=lambda orphan: orphan.record.started_at)

    async def claim(self, turn_id: str, expected_owner: str, lease: Lease) -> bool:
        args = [turn_id, expected_owner, lease.owner, repr(float(lease.until))]
        with self._guard("claim_inflight"):
            return bool(await self._claim(keys=self._keys, args=args))

    async def settle(self, turn_id: str) -> None:
        with self._guard("settle_inflight"):
            await self._redis.hdel(self._keys[0], turn_id, f"{turn_id}:owner", f"{turn_id}:progress")
