"""Background duties that one process at a time may do, across every process on the store.

A duty (say, writing one conversation's summary) is claimed for a lease and renewed while the job
runs; a process that dies stops renewing, and the lease frees the duty for another within its length.
A claim saves duplicate work; it is not what keeps data right: what a duty writes is compare-and-set
already (a summary over the revision it read), so a holder that was paused past its lease and wakes
up wastes its work but cannot overwrite anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from nono.core.errors import StoreUnavailable

log = logging.getLogger(__name__)


class Duties(Protocol):
    """Short claims on named duties; Redis shares them across processes, SQLite within its one process."""

    async def claim(self, name: str, subject: str, owner: str, lease: float) -> bool:
        """Hold duty `name` for `subject` (a conversation id) for `lease` seconds from now.

        True if `owner` holds it (newly, or renewed: claiming again is how a holder renews),
        False while another owner's lease runs.
        """

    async def release(self, name: str, subject: str, owner: str) -> None:
        """Give the duty up if `owner` still holds it (another owner's claim is left alone)."""


class Renewal:
    """Renews a lease every third of its length while a job runs; `lost` once it could not be kept."""

    def __init__(self, take: Callable[[], Awaitable[bool]], lease: float, what: str) -> None:
        self._take = take
        self._lease = lease
        self._what = what
        self.lost = False

    async def run(self) -> None:
        """Renew until cancelled, or until a renewal is refused or none succeeded for a whole lease."""
        deadline = time.monotonic() + self._lease
        while True:
            await asyncio.sleep(self._lease / 3)
            started = time.monotonic()
            try:
                held = await self._take()
            except Exception as exc:  # Redis blinked: try again, the lease may still be running
                log.warning("lease_renewal_failed", extra={"duty": self._what, "error": repr(exc)})
                held = started < deadline
            else:
                if held:
                    deadline = started + self._lease
            if not held or time.monotonic() >= deadline:
                self.lost = True
                log.warning("lease_lost", extra={"duty": self._what})
                return


@contextlib.asynccontextmanager
async def renewed(take: Callable[[], Awaitable[bool]], lease: float, what: str) -> AsyncIterator[Renewal]:
    """Keep a lease just taken with `take` (which also renews it) for as long as the block runs."""
    renewal = Renewal(take, lease, what)
    task = asyncio.create_task(renewal.run(), name=f"nono-lease:{what}")
    try:
        yield renewal
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@contextlib.asynccontextmanager
async def duty(duties: Duties, name: str, subject: str, owner: str, lease: float) -> AsyncIterator[Renewal | None]:
    """Claim the duty for the block, renewed while it runs and released after; None when another holds it."""
    if not await duties.claim(name, subject, owner, lease):
        yield None
        return
    try:
        async with renewed(lambda: duties.claim(name, subject, owner, lease), lease, f"{name}:{subject}") as held:
            yield held
    finally:
        try:
            await duties.release(name, subject, owner)
        except StoreUnavailable:  # the store logged the outage; the lease frees the duty soon anyway
            log.warning("duty_release_failed", extra={"duty": name, "subject": subject})
