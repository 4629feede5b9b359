"""ChatService: the one use case. A user says something; Nono answers in their persona's voice."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nono.core.errors import Busy, EmptyMessage, MessageTooLong, ServiceUnavailable, UserFacingError
from nono.core.lines import UserLines
from nono.core.llm.base import LLM
from nono.core.models import ActivePage, Message, Session
from nono.core.personas import Persona, PersonaRegistry
from nono.core.ratelimit import RateLimiter
from nono.core.reply import RESTARTING, Reply
from nono.core.store.base import Store
from nono.core.turns import TurnRecord
from nono.core.users import validate_user_id

log = logging.getLogger(__name__)

#: After shutdown's grace, how long stopped replies get to reach their reader and be stored before
#: the tasks reading them are cancelled (a reader stuck on its platform never asks for the end).
STOP_WAIT = 2.0


@dataclass(frozen=True)
class ChatLimits:
    """Plain values the core is configured with (built from Settings by the wiring)."""

    max_context_messages: int = 20
    num_ctx: int = 2048
    max_message_chars: int = 4000
    max_reply_chars: int = 16000
    session_timeout: float = 3600.0
    max_pending_per_user: int | None = None
    rate_limit_per_minute: int | None = None


def clean_text(text: str) -> str:
    """Make user text safe to store and tokenize: drop NUL bytes, replace lone surrogates."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8") if _has_surrogates(text) else text


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class ChatService:
    """Streams replies, keeps memory, switches personas. Knows nothing of any platform."""

    def __init__(
        self,
        store: Store,
        llm: LLM,
        personas: PersonaRegistry,
        limits: ChatLimits = ChatLimits(),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.llm = llm
        self.personas = personas
        self.limits = limits
        self._clock = clock
        self._lines = UserLines()
        self._generating: dict[Reply, asyncio.Task] = {}  # replies generating now, and their readers
        self._idle = asyncio.Event()  # set while nothing is generating
        self._idle.set()
        self.closing = False
        per_minute = limits.rate_limit_per_minute
        self._rate = RateLimiter(per_minute) if per_minute else None
        self._listeners: list[Callable[[TurnRecord], None]] = []

    # -- turns ------------------------------------------------------------------------

    def stream(self, user_id: str, text: str, *, metadata: dict[str, Any] | None = None) -> Reply:
        """Start a turn: the reply as an async iterator of text chunks.

        The user's place in line is taken now, before any await, so turns of one user are
        answered in the order this is called. Rejections (bad input, full line) surface
        when iteration starts, as UserFacingError, with nothing stored.
        """
        try:
            user_id = validate_user_id(user_id)
            text = self._check_text(text)
            if self.closing:
                raise ServiceUnavailable(RESTARTING)
            self._check_line(user_id)
            if self._rate is not None:
                self._rate.check(user_id, self._clock())
        except UserFacingError as exc:
            return Reply(self, user_id if isinstance(user_id, str) else "?", "", None, metadata, error=exc)
        return Reply(self, user_id, text, self._lines.enter(user_id), metadata)

    async def reply(self, user_id: str, text: str, *, metadata: dict[str, Any] | None = None) -> Reply:
        """Run a whole turn and return the finished Reply (its `.text` is the answer)."""
        reply = self.stream(user_id, text, metadata=metadata)
        async with reply:
            async for _ in reply:
                pass
        return reply

    async def shutdown(self, grace: float) -> None:
        """Refuse new turns, let running ones finish for `grace` seconds, then stop them.

        A stopped reply ends for its reader as an incomplete reply and is stored marked so;
        turns still waiting in line are refused. Nothing is left half-written.
        """
        self.closing = True
        running = len(self._generating)
        if not running:
            return
        log.info("shutdown_waiting", extra={"turns": running, "grace": grace})
        await self._settled(grace)
        late = list(self._generating)
        for reply in late:
            reply.stop()
        if not await self._settled(STOP_WAIT):
            stuck = list(self._generating.values())
            for task in stuck:
                task.cancel()  # the reply is stored as it is when the cancel lands
            await asyncio.gather(*stuck, return_exceptions=True)
        log.info("shutdown_done", extra={"finished": running - len(late), "stopped": len(late)})

    async def _settled(self, timeout: float) -> bool:
        """Wait until no reply is generating; False if `timeout` seconds pass first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _turn_started(self, reply: Reply) -> None:
        self._generating[reply] = asyncio.current_task()
        self._idle.clear()

    def _turn_ended(self, reply: Reply) -> None:
        self._generating.pop(reply, None)
        if not self._generating:
            self._idle.set()

    def waiting(self, user_id: str) -> int:
        """Turns of this user queued or running."""
        return self._lines.waiting(user_id)

    def add_listener(self, listener: Callable[[TurnRecord], None]) -> None:
        """Call `listener` with a TurnRecord after every turn (metrics, logs)."""
        self._listeners.append(listener)

    def _check_text(self, text: str) -> str:
        if not isinstance(text, str) or not text.strip():
            raise EmptyMessage()
        text = clean_text(text)
        if len(text) > self.limits.max_message_chars:
            raise MessageTooLong(len(text), self.limits.max_message_chars)
        if not text.strip():
            raise EmptyMessage()
        return text

    def _check_line(self, user_id: str) -> None:
        limit = self.limits.max_pending_per_user
        if limit is not None and self._lines.waiting(user_id) > limit:
            raise Busy("You have too many messages waiting for an answer. Please wait for my replies.")

    def _notify(self, record: TurnRecord) -> None:
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:  # a broken metrics hook must not break a user's turn
                log.exception("turn_listener_failed")

    # -- sessions and memory ----------------------------------------------------------------

    async def get_persona(self, user_id: str) -> Persona:
        """The persona that answers this user now."""
        session = await self.store.get_session(validate_user_id(user_id))
        return self.personas.resolve(session.persona if session else None)

    async def set_persona(self, user_id: str, name: str) -> Persona:
        """Switch the user's persona; UnknownPersona lists the valid names. History is kept."""
        user_id = validate_user_id(user_id)
        persona = self.personas.get(name)
        await self.store.set_persona(user_id, persona.name, self._clock())
        log.info("persona_set", extra={"user_id": user_id, "persona": persona.name})
        return persona

    async def start_session(self, user_id: str, persona: str | None = None) -> Session:
        """Create (or refresh) the user's session, optionally with a persona."""
        user_id = validate_user_id(user_id)
        if persona is not None:
            await self.set_persona(user_id, persona)
        return await self.store.touch(user_id, self.personas.default, self._clock())

    async def session(self, user_id: str) -> Session | None:
        return await self.store.get_session(validate_user_id(user_id))

    async def reset(self, user_id: str) -> bool:
        """Forget the user's history and persona choice; True if there was anything."""
        user_id = validate_user_id(user_id)
        cleared = await self.store.clear(user_id)
        log.info("memory_reset", extra={"user_id": user_id, "cleared": cleared})
        return cleared

    async def history(self, user_id: str, limit: int = 20, before: int | None = None) -> list[Message]:
        """The user's messages, newest last."""
        return await self.store.history(validate_user_id(user_id), max(0, limit), before)

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
