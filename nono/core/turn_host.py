"""What a turn needs from its service: store, model, personas, limits, clock, tracker, gate, summaries, deliveries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from nono.core.deliveries import Deliveries
from nono.core.llm.backends import Backends
from nono.core.model_gate import ModelGate
from nono.core.models import Session
from nono.core.personas import PersonaRegistry
from nono.core.store.base import Store
from nono.core.summaries import Summarizer
from nono.core.turns import TurnListener, TurnRecord

log = logging.getLogger(__name__)


class Stoppable(Protocol):
    """A turn that shutdown can end early (a Reply)."""

    def stop(self) -> None: ...


class TurnLimits(Protocol):
    """The limits a turn reads (ChatLimits has them)."""

    @property
    def max_context_messages(self) -> int: ...

    @property
    def num_ctx(self) -> int: ...

    @property
    def max_reply_chars(self) -> int: ...

    @property
    def memory_summary_tokens(self) -> int: ...

    @property
    def memory_facts_tokens(self) -> int: ...


class TurnTracker:
    """Turns generating now (and their readers), whether new turns are refused, and who hears of ended turns."""

    def __init__(self) -> None:
        self.closing = False  # set by shutdown: turns not yet generating are refused
        self._generating: dict[Stoppable, asyncio.Task[Any]] = {}
        self._idle = asyncio.Event()  # set while nothing is generating
        self._idle.set()
        # Replaced, never mutated: a listener that removes itself while being called cannot skip another.
        self._listeners: tuple[TurnListener, ...] = ()

    @property
    def running(self) -> int:
        """How many turns are generating now."""
        return len(self._generating)

    def started(self, turn: Stoppable) -> None:
        """Count `turn` as generating, read by the current task."""
        task = asyncio.current_task()
        assert task is not None
        self._generating[turn] = task
        self._idle.clear()

    def ended(self, turn: Stoppable) -> None:
        """`turn` generates no more (finished, failed or stopped)."""
        self._generating.pop(turn, None)
        if not self._generating:
            self._idle.set()

    async def settled(self, timeout: float) -> bool:
        """Wait until no turn is generating; False if `timeout` seconds pass first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def stop_all(self) -> int:
        """Ask every generating turn to end at its next chunk; how many were asked."""
        late = list(self._generating)
        for turn in late:
            turn.stop()
        return len(late)

    async def cancel_readers(self) -> None:
        """Cancel the tasks still reading generating turns (stuck on their platform) and wait for them."""
        stuck = list(self._generating.values())
        for task in stuck:
            task.cancel()  # the reply is stored as it is when the cancel lands
        await asyncio.gather(*stuck, return_exceptions=True)

    def add_listener(self, listener: TurnListener) -> None:
        """Call `listener` with a TurnRecord after every turn."""
        self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: TurnListener) -> None:
        """Stop calling `listener`; one that was never added is ignored."""
        listeners = list(self._listeners)
        if listener in listeners:
            listeners.remove(listener)
            self._listeners = tuple(listeners)

    def notify(self, record: TurnRecord) -> None:
        """Hand `record` to every listener; one that fails is logged and the rest still hear it."""
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:  # a broken metrics hook must not break a user's turn
                log.exception("turn_listener_failed")


@dataclass(frozen=True, slots=True)
class TurnHost:
    """Everything a Reply reaches outside itself; built once by ChatService and shared by its turns."""

    store: Store
    #: The backends a persona's reply may come from (its own first, then LLM_FALLBACK's).
    backends: Backends
    personas: PersonaRegistry
    limits: TurnLimits
    clock: Callable[[], float]
    tracker: TurnTracker
    #: User turns ahead of background work at the model.
    gate: ModelGate
    #: Rolling summaries (None when MEMORY_SUMMARY=off): scheduled after each stored turn.
    summaries: Summarizer | None
    #: Replies in flight (recorded for turns with a `place`); None records nothing.
    deliveries: Deliveries | None = None

    def stored(self, conversation_id: str, session: Session) -> None:
        """After a turn is stored: once messages have left the window, their summary is brought up to date, later."""
        if self.summaries is not None and session.message_count > self.limits.max_context_messages:
            self.summaries.schedule(conversation_id)
