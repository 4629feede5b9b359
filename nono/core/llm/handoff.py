"""Plumbing between the event loop and a generation thread: a FIFO line, a batched hand-off, UTF-8 reassembly."""

from __future__ import annotations

import asyncio
import codecs
import threading
from collections import deque


class Utf8Stream:
    """Token bytes in, whole characters out: a character split across tokens waits for its last byte.

    Joined, the output equals `b"".join(pieces).decode("utf-8", "replace")` — the same text a
    one-shot detokenization of the finished reply gives.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, data: bytes) -> str:
        """The longest run of complete characters now available (may be empty)."""
        return self._decoder.decode(data)

    def flush(self) -> str:
        """What an unfinished character at the very end decodes to (U+FFFD), or ''."""
        return self._decoder.decode(b"", final=True)


class FifoLine:
    """One holder at a time, served strictly in arrival order.

    The holder hands over directly to the oldest waiter, so a newcomer can never jump the line.
    Waiters are plain futures of whichever loop is running, so the line is not bound to one loop.
    """

    def __init__(self) -> None:
        self._held = False
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def held(self) -> bool:
        return self._held

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def enter(self) -> None:
        """Wait for our turn; on return we hold the line until `leave()`."""
        if not self._held and not self._waiters:
            self._held = True
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.leave()  # handed the line just as we were cancelled: pass it on
            elif turn in self._waiters:
                self._waiters.remove(turn)
            raise

    def leave(self) -> None:
        """Hand the line to the oldest live waiter, or free it."""
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._held = False


class Handoff:
    """Text from a worker thread to one async consumer, plus the consumer's "stop" flag for the worker.

    The worker wakes the loop once per burst (`call_soon_threadsafe` only when no wake-up is
    pending), so a consumer that falls behind gets several pieces joined in one chunk and the
    per-token cost on the decode thread stays a list append under a lock.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._finished = False
        self._error: BaseException | None = None
        self._wake_pending = False
        self._ready = asyncio.Event()
        self._stop = threading.Event()
        #: Set by the worker before `finish()` when it stopped because it was asked to.
        self.cut_short = False

    # worker side
    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def put(self, text: str) -> None:
        """Queue a piece of text for the consumer (worker thread)."""
        with self._lock:
            self._pending.append(text)
            if self._wake_pending:
                return
            self._wake_pending = True
        self._wake()

    def finish(self, error: BaseException | None = None) -> None:
        """The worker is done, cleanly or with `error` (worker thread)."""
        with self._lock:
            self._finished, self._error = True, error
            self._wake_pending = True
        self._wake()

    def _wake(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:  # the loop is closed: nobody will read on, so stop generating
            self._stop.set()

    # consumer side
    def cancel(self) -> None:
        """Ask the worker to stop after the token it is working on."""
        self._stop.set()

    async def get(self) -> str | None:
        """Everything produced since the last call, joined; None once the worker has finished."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            with self._lock:
                pending, self._pending = self._pending, []
                self._wake_pending = False
                finished, error = self._finished, self._error
            if finished:
                self._ready.set()  # nothing will wake us again: later calls must not wait
            if pending:
                return "".join(pending)
            if error is not None:
                raise error
            if finished:
                return None
