"""A lease on one Redis key: whoever holds it does a job no other process may do at the same time.

The key's value is the holder's name. Taking it is `SET NX PX` (or, for its holder, a renewal);
renewing and releasing compare the value first, in one script, so a holder whose lease ran out
(it was paused, or partitioned away) can never extend or delete the lease someone else took since.
Every command touches this one key, so the lock is Redis Cluster safe wherever the key lives.
The lease is what frees a dead holder's lock: nothing else has to notice that it died.
"""

from __future__ import annotations

import redis.asyncio as aioredis

#: Take the key, or extend it when it is already ours. KEYS: the lock. ARGV: owner, lease (ms). 1 when held.
TAKE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

#: Delete the key only if it is still ours. KEYS: the lock. ARGV: owner. 1 when deleted.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def lease_ms(lease: float) -> int:
    """A lease in whole milliseconds, at least one (PX 0 is an error)."""
    return max(1, round(lease * 1000))


class RedisLocks:
    """Leases on single keys of one client: `acquire` and `release`, each one round trip."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._take = client.register_script(TAKE)
        self._release = client.register_script(RELEASE)

    async def acquire(self, key: str, owner: str, lease: float) -> bool:
        """Hold `key` for `lease` seconds from now; True if it is `owner`'s (newly, or renewed), False if another's."""
        return bool(await self._take(keys=[key], args=[owner, lease_ms(lease)]))

    async def release(self, key: str, owner: str) -> bool:
        """Give `key` up if it is still `owner`'s; False when the lease had already passed to someone else."""
        return bool(await self._release(keys=[key], args=[owner]))
