"""Who gets the model: user turns first, background work (summaries) only while no user turn needs it.

A background generation starts only when no user turn is using the model, and gives it up at the
next token boundary as soon as one arrives: the user turn waits until the background stream is
closed, so the backend never counts it (LLM_MAX_QUEUE) and never queues the user behind it.
The preempted job is restarted later by its owner.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from nono.core.llm.base import LLM, ChatMessage, GenerationOptions, close_stream


class Preempted(Exception):
    """A background generation gave the model up to a user turn; nothing of it is kept."""


class ModelGate:
    """Counts user turns at the model and runs background generations around them, one at a time."""

    def __init__(self) -> None:
        self._users = 0
        self._no_users = asyncio.Event()
        self._no_users.set()
        self._background_closed = asyncio.Event()  # set while no background stream is open
        self._background_closed.set()
        self._preempt: asyncio.Event | None = None
        self._background_lock = asyncio.Lock()

    @property
    def users(self) -> int:
        """User turns using (or about to use) the model now."""
        return self._users

    async def enter(self) -> None:
        """A user turn needs the model: a running background generation is stopped and closed first.

        Pair with `leave()`; if this wait is cancelled, it has already left.
        """
        self._users += 1
        self._no_users.clear()
        try:
            if self._preempt is not None:
                self._preempt.set()
            await self._background_closed.wait()
        except BaseException:
            self.leave()
            raise

    def leave(self) -> None:
        """The user turn is done with the model."""
        self._users -= 1
        if not self._users:
            self._no_users.set()

    @asynccontextmanager
    async def user(self) -> AsyncIterator[None]:
        """`enter()` … `leave()` as a block."""
        await self.enter()
        try:
            yield
        finally:
            self.leave()

    async def background(self, llm: LLM, messages: Sequence[ChatMessage], options: GenerationOptions) -> str:
        """Generate to the end while no user turn wants the model; the whole text. Raises Preempted."""
        async with self._background_lock:
            while self._users:
                await self._no_users.wait()
            preempt = self._preempt = asyncio.Event()
            self._background_closed.clear()
            stream = llm.stream(messages, options)
            try:
                return await _collect(stream, preempt)
            finally:
                try:
                    await close_stream(stream)
                finally:
                    self._preempt = None
                    self._background_closed.set()


async def _collect(stream: AsyncIterator[str], preempt: asyncio.Event) -> str:
    """The stream's text, or Preempted as soon as `preempt` is set (also while waiting for a token)."""
    parts: list[str] = []
    stop = asyncio.ensure_future(preempt.wait())
    step: asyncio.Future[str | None] | None = None
    try:
        while True:
            step = asyncio.ensure_future(anext(stream, None))
            await asyncio.wait((step, stop), return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                raise Preempted()
            chunk = step.result()
            if chunk is None:
                return "".join(parts)
            parts.append(chunk)
            if preempt.is_set():
                raise Preempted()
    finally:
        stop.cancel()
        if step is not None and not step.done():
            # Preempted, or our own task cancelled (shutdown): the backend stops at its next token or
            # prefill slice and frees the model; the stream is closed only once it is no longer running.
            step.cancel()
            await asyncio.wait((step,))
