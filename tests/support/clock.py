"""A clock the core reads and only the test moves."""

from __future__ import annotations


class ManualClock:
    """Seconds since the epoch, advanced by assigning or adding to `now`."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
