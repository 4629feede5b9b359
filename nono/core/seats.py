"""Turns in a store's shared lines (see `store.lines`): arrival order across every process on one Redis.

A turn takes its seat with its read: the first read enters the line (and is admitted against the
person's limits there, across processes) and, when the seat is at the head, reads the context in
the same step. A turn that has to wait polls, with backoff, until its seat reaches the head;
this process's own earlier turns of the conversation go first, and the next one polls as soon as
one leaves, so turns handled by one process never sleep. Reads are sent in arrival order: each
turn's first read waits for the previous turn of that conversation in this process to have entered.
Seats are renewed every third of `lease` while this process holds any.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nono.core.errors import StoreUnavailable
from nono.core.lines import Ticket, UserLines
from nono.core.ratelimit import RateLimiter
from nono.core.store.base import Context
from nono.core.store.lines import Admission, Fence, Seat, SeatLost, SeatRequest, SharedLines, Waiting

log = logging.getLogger(__name__)

#: The first and the longest wait between two polls of a turn waiting behind another process's turn.
FIRST_POLL = 0.01
LONGEST_POLL = 0.2

Load = Callable[[SeatRequest], Awaitable["Context | Waiting"]]


class SharedTicket:
    """A turn's place: in this process's line (for order and counts) and in the store's shared line."""

    __slots__ = (
        "_admitted", "_entered", "_freed", "_local", "_previous", "_seats", "conversation_id", "fence", "seat",
    )  # fmt: skip

    def __init__(self, seats: SharedSeats, local: Ticket, seat: Seat, previous: asyncio.Future[None] | None) -> None:
        self._seats = seats
        self._local = local
        self.seat = seat
        self._previous = previous
        self._entered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._freed = False
        self._admitted = False
        #: The line the seat is in (the linked conversation when the id was a linked person's); None until entered.
        self.conversation_id: str | None = None
        self.fence: Fence | None = None

    @property
    def key(self) -> str:
        return self._local.key

    @property
    def owner(self) -> str:
        return self._local.owner

    async def wait(self) -> None:
        """Return when the previous turn of this conversation in this process has entered the line."""
        if self._previous is not None:
            await asyncio.shield(self._previous)

    async def entered(self) -> None:
        """Return once the seat is taken (or the turn ended before that)."""
        await asyncio.shield(self._entered)

    async def admit(self) -> None:
        """Admit the seat against its person's limits now, before entering the line (which then skips it)."""
        if self._admitted:
            return
        await self._seats.admit(self.seat)
        self._admitted = True
        self.conversation_id = self.key  # its pending count is freed with the seat, even if it never enters
        self._seats.holding(self)

    async def seated(self, load: Load) -> Context:
        """Enter the line with the first read, then read again until the seat is at the head."""
        try:
            found = await self._load(load, enter=True)
        finally:
            if not self._entered.done():
                self._entered.set_result(None)  # the next turn may enter now, behind this one
        if isinstance(found, Context):
            return found
        await self._local.wait()  # this process's earlier turns of the conversation are ahead in the line
        delay = 0.0
        while True:
            if delay:
                await asyncio.sleep(delay)
            try:
                found = await self._load(load, enter=False)
            except SeatLost:
                # Frozen past the lease, the seat was dropped: take a new one, at the back.
                log.warning("seat_lost", extra={"conversation_id": self.conversation_id})
                found = await self._load(load, enter=True)
            if isinstance(found, Context):
                return found
            delay = min(max(delay * 2, FIRST_POLL), LONGEST_POLL)

    async def _load(self, load: Load, *, enter: bool) -> Context | Waiting:
        try:
            admission = Admission() if self._admitted else self._seats.admission
            found = await load(SeatRequest(self.seat, self._seats.clock(), enter, admission))
        except StoreUnavailable:
            if enter and self.conversation_id is None:  # it may have entered: free the seat when leaving
                self.conversation_id = self.key
                self._seats.holding(self)
            raise
        self.conversation_id = found.conversation_id
        self._admitted = True  # a seat lost and taken again is not counted against the limits twice
        self._seats.holding(self)
        if isinstance(found, Context):
            self.fence = found.fence
        return found

    def stored(self) -> None:
        """The turn's write freed the seat."""
        self._freed = True

    def leave(self) -> asyncio.Task[None] | None:
        """Give the place up (served or not); idempotent. A seat still in the store's line is freed there:
        the task doing it (already running), or None when there is nothing to free."""
        self._local.leave()
        if not self._entered.done():
            self._entered.set_result(None)
        freeing = self._seats.release(self, free=not self._freed)
        self._freed = True
        return freeing


class SharedSeats:
    """Every shared ticket of one process: handing them out in order, renewing and freeing their seats."""

    def __init__(self, lines: SharedLines, clock: Callable[[], float], lease: float, admission: Admission) -> None:
        self._lines = lines
        self.clock = clock
        self.lease = lease
        self.admission = admission
        self._local = UserLines()
        self._last_entry: dict[str, asyncio.Future[None]] = {}
        self._held: dict[SharedTicket, str] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._leaving: set[asyncio.Task[None]] = set()

    def enter(self, key: str, owner: str) -> SharedTicket:
        """A new turn of conversation `key` by `owner`, behind every earlier one; without awaiting."""
        previous = self._last_entry.get(key)
        ticket = SharedTicket(self, self._local.enter(key, owner), Seat(owner, self.lease), previous)
        self._last_entry[key] = ticket._entered
        ticket._entered.add_done_callback(lambda done: self._forget_entry(key, done))
        return ticket

    def owned(self, owner: str) -> int:
        return self._local.owned(owner)

    async def admit(self, seat: Seat) -> None:
        """Admit `seat` against its person's limits alone (raises the refusal)."""
        await self._lines.admit(SeatRequest(seat, self.clock(), True, self.admission))

    def holding(self, ticket: SharedTicket) -> None:
        """`ticket` has a seat in the store's line: renew it until it leaves."""
        assert ticket.conversation_id is not None
        self._held[ticket] = ticket.conversation_id
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat(), name="nono-seats-heartbeat")

    def release(self, ticket: SharedTicket, *, free: bool) -> asyncio.Task[None] | None:
        """Stop renewing `ticket`'s seat; with `free`, free it in the store (the task doing it)."""
        conversation_id = self._held.pop(ticket, None)
        if not self._held and self._heartbeat is not None:  # nothing to renew: no timer left while idle
            self._heartbeat.cancel()
            self._heartbeat = None
        if not free or conversation_id is None:
            return None
        task = asyncio.get_running_loop().create_task(self._leave(conversation_id, ticket.seat))
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)
        return task

    async def aclose(self) -> None:
        """Wait for the seats being freed; stop renewing."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if self._leaving:
            await asyncio.gather(*self._leaving, return_exceptions=True)

    async def _leave(self, conversation_id: str, seat: Seat) -> None:
        try:
            await self._lines.leave(conversation_id, seat)
        except StoreUnavailable:  # the seat's lease runs out instead; the line moves on after it
            log.warning("seat_not_freed", extra={"conversation_id": conversation_id})

    async def _beat(self) -> None:
        while self._held:
            await asyncio.sleep(self.lease / 3)
            held = [(conversation_id, ticket.seat) for ticket, conversation_id in self._held.items()]
            with contextlib.suppress(StoreUnavailable):  # logged by the store; the next beat tries again
                await self._lines.renew(held, self.clock())

    def _forget_entry(self, key: str, done: asyncio.Future[None]) -> None:
        if self._last_entry.get(key) is done:
            del self._last_entry[key]


def turn_lines(
    shared: SharedLines | None,
    clock: Callable[[], float],
    lease: float,
    per_minute: int | None,
    max_pending: int | None,
) -> tuple[UserLines | SharedSeats, RateLimiter | None]:
    """Where a service's turns wait for their conversation, and its own rate limiter (None: none, or the store's).

    With `shared` lines (several processes on one store) the line and the limits are the store's, every
    process's at once; otherwise this process keeps both.
    """
    if shared is not None:
        return SharedSeats(shared, clock, lease, Admission(per_minute or 0, max_pending)), None
    return UserLines(), RateLimiter(per_minute) if per_minute else None
