"""The Redis store's leader leases: one key per lead (`lead:<name>`), holding its owner, expiring with the lease.

A lead is a lease on one key (`redis_lock`): taking and renewing are one script, so a follower's
attempt and a leader's renewal both cost a single round trip and nothing slips in between the owner
check and the write; the key alone is touched, so it is Redis Cluster safe.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from nono.core.store.common import OutageGuard
from nono.core.store.redis_keys import RedisKeys
from nono.core.store.redis_lock import RedisLocks


class RedisLeads:
    """Leader leases on the store's client and guard."""

    def __init__(self, client: aioredis.Redis, keys: RedisKeys, guard: OutageGuard) -> None:
        self._keys = keys
        self._guard = guard
        self._locks = RedisLocks(client)

    async def lead(self, name: str, owner: str, lease: float) -> bool:
        """Take or renew the lead `name` for `lease` seconds; False while another owner holds it."""
        with self._guard("lead"):
            return await self._locks.acquire(self._keys.lead(name), owner, lease)

    async def resign(self, name: str, owner: str) -> None:
        """Free the lead `name` if `owner` holds it."""
        with self._guard("resign"):
            await self._locks.release(self._keys.lead(name), owner)
