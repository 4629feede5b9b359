"""A turn: what a person said where (its input), and what happened (handed to listeners after it ends)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from nono.core.memory import Quote
from nono.core.people import Conversation, Speaker


@dataclass(frozen=True)
class Turn:
    """What a person said where: the input of one reply."""

    conversation: Conversation
    speaker: Speaker
    text: str
    quotes: tuple[Quote, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Where an adapter shows the reply (its own note: chat, thread, the message answered). When set,
    #: the reply is recorded in flight, and stored only once the adapter says how delivery ended.
    place: Mapping[str, Any] | None = None


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
