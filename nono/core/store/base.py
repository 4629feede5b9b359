"""The storage seam: a handful of async verbs with one error contract.

Every backend raises `StoreUnavailable` (and only that) when its server or file cannot be
reached, so the core has one thing to catch. Backends receive validated user ids and
plain values; they never decide policy (windows, timeouts) beyond what they are given.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from nono.core.models import ActivePage, Message, Session


@runtime_checkable
class Store(Protocol):
    """Persistent sessions and histories."""

    async def load_context(self, user_id: str, limit: int) -> tuple[Session | None, list[Message]]:
        """The session and the newest `limit` messages (oldest first), in one round trip."""

    async def get_session(self, user_id: str) -> Session | None:
        """The user's session, or None when there is none (never created, reset, or expired)."""

    async def set_persona(self, user_id: str, persona: str, now: float) -> Session:
        """Create the session if needed and set its persona; counts as activity."""

    async def touch(self, user_id: str, persona: str, now: float, metadata: dict[str, Any] | None = None) -> Session:
        """Create the session with `persona` if it does not exist, else mark it active (persona unchanged).

        `metadata`, when given, is merged into the session's metadata.
        """

    async def append_turn(self, user_id: str, persona: str, messages: list[Message], now: float) -> Session:
        """Atomically append `messages` and update the session (created with `persona` if missing).

        Either every message is stored and the counters updated, or nothing is.
        """

    async def history(self, user_id: str, limit: int, before: int | None = None) -> list[Message]:
        """Up to `limit` messages with `seq < before` (all when None), newest last, each with `seq` set."""

    async def clear(self, user_id: str) -> bool:
        """Forget the user's session and history; True if there was anything to forget."""

    async def active_page(self, since: float, offset: int = 0, limit: int = 50) -> ActivePage:
        """Sessions active at or after `since`, most recent first, and how many there are in all.

        The page and the total come from one read (one snapshot, one round trip).
        """

    async def count_active(self, since: float) -> int:
        """How many sessions were active at or after `since`."""

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the backend answers."""

    async def durability_warnings(self) -> list[str]:
        """Settings of the backend that could lose acknowledged turns (eviction, no persistence)."""

    async def aclose(self) -> None:
        """Release connections and files."""
