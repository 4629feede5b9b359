"""The Redis store's duties: one lease key per duty and subject, shared by every process on the Redis.

The key, `duty:<name>:{<subject>}`, carries its subject (a conversation id) as its hash tag, so a
conversation's duty lives on the conversation's Redis Cluster slot; each command touches that key alone.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from nono.core.store.common import OutageGuard
from nono.core.store.redis_lock import RedisLocks


class RedisDuties:
    """Duty claims as leases on single keys under the store's prefix, on its client and guard."""

    def __init__(self, client: aioredis.Redis, prefix: str, guard: OutageGuard) -> None:
        self._locks = RedisLocks(client)
        self._prefix = prefix
        self._guard = guard

    def key(self, name: str, subject: str) -> str:
        """The lease key of duty `name` for `subject`."""
        return f"{self._prefix}duty:{name}:{{{subject}}}"

    async def claim(self, name: str, subject: str, owner: str, lease: float) -> bool:
        """Hold the duty for `lease` seconds (one round trip) unless another owner's lease still runs."""
        with self._guard("claim_duty"):
            return await self._locks.acquire(self.key(name, subject), owner, lease)

    async def release(self, name: str, subject: str, owner: str) -> None:
        """Give the duty up if `owner` still holds it (one round trip)."""
        with self._guard("release_duty"):
            await self._locks.release(self.key(name, subject), owner)
