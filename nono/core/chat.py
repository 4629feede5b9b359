"""ChatService: the one use case. A person says something in a conversation; Nono answers in its persona's voice."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nono.core.deliveries import Deliveries
from nono.core.errors import Busy, ServiceUnavailable, UserFacingError
from nono.core.limits import ChatLimits
from nono.core.linking import Linker
from nono.core.llm.backends import Backends
from nono.core.llm.base import LLM
from nono.core.memory import Quote
from nono.core.model_gate import ModelGate
from nono.core.models import ActivePage, Message, Session
from nono.core.people import ConversationLike, Speaker, as_conversation
from nono.core.personal_data import PersonalData
from nono.core.personas import Persona, PersonaRegistry
from nono.core.remembering import FactLimits, Facts, require_manager
from nono.core.reply import Reply
from nono.core.seats import SharedSeats, turn_lines
from nono.core.store.base import Store
from nono.core.summaries import Summarizer, SummaryLimits
from nono.core.text import accepted_text
from nono.core.turn_host import TurnHost, TurnTracker
from nono.core.turns import Turn, TurnListener
from nono.core.wording import RESTARTING

log = logging.getLogger(__name__)

#: After shutdown's grace, how long stopped replies get to reach their reader and be stored before
#: the tasks reading them are cancelled (a reader stuck on its platform never asks for the end).
STOP_WAIT = 2.0


class ChatService:
    """Streams replies, keeps memory, switches personas. Knows nothing of any platform."""

    def __init__(
        self,
        store: Store,
        llm: LLM | Backends,
        personas: PersonaRegistry,
        limits: ChatLimits = ChatLimits(),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limits = limits
        self._clock = clock
        backends = llm if isinstance(llm, Backends) else Backends.single(llm)
        llm = backends.default_llm  # background work (summaries) and fact budgets use the default backend
        self._tracker = TurnTracker()
        gate = ModelGate()
        summaries = None
        if limits.memory_summary:
            summary_limits = SummaryLimits(
                limits.max_context_messages, limits.num_ctx, limits.memory_summary_tokens, duty_lease=limits.lock_lease
            )
            summaries = Summarizer(store, llm, gate, personas, summary_limits, clock)
        self._deliveries = Deliveries(store, clock, lambda: personas.default, lease=limits.turn_lease)
        # One host for every turn: replies reach the service's parts only through it.
        self._host = TurnHost(
            store, backends, personas, limits, clock, self._tracker, gate, summaries, self._deliveries
        )
        self._lines, self._rate = turn_lines(
            store.lines, clock, limits.lock_lease, limits.rate_limit_per_minute, limits.max_pending_per_user
        )
        self._links = Linker(store, clock)
        fact_limits = FactLimits(limits.memory_max_facts, limits.memory_facts_tokens)
        self._facts = Facts(store, llm, personas, fact_limits, clock, self.resolve)
        self._personal = PersonalData(store, self._links, summaries, clock)

    @property
    def store(self) -> Store:
        """Where sessions and history are kept."""
        return self._host.store

    @property
    def llm(self) -> LLM:
        """The default backend (LLM_BACKEND): personas without `backend:` and background work use it."""
        return self._host.backends.default_llm

    @property
    def backends(self) -> Backends:
        """Every configured backend, with the fallback order."""
        return self._host.backends

    @property
    def personas(self) -> PersonaRegistry:
        """The personas users can pick."""
        return self._host.personas

    @property
    def limits(self) -> ChatLimits:
        """The values this service was configured with."""
        return self._limits

    @property
    def links(self) -> Linker:
        """Joining one person's accounts on several platforms (/link)."""
        return self._links

    @property
    def facts(self) -> Facts:
        """Remembered facts and summaries (/remember, /memory, /forget)."""
        return self._facts

    @property
    def personal_data(self) -> PersonalData:
        """A person's data: export and erase (/export, /forget_me)."""
        return self._personal

    @property
    def summaries(self) -> Summarizer | None:
        """The background summarizer, or None when MEMORY_SUMMARY is off."""
        return self._host.summaries

    @property
    def deliveries(self) -> Deliveries:
        """Replies in flight on the platforms, and resolving those a crash interrupted."""
        return self._deliveries

    @property
    def closing(self) -> bool:
        """True once shutdown has begun: new turns are refused."""
        return self._tracker.closing

    # -- turns ------------------------------------------------------------------------

    def stream(
        self,
        conversation: ConversationLike,
        text: str,
        *,
        speaker: Speaker | None = None,
        quotes: Sequence[Quote] = (),
        metadata: dict[str, Any] | None = None,
        place: Mapping[str, Any] | None = None,
    ) -> Reply:
        """Start a turn: `speaker` says `text` in `conversation`; the reply as an async iterator of text chunks.

        `place` (where an adapter shows the reply) makes it a delivered reply: see `Reply`.
        A plain id names that person's private conversation (and them as the speaker). `quotes`
        (the replied-to message and its chain, nearest first) reach the prompt but are not stored.
        The conversation's place in line is taken now, before any await, so its turns are answered
        in the order this is called. Rejections (bad input, full line) surface when iteration
        starts, as UserFacingError, with nothing stored.
        """
        try:
            conversation = as_conversation(conversation)
            if speaker is None:
                if not conversation.private:
                    raise ValueError("a turn in a group conversation needs its speaker")
                speaker = Speaker.of(conversation.id)
            text = accepted_text(text, self.limits.max_message_chars)
            if self._tracker.closing:
                raise ServiceUnavailable(RESTARTING)
            self._check_line(speaker.person)
            if self._rate is not None:
                self._rate.check(speaker.person, self._clock())
        except UserFacingError as exc:
            return Reply.refused(self._host, exc, speaker)
        turn = Turn(conversation, speaker, text, tuple(quotes), dict(metadata or {}), place)
        return Reply(self._host, turn, self._lines.enter(conversation.id, speaker.person))

    async def reply(
        self, conversation: ConversationLike, text: str, *, speaker: Speaker | None = None,
        quotes: Sequence[Quote] = (), metadata: dict[str, Any] | None = None,
    ) -> Reply:  # fmt: skip
        """Run a whole turn and return the finished Reply (its `.text` is the answer)."""
        reply = self.stream(conversation, text, speaker=speaker, quotes=quotes, metadata=metadata)
        async with reply:
            async for _ in reply:
                pass
        return reply

    async def aclose(self) -> None:
        """Stop background work (summaries, the lease heartbeat); idempotent. Turns are ended by `shutdown`."""
        if self.summaries is not None:
            await self.summaries.aclose()
        await self._deliveries.aclose()
        if isinstance(self._lines, SharedSeats):
            await self._lines.aclose()

    async def shutdown(self, grace: float) -> None:
        """Refuse new turns, let running ones finish for `grace` seconds, then stop them.

        A stopped reply ends for its reader as an incomplete reply and is stored marked so;
        turns still waiting in line are refused. Nothing is left half-written.
        """
        tracker = self._tracker
        tracker.closing = True
        await self.aclose()  # background work stores nothing half-done; the next turn schedules it again
        running = tracker.running
        if not running:
            return
        log.info("shutdown_waiting", extra={"turns": running, "grace": grace})
        await tracker.settled(grace)
        late = tracker.stop_all()
        if not await tracker.settled(STOP_WAIT):
            await tracker.cancel_readers()
        log.info("shutdown_done", extra={"finished": running - late, "stopped": late})

    def waiting(self, person: str) -> int:
        """Turns this person started that are queued or running."""
        return self._lines.owned(person)

    def add_listener(self, listener: TurnListener) -> None:
        """Call `listener` with a TurnRecord after every turn (metrics, logs)."""
        self._tracker.add_listener(listener)

    def remove_listener(self, listener: TurnListener) -> None:
        """Stop calling `listener`; one that was never added is ignored."""
        self._tracker.remove_listener(listener)

    def _check_line(self, person: str) -> None:
        limit = self.limits.max_pending_per_user
        if limit is not None and self._lines.owned(person) > limit:
            raise Busy("You have too many messages waiting for an answer. Please wait for my replies.")

    # -- sessions and memory ----------------------------------------------------------------

    async def resolve(self, conversation: ConversationLike) -> str:
        """The id that holds the conversation's data: a linked person's private conversation is their shared one."""
        conversation = as_conversation(conversation)
        if conversation.private:
            record = await self.store.person(conversation.id)
            if record is not None:
                return record.conversation
        return conversation.id

    async def get_persona(self, conversation: ConversationLike) -> Persona:
        """The persona that answers in this conversation now."""
        session = await self.store.get_session(await self.resolve(conversation))
        return self.personas.resolve(session.persona if session else None)

    async def set_persona(self, conversation: ConversationLike, name: str, *, manager: bool = True) -> Persona:
        """Switch the conversation's persona; UnknownPersona lists the valid names. History is kept.

        In a shared conversation only its managers (`manager`) may: it changes what everyone hears.
        """
        conversation = as_conversation(conversation)
        require_manager(conversation, manager)
        persona = self.personas.get(name)
        conversation_id = await self.resolve(conversation)
        await self.store.set_persona(conversation_id, persona.name, self._clock())
        log.info("persona_set", extra={"conversation_id": conversation_id, "persona": persona.name})
        return persona

    async def start_session(self, conversation: ConversationLike, persona: str | None = None) -> Session:
        """Create (or refresh) the conversation's session, optionally with a persona."""
        if persona is not None:
            await self.set_persona(conversation, persona)
        return await self.store.touch(await self.resolve(conversation), self.personas.default, self._clock())

    async def session(self, conversation: ConversationLike) -> Session | None:
        return await self.store.get_session(await self.resolve(conversation))

    async def reset(self, conversation: ConversationLike, *, manager: bool = True) -> bool:
        """Forget the conversation's history, summary, facts and persona choice; True if there was anything.

        In a shared conversation only its managers may: it is everyone's memory.
        """
        conversation = as_conversation(conversation)
        require_manager(conversation, manager)
        conversation_id = await self.resolve(conversation)
        cleared = await self.store.clear(conversation_id)
        log.info("memory_reset", extra={"conversation_id": conversation_id, "cleared": cleared})
        return cleared

    async def history(
        self, conversation: ConversationLike, limit: int = 20, before: int | None = None
    ) -> list[Message]:
        """The conversation's messages, newest last."""
        return await self.store.history(await self.resolve(conversation), max(0, limit), before)

    def list_personas(self) -> list[Persona]:
        return self.personas.all()

    def reload_personas(self) -> list[str]:
        """Re-read persona files; keeps the current set (and raises PersonaConfigError) if any is bad."""
        return self.personas.reload()

    async def active_page(self, offset: int = 0, limit: int = 50) -> ActivePage:
        """Sessions active within SESSION_TIMEOUT, most recent first, and how many there are in all."""
        return await self.store.active_page(self._active_since(), offset, limit)

    async def count_active(self) -> int:
        return await self.store.count_active(self._active_since())

    def _active_since(self) -> float:
        return self._clock() - self.limits.session_timeout
