"""The SQLite store's duties: claims kept in this process's memory, since SQLite serves one process.

A second process on the same file is warned about at start-up (`sqlite_lock`); it would not see
these claims, and nothing here pretends otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class LocalDuties:
    """Duty claims with leases, held by the store object (several services on one store share them)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._held: dict[tuple[str, str], tuple[str, float]] = {}  # (name, subject) -> (owner, lease end)

    async def claim(self, name: str, subject: str, owner: str, lease: float) -> bool:
        """Hold the duty for `lease` seconds unless another owner's lease still runs."""
        now = self._clock()
        holder = self._held.get((name, subject))
        if holder is not None and holder[0] != owner and holder[1] > now:
            return False
        self._held[(name, subject)] = (owner, now + lease)
        return True

    async def release(self, name: str, subject: str, owner: str) -> None:
        """Give the duty up if `owner` still holds it."""
        holder = self._held.get((name, subject))
        if holder is not None and holder[0] == owner:
            del self._held[(name, subject)]
