"""One reply's record in flight, from the turn's read to its stored turn (see `deliveries`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from nono.core.deliveries import Deliveries
from nono.core.errors import StoreUnavailable
from nono.core.models import Message, Session
from nono.core.store.base import Context, Store
from nono.core.store.inflight import InFlight, Progress, ReplyTakenOver, Settles
from nono.core.store.lines import Fence, SeatRequest, StaleFence, Waiting
from nono.core.users import platform_of

log = logging.getLogger(__name__)


class Flight:
    """The record of one delivered reply: written with the turn's read, extended per new platform
    message, removed with the stored turn (or alone when there is nothing to store)."""

    def __init__(self, deliveries: Deliveries | None, place: Mapping[str, Any] | None) -> None:
        self.turn_id = uuid.uuid4().hex
        self.message_ids: list[str] = []
        #: The turn's read wrote the record: the turn's write must settle it.
        self.recorded = False
        self._deliveries = deliveries if place is not None else None
        self._place = place or {}

    @property
    def tracked(self) -> bool:
        return self._deliveries is not None

    async def load(
        self, store: Store, conversation_id: str, window: int, question: Message, progress: Callable[[], Progress],
        seat: SeatRequest | None = None,
    ) -> Context | Waiting:  # fmt: skip
        """The turn's read, which records the reply in flight when it is delivered (and its seat is at the head)."""
        begin: InFlight | None = None
        lease_until = 0.0
        if self._deliveries is not None:
            platform = platform_of(question.speaker_id or conversation_id)
            begin = self._deliveries.begin(self.turn_id, conversation_id, platform, self._place, question, progress)
            lease_until = self._deliveries.lease_now().until
        try:
            context = await store.load_context(conversation_id, window, begin, lease_until, seat=seat)
        except BaseException:
            self.end()
            raise
        if isinstance(context, Waiting):  # nothing was recorded: the turn has not started
            self.end()
            return context
        self.recorded = begin is not None
        return context

    async def shown(self, message_id: object, progress: Callable[[], Progress]) -> None:
        """A new platform message shows the reply: record its id."""
        self.message_ids.append(str(message_id))
        if self.recorded and self._deliveries is not None:
            await self._deliveries.shown(self.turn_id, progress())

    async def store_turn(
        self, store: Store, conversation_id: str, persona: str, messages: list[Message], now: float,
        fence: Fence | None = None,
    ) -> Session | None:  # fmt: skip
        """The turn's write, which settles the record; shielded so a cancel cannot half-write it.

        None when another process resolved this reply meanwhile (this one stalled past its lease):
        the turn is already stored, as interrupted; None too when `fence` (the head of the shared line
        this turn held) went to a later turn: nothing is stored.
        """
        settles = Settles(self.turn_id, self._deliveries.owner) if self.recorded and self._deliveries else None
        write = asyncio.ensure_future(
            store.append_turn(conversation_id, persona, messages, now, settles=settles, fence=fence)
        )
        try:
            return await asyncio.shield(write)
        except asyncio.CancelledError:
            with contextlib.suppress(ReplyTakenOver, StaleFence):
                await write  # finish the write, then let the cancel proceed
            raise
        except ReplyTakenOver:
            log.warning("turn_taken_over", extra={"turn_id": self.turn_id, "conversation_id": conversation_id})
            return None
        except StaleFence:
            # Frozen past its lease, this turn lost the head to a later one: it may not write after it.
            log.warning("turn_fenced_off", extra={"turn_id": self.turn_id, "conversation_id": conversation_id})
            await self.give_up(store)
            return None
        finally:
            self.end()

    def end(self) -> None:
        """The turn is stored, or was never recorded: stop following it."""
        if self._deliveries is not None:
            self._deliveries.end(self.turn_id)

    async def give_up(self, store: Store) -> None:
        """Nothing to store (the generation failed): remove the record, so no restart resolves it."""
        self.end()
        if not self.recorded:
            return
        self.recorded = False
        try:
            await store.inflight.settle(self.turn_id)
        except StoreUnavailable:  # a sweep after the next restart will tell the user it was cut short
            log.warning("inflight_unsettled", extra={"turn_id": self.turn_id})
