"""Long polling by one process at a time: the holder of the store's lead `telegram:poll` polls, the others wait.

Telegram serves one getUpdates per bot at a time: two pollers would fight (409 Conflict) and each
see updates the other took. So every process in polling mode tries to take, or renew, the lead
every third of LOCK_LEASE; the holder polls, and a follower takes over within a lease of the
holder's death. A holder that cannot renew (another took the lead, the store is down, the renewal
hangs) stops polling at once, before its lease can have run out. An update two processes still both
see in a handover (a holder frozen past its lease wakes mid-getUpdates) is handled once all the
same: the replay check (`skip_replays`) lets only its first sighting through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

from telegram.error import TelegramError

from nono.core.errors import StoreUnavailable
from nono.core.store.leads import Leads

log = logging.getLogger(__name__)

#: The lead's name in the store: one poller per bot token's store (KEY_PREFIX).
LEAD = "telegram:poll"


class PollLead:
    """Starts the updater's long polling when this process gains the lead and stops it when it loses it."""

    def __init__(
        self, leads: Leads, owner: str, lease: float, *,
        start: Callable[[], Awaitable[object]], stop: Callable[[], Awaitable[None]],
    ) -> None:  # fmt: skip
        self._leads = leads
        self._owner = owner
        self._lease = lease
        self._start = start
        self._stop = stop
        self.leading = False
        self._task: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        """Seconds between renewals (and a follower's attempts): a third of the lease."""
        return self._lease / 3

    def alive(self) -> bool:
        """Whether the loop that takes and renews the lead runs (a healthy follower is alive too)."""
        return self._task is not None and not self._task.done()

    async def __aenter__(self) -> PollLead:
        await self._step()  # a lone process polls from its first moment, as before leads
        self._task = asyncio.create_task(self._run(), name="telegram-poll-lead")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.leading:
            await self._follow("stopping")
        # Free the lead now rather than after the lease: another process takes over at its next attempt.
        with contextlib.suppress(StoreUnavailable):  # the store logged it; the lease runs out by itself
            await self._leads.resign(LEAD, self._owner)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._step()

    async def _step(self) -> None:
        held = await self._claim()
        if held and not self.leading:
            await self._lead()
        elif not held and self.leading:
            await self._follow("lost the lead or could not renew it")

    async def _claim(self) -> bool:
        """Take or renew the lead; False when another holds it or the store does not answer in time."""
        try:
            # Renewal is due again after `interval`: one that takes longer may come too late for the lease.
            async with asyncio.timeout(self.interval):
                return await self._leads.lead(LEAD, self._owner, self._lease)
        except StoreUnavailable:  # logged once by the store
            return False
        except TimeoutError:
            log.warning("telegram_poll_lead_timeout", extra={"owner": self._owner, "waited": self.interval})
            return False

    async def _lead(self) -> None:
        try:
            await self._start()
        except TelegramError as exc:
            # Polling could not start (Telegram unreachable): let another process try; this one retries too.
            log.warning("telegram_polling_start_failed", extra={"error": str(exc)})
            with contextlib.suppress(StoreUnavailable):
                await self._leads.resign(LEAD, self._owner)
            return
        self.leading = True
        log.info("telegram_poll_leading", extra={"owner": self._owner, "lease": self._lease})

    async def _follow(self, reason: str) -> None:
        self.leading = False
        await self._stop()  # cancels the getUpdates under way; updates already fetched are still handled
        log.info("telegram_poll_following", extra={"owner": self._owner, "reason": reason})
