"""The Redis store's platform events already seen (see `nono.core.replays`): one key per event id, with a TTL.

`SET key 1 NX PX ttl` records and tests in one command, atomically across every process on the
Redis; the TTL removes the key when the window ends, so nothing sweeps. The key holds its event id
in a hash tag (`event:{telegram:update:…}`), like every other key of the store.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from nono.core.store.common import OutageGuard
from nono.core.store.redis_keys import RedisKeys


class RedisEvents:
    """First sightings of platform events on the store's client and guard."""

    def __init__(self, client: aioredis.Redis, keys: RedisKeys, guard: OutageGuard) -> None:
        self._redis = client
        self._keys = keys
        self._guard = guard

    async def first_sighting(self, event: str, ttl: float) -> bool:
        """True if `event` was not seen within the last `ttl` seconds (and is now recorded), False for a replay."""
        with self._guard("first_sighting"):
            recorded = await self._redis.set(self._keys.event(event), b"1", nx=True, px=max(1, round(ttl * 1000)))
        return bool(recorded)
