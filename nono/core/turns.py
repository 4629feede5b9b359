"""What happened in a turn, handed to listeners (metrics, logs) after it ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias


@dataclass
class TurnRecord:
    """Timings use time.monotonic(); `outcome` is ok, incomplete or error (then `error` is the code)."""

    user_id: str
    platform: str
    persona: str | None = None
    outcome: str = "error"
    error: str | None = None
    started: float | None = None
    first_token: float | None = None
    finished: float | None = None
    chunks: int = 0
    chars: int = 0

    @property
    def latency(self) -> float | None:
        return None if self.started is None or self.finished is None else self.finished - self.started

    @property
    def time_to_first_token(self) -> float | None:
        return None if self.started is None or self.first_token is None else self.first_token - self.started


#: Called with each ended turn's record; it must not block (it runs in the turn's task).
TurnListener: TypeAlias = Callable[[TurnRecord], None]
