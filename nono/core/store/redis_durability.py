"""What in a Redis server's configuration could lose acknowledged turns: eviction, no persistence."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from nono.core.store import redis_codec as codec

log = logging.getLogger(__name__)


async def durability_warnings(client: aioredis.Redis) -> list[str]:
    """Operator warnings when Redis could evict or lose history ([] if CONFIG is not allowed)."""
    try:
        async with client.pipeline(transaction=False) as pipe:
            for name in ("maxmemory-policy", "appendonly", "save"):
                pipe.config_get(name)
            replies = await pipe.execute()
    except ResponseError as exc:  # managed Redis often forbids or renames CONFIG
        log.warning("redis_config_unreadable", extra={"error": str(exc)})
        return []
    policy, appendonly, save = (codec.text(next(iter(reply.values()), "")) for reply in replies)
    warnings = []
    if policy != "noeviction":
        warnings.append(
            f"Redis maxmemory-policy is {policy!r}: Redis may evict sessions and chat history "
            "when it runs out of memory. Set maxmemory-policy to noeviction."
        )
    if appendonly != "yes" and not save.strip():
        warnings.append(
            "Redis persistence is off (appendonly no and no save rules): a Redis restart loses "
            "every session and chat history. Set appendonly yes."
        )
    return warnings
