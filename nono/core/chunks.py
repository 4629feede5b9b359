"""Reading a model's stream one chunk at a time, so that shutdown can end a reply between two chunks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from nono.core.errors import ModelUnavailable, NonoError

log = logging.getLogger(__name__)


class ReadingStopped(Exception):
    """`stop()` ended the reading: the reply ends where it is."""


class ChunkReader:
    """The chunks of one reply's stream; `stop()` ends the reading at the next chunk, or now if waiting for one."""

    __slots__ = ("_interrupted", "_stopping", "_waiting")

    def __init__(self) -> None:
        self._stopping = False
        self._waiting: asyncio.Task[object] | None = None  # the reader's task, while it waits for a chunk
        self._interrupted = False

    def stop(self) -> None:
        self._stopping = True
        if self._waiting is not None and not self._interrupted:
            self._interrupted = True
            self._waiting.cancel()  # caught in `next`, which ends the reading

    async def next(self, stream: AsyncIterator[str]) -> str | None:
        """The next chunk; None at the end of the stream; ReadingStopped once `stop()` was called.

        Unexpected failures of the backend become ModelUnavailable here, once, at this boundary.
        """
        if self._stopping:
            raise ReadingStopped
        # stop() may cancel this wait, and only this wait, never the reader's own code. This is
        # asyncio.timeout's trick without a scope object per chunk, which cost a third of the
        # core's time per chunk with 1,000 replies streaming (bench P4).
        task = self._waiting = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        try:
            return await anext(stream, None)
        except asyncio.CancelledError:
            # Ours if stop() cancelled and nobody else did (a shutdown's cancel still propagates).
            if self._interrupted and task.uncancel() <= cancelling:
                raise ReadingStopped from None
            raise
        except NonoError:
            raise
        except Exception as exc:
            log.exception("llm_stream_failed")
            raise ModelUnavailable() from exc
        finally:
            self._waiting = None
