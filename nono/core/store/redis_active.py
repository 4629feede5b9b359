"""The Redis store's list of active conversations: `conversations:active`, written beside each write, read in pages.

The index (a sorted set of ids by last activity) spans every conversation, so on a Redis Cluster it
lives on another shard than most of them: the writes that mark a session active queue `queue_mark`
in the same pipeline as their script (one round trip on a single Redis), not inside it. A crash
between the two can leave an entry behind its session (never the session behind the turn), and a
refused settling write still refreshes its entry (the process that took the reply over stores the
same turn); entries whose session expired or was evicted are dropped when a page sees them.
On a single Redis a page and its total are one script; on a cluster, the index then the sessions.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from nono.core.models import ActivePage
from nono.core.store import redis_codec as codec
from nono.core.store import redis_scripts as scripts
from nono.core.store.common import OutageGuard, lower_bound
from nono.core.store.redis_keys import RedisKeys


class RedisActive:
    """Active sessions on the store's client and guard; every verb follows the store's `ready` first."""

    def __init__(
        self, client: Any, keys: RedisKeys, guard: OutageGuard, ready: Callable[[], Awaitable[None]], *,
        history_ttl: float | None = None, clock: Callable[[], float] = time.time, cluster: bool = False,
    ) -> None:  # fmt: skip
        self._redis = client
        self._keys = keys
        self._index = keys.index
        self._templates = keys.templates()
        self._guard = guard
        self._ready = ready
        self._history_ttl = history_ttl
        self._clock = clock
        self._cluster = cluster
        self._page = client.register_script(scripts.ACTIVE_PAGE)

    def queue_mark(self, pipe: Any, conversation_id: str, now: float) -> None:
        """Index the conversation as active at `now`; with HISTORY_TTL, prune entries idle longer (expired)."""
        pipe.zadd(self._index, {conversation_id: float(now)})
        if self._history_ttl is not None:
            pipe.zremrangebyscore(self._index, "-inf", f"({now - self._history_ttl!r}")

    async def page(self, since: float, offset: int = 0, limit: int = 50) -> ActivePage:
        """Sessions active at or after `since`, most recent first, and how many there are in all."""
        await self._ready()
        if limit <= 0:
            return ActivePage([], await self.count(since))
        lowest = repr(float(lower_bound(since, self._history_ttl, self._clock)))
        with self._guard("active_page"):
            if self._cluster:
                total, rows = await self._rows_apart(lowest, max(0, offset), limit)
            else:
                args = [lowest, max(0, offset), limit, *self._templates]
                total, rows = await self._page(keys=[self._index], args=args)
            sessions = [
                codec.listed_session(codec.text(conversation_id), fields, meta)
                for conversation_id, fields, meta in rows
            ]
            gone = [
                conversation_id
                for (conversation_id, _, _), session in zip(rows, sessions, strict=True)
                if session is None
            ]
            if gone:  # expired or evicted: drop their stale index entries now that we saw them
                await self._redis.zrem(self._index, *gone)
        return ActivePage([session for session in sessions if session is not None], int(total) - len(gone))

    async def _rows_apart(self, lowest: str, offset: int, limit: int) -> tuple[int, list[Any]]:
        """The page as `ACTIVE_PAGE` returns it, for a cluster: the index, then each session on its own shard."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrevrangebyscore(self._index, "+inf", lowest, start=offset, num=limit)
            pipe.zcount(self._index, lowest, "+inf")
            ids, total = await pipe.execute()
        if not ids:
            return total, []
        async with self._redis.pipeline(transaction=False) as pipe:
            for conversation_id in ids:
                name = codec.text(conversation_id)
                pipe.hmget(self._keys.session(name), ["persona", "created_at", "last_activity", "message_count"])
                pipe.hgetall(self._keys.metadata(name))
            replies = await pipe.execute()
        rows = [
            (conversation_id, fields, [item for pair in meta.items() for item in pair])
            for conversation_id, fields, meta in zip(ids, replies[::2], replies[1::2], strict=True)
        ]
        return total, rows

    async def count(self, since: float) -> int:
        """How many sessions were active at or after `since`."""
        await self._ready()
        # With HISTORY_TTL, a session idle longer than it has expired even if its index entry lingers.
        lowest = lower_bound(since, self._history_ttl, self._clock)
        with self._guard("count_active"):
            return int(await self._redis.zcount(self._index, lowest, "+inf"))
