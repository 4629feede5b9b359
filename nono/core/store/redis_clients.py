"""redis-py clients for the store: one Redis (a blocking pool) or a Redis Cluster (REDIS_CLUSTER=true)."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException

#: Connections per process (per node of a cluster); more concurrent store calls wait for one to be free.
MAX_CONNECTIONS = 64


def single(url: str) -> aioredis.Redis:
    """A client of the one Redis at `url` (redis://, rediss://, unix://)."""
    # A blocking pool: a burst of turns (1,000 users at once) waits for a free connection instead
    # of failing with MaxConnectionsError once redis-py's default 100 are in use.
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=5,
        # Retry only failed connections (a restarted server, a stale pooled socket), briefly:
        # a timed-out EXEC may have committed, and re-sending it could store a turn twice.
        retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), 2, (RedisConnectionError,)),
        socket_timeout=5,
        socket_connect_timeout=5,
        # No health_check_interval: its PING would add a round trip to the first turn after idle;
        # a stale pooled socket fails with ConnectionError and the retry above reconnects.
    )
    return aioredis.Redis.from_pool(pool)


def address(client: Any) -> str:
    """Where `client` connects, for log lines: host:port, a socket path, a cluster's seed nodes; never a password."""
    if isinstance(client, RedisCluster):
        return ",".join(client.nodes_manager.startup_nodes)
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    if "path" in kwargs:
        return str(kwargs["path"])
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


def cluster(url: str) -> RedisCluster:
    """A client of the Redis Cluster that the node at `url` belongs to (it discovers the others); ValueError
    for a URL no cluster client takes."""
    # redis-py's cluster client retries on its own list of errors, timeouts and failovers included,
    # refreshing the slot map in between (its pipelines ignore a narrower list). A turn's write that
    # timed out after landing is refused when sent again, as its fencing token (or in-flight record)
    # is used up, rather than stored twice.
    try:
        return RedisCluster.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), 2),
            socket_timeout=5,
            socket_connect_timeout=5,
        )
    except RedisClusterException as exc:  # a database other than 0, a unix socket: a URL no cluster takes
        raise ValueError(str(exc)) from None
