"""PTB's HTTP transport with a bound on Bot API calls in flight.

Under a burst (hundreds of replies at once) requests used to queue inside httpx's connection
pool. httpcore hands queued requests to connections in O(connections × queued) steps
(encode/httpcore#1035), so the pool's bookkeeping, not Telegram, ate the bot's CPU; and a
request that waited there longer than `pool_timeout` failed, abandoning a reply. Waiting on
a semaphore in front of the pool costs nothing per queued request and never times out.
"""

from __future__ import annotations

import asyncio
from typing import Any

from telegram.request import HTTPXRequest

#: Bot API calls in flight at once; more gain nothing on a 2-core machine and cost pool CPU.
MAX_IN_FLIGHT = 32


class BoundedRequest(HTTPXRequest):
    """HTTPXRequest letting at most `limit` requests reach the connection pool at a time."""

    def __init__(self, limit: int = MAX_IN_FLIGHT, **kwargs: Any) -> None:
        super().__init__(connection_pool_size=limit, **kwargs)
        self._slots = asyncio.Semaphore(limit)

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        async with self._slots:
            return await super().do_request(*args, **kwargs)
