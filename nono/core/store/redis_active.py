"""The Redis store's list of active conversations: pages of `conversations:active`, and counts.

The turn's own script keeps the index (a sorted set of ids by last activity); this reads it. A page
and its total are one script; entries whose session expired or was evicted are dropped when seen.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from nono.core.models import ActivePage
from nono.core.store import redis_codec as codec
from nono.core.store import redis_scripts as scripts
from nono.core.store.common import OutageGuard, lower_bound
from nono.core.store.redis_keys import RedisKeys


class RedisActive:
    """Active sessions on the store's client and guard; every verb follows the store's `ready` first."""

    def __init__(
        self, client: aioredis.Redis, keys: RedisKeys, guard: OutageGuard, ready: Callable[[], Awaitable[None]], *,
        history_ttl: float | None = None, clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._redis = client
        self._index = keys.index
        self._templates = keys.templates()
        self._guard = guard
        self._ready = ready
        self._history_ttl = history_ttl
        self._clock = clock
        self._page = client.register_script(scripts.ACTIVE_PAGE)

    async def page(self, since: float, offset: int = 0, limit: int = 50) -> ActivePage:
        """Sessions active at or after `since`, most recent first, and how many there are in all."""
        await self._ready()
        if limit <= 0:
            return ActivePage([], await self.count(since))
        lowest = repr(float(lower_bound(since, self._history_ttl, self._clock)))
        with self._guard("active_page"):
            total, rows = await self._page(keys=[self._index], args=[lowest, max(0, offset), limit, *self._templates])
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

    async def count(self, since: float) -> int:
        """How many sessions were active at or after `since`."""
        await self._ready()
        # With HISTORY_TTL, a session idle longer than it has expired even if its index entry lingers.
        lowest = lower_bound(since, self._history_ttl, self._clock)
        with self._guard("count_active"):
            return int(await self._redis.zcount(self._index, lowest, "+inf"))
