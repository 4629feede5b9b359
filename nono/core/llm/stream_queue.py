"""A remote backend's bound on replies in flight (LLM_MAX_QUEUE): more at once are refused with Busy, at once."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from nono.core.errors import Busy

log = logging.getLogger(__name__)


class StreamQueue:
    """Counts one backend's streams in progress (for metrics) and refuses one beyond `limit`."""

    def __init__(self, backend: str, limit: int) -> None:
        self.backend = backend
        self.limit = limit
        self.depth = 0

    async def run(self, chunks: AsyncGenerator[str]) -> AsyncIterator[str]:
        """`chunks`, counted while they stream; Busy instead when `limit` streams are already running."""
        async with aclosing(chunks):  # a reader that stops early closes the HTTP stream now, not at GC
            if self.depth >= self.limit:
                log.warning("llm_queue_full", extra={"backend": self.backend, "queue_depth": self.depth})
                raise Busy()
            self.depth += 1
            try:
                async for chunk in chunks:
                    yield chunk
            finally:
                self.depth -= 1
