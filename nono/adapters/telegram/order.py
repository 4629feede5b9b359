"""Handle updates concurrently across conversations, in arrival order within one.

PTB's concurrent mode starts one task per update. Tasks start in arrival order, but a
handler that awaits (a command writing to the store) could be overtaken by the next update
of the same person. This processor keeps a FIFO line per conversation: an update's handler
starts only when the previous one of that conversation has returned. Message handlers
return as soon as the core has given the turn its place in line (the reply then streams in
its own task), so a slow reply never blocks the next message from being queued, and the
core's per-conversation line and per-person backpressure still apply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from telegram.ext import BaseUpdateProcessor

from nono.core.lines import UserLines

#: PTB's semaphore is not the bound that matters here (the core's lines and the model's queue are),
#: and a full semaphore is the one place PTB could reorder tasks, so it is effectively unbounded.
UNBOUNDED = 1 << 30


class ConversationOrder(BaseUpdateProcessor):
    """One line per conversation key; updates without a key run at once."""

    def __init__(self, key: Callable[[object], str | None]) -> None:
        super().__init__(UNBOUNDED)
        self._key = key
        self._lines = UserLines()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = self._key(update)
        if key is None:
            await coroutine
            return
        ticket = self._lines.enter(key)  # before any await: arrival order is line order
        started = False
        try:
            await ticket.wait()
            started = True
            await coroutine
        finally:
            ticket.leave()
            if not started and hasattr(coroutine, "close"):
                coroutine.close()  # cancelled while waiting: never run, and say so cleanly

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
