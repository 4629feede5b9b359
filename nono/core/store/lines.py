"""Shared lines: one conversation's turns answered one at a time across every process on one store.

A store that several processes share (Redis) keeps each conversation's line itself: a turn takes a
seat at the back when it arrives (the same step admits it against its person's rate limit and
pending cap, and, when the seat is at the head, reads its context), waits until its seat reaches
the head, and frees the seat in the step that stores it. The head holds a *fencing token*, one
higher than the last one given for that conversation; a write carrying a token that is no longer
the head's is refused, so a holder that was frozen past its lease and wakes up cannot store a
turn another process already answered after it.

Every seat has a lease its process renews while it lives; a seat whose lease ran out (its
process died or froze) is dropped when the line next moves, so a dead process releases the line
within one lease. A store that only one process uses (SQLite) has no shared lines: the process's
own lines order its turns.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from nono.core.errors import NonoError


@dataclass(frozen=True)
class Admission:
    """The per-person limits a seat is admitted against, across every process."""

    #: Accepted messages per person in any 60 s window (0: no limit).
    per_minute: int = 0
    #: Seats one person may hold beyond the one being answered (None: no cap).
    max_pending: int | None = None


@dataclass(frozen=True)
class Seat:
    """One turn's place in its conversation's shared line."""

    #: The turn's person (their pending seats are counted across conversations).
    person: str
    #: How long the seat lasts unrenewed, in seconds.
    lease: float
    ticket: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class SeatRequest:
    """What a turn's read asks of the line: take the seat (`enter`, once) and the head if it is free."""

    seat: Seat
    now: float
    enter: bool
    admission: Admission = Admission()


@dataclass(frozen=True)
class Fence:
    """The head of a line: the seat holding it and the fencing token its writes carry."""

    ticket: str
    token: int
    #: The seat's person (their pending seats shrink by this one when the head is freed).
    person: str


@dataclass(frozen=True)
class Waiting:
    """A turn's read found its seat behind another: nothing was read, nothing recorded; read again later."""

    conversation_id: str


class StaleFence(NonoError):
    """A turn's write carried a fencing token that is no longer the head's: it wrote nothing."""


class SeatLost(NonoError):
    """The seat is no longer in the line (its lease ran out while its process was frozen)."""


class SharedLines(Protocol):
    """The line operations besides the turn's read and write (which take and free the head)."""

    async def admit(self, request: SeatRequest) -> None:
        """Admit a seat against its person's limits without entering a line (RateLimited, Busy)."""

    async def leave(self, conversation_id: str, seat: Seat) -> None:
        """Give the seat up (and the head, when it holds it) without storing anything."""

    async def renew(self, seats: Sequence[tuple[str, Seat]], now: float) -> None:
        """Extend the leases of these (conversation id, seat) pairs; one round trip for all of them."""
