"""Per-conversation lines: one conversation's turns run one at a time, in arrival order.

A place in line is taken synchronously (`enter`), before the caller's first `await`, so
the order of arrival is the order of service. A line disappears when nobody is in it, so the
table cannot grow without bound; other conversations are never blocked. Each ticket also has
an owner (the person who spoke), so how much one person has waiting can be capped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from nono.core.store.base import Context
from nono.core.store.lines import Fence, SeatRequest, Waiting


class Ticket:
    """A place in one user's line."""

    __slots__ = ("_left", "_lines", "_turn", "key", "owner")  # (`fence` is a class attribute: always None)

    def __init__(self, lines: UserLines, key: str, owner: str) -> None:
        self._lines = lines
        self.key = key
        self.owner = owner
        self._turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._left = False

    async def wait(self) -> None:
        """Return when every earlier ticket of this user has left the line."""
        await asyncio.shield(self._turn)

    # The same face as a shared line's ticket (`seats.SharedTicket`), so a turn need not know which it has:
    # in one process's line a turn is in line the moment it arrives, and its read needs no seat.

    #: The head of a shared line this turn holds: never, here.
    fence: Fence | None = None

    async def entered(self) -> None:
        """In line since `enter`: nothing to wait for."""

    async def admit(self) -> None:
        """Admitted (or refused) by the service when it was started: nothing to ask."""

    async def seated(self, load: Callable[[SeatRequest | None], Awaitable[Context | Waiting]]) -> Context:
        """The turn's read: one process's line needs no seat in the store."""
        context = await load(None)
        assert isinstance(context, Context), "only a seat waits"
        return context

    def stored(self) -> None:
        """The turn's write is done: nothing to free in the store."""

    def leave(self) -> None:
        """Give up the place (served or not); wakes the next ticket. Idempotent."""
        if not self._left:
            self._left = True
            self._lines._leave(self)


class UserLines:
    """A FIFO line per key (conversation id), and how many places each owner holds."""

    def __init__(self) -> None:
        self._lines: dict[str, deque[Ticket]] = {}
        self._owned: dict[str, int] = {}

    def enter(self, key: str, owner: str | None = None) -> Ticket:
        """Take the next place in `key`'s line for `owner` (the key itself by default), without awaiting."""
        owner = key if owner is None else owner
        ticket = Ticket(self, key, owner)
        self._owned[owner] = self._owned.get(owner, 0) + 1
        line = self._lines.setdefault(key, deque())
        line.append(ticket)
        if len(line) == 1:
            ticket._turn.set_result(None)
        return ticket

    def waiting(self, key: str) -> int:
        """How many tickets (served one included) are in `key`'s line."""
        line = self._lines.get(key)
        return len(line) if line else 0

    def owned(self, owner: str) -> int:
        """How many places, in any line, `owner` holds."""
        return self._owned.get(owner, 0)

    def __len__(self) -> int:
        return len(self._lines)

    def _leave(self, ticket: Ticket) -> None:
        left = self._owned[ticket.owner] - 1
        if left:
            self._owned[ticket.owner] = left
        else:
            del self._owned[ticket.owner]
        line = self._lines[ticket.key]
        was_head = line[0] is ticket
        line.remove(ticket)
        if not line:
            del self._lines[ticket.key]
        elif was_head:
            line[0]._turn.set_result(None)
