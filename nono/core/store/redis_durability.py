"""What in a Redis server's configuration could lose acknowledged turns: eviction, no persistence.

On a Redis Cluster every primary holds part of the data, so each one is asked, and a warning
names the primaries it applies to.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from nono.core.store import redis_codec as codec

log = logging.getLogger(__name__)

_SETTINGS = ("maxmemory-policy", "appendonly", "save")


async def durability_warnings(client: Any) -> list[str]:
    """Operator warnings when Redis could evict or lose history ([] if CONFIG is not allowed)."""
    try:
        if isinstance(client, RedisCluster):
            found = {node.name: await _settings(client, node) for node in client.get_primaries()}
        else:
            found = {"": await _settings(client)}
    except ResponseError as exc:  # managed Redis often forbids or renames CONFIG
        log.warning("redis_config_unreadable", extra={"error": str(exc)})
        return []
    evicting = {name: policy for name, (policy, _, _) in found.items() if policy != "noeviction"}
    volatile = [name for name, (_, appendonly, save) in found.items() if appendonly != "yes" and not save.strip()]
    warnings = []
    if evicting:
        policy = next(iter(evicting.values()))
        warnings.append(
            f"Redis maxmemory-policy is {policy!r}{_on(evicting)}: Redis may evict sessions and chat history "
            "when it runs out of memory. Set maxmemory-policy to noeviction."
        )
    if volatile:
        warnings.append(
            f"Redis persistence is off{_on(volatile)} (appendonly no and no save rules): a Redis restart loses "
            "every session and chat history. Set appendonly yes."
        )
    return warnings


async def _settings(client: Any, node: Any = None) -> tuple[str, str, str]:
    """maxmemory-policy, appendonly and save of one server (a cluster's `node`)."""
    if node is not None:
        replies = [await client.config_get(name, target_nodes=node) for name in _SETTINGS]
    else:
        async with client.pipeline(transaction=False) as pipe:
            for name in _SETTINGS:
                pipe.config_get(name)
            replies = await pipe.execute()
    policy, appendonly, save = (codec.text(next(iter(reply.values()), "")) for reply in replies)
    return policy, appendonly, save


def _on(names: Any) -> str:
    """' on <primaries>' for a cluster's servers, '' for a single Redis."""
    listed = sorted(name for name in names if name)
    return f" on {', '.join(listed)}" if listed else ""
