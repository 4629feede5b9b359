"""A turn in progress: the reply streamed to the adapter, then stored (complete, incomplete, or not at all)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING

from nono.core.chunks import ChunkReader, ReadingStopped
from nono.core.errors import ServiceUnavailable, UserFacingError
from nono.core.fallback import open_first
from nono.core.flight import Flight
from nono.core.llm.base import close_stream
from nono.core.models import Message
from nono.core.people import Conversation, Speaker
from nono.core.personas import Persona
from nono.core.seats import SharedTicket
from nono.core.store.base import Context
from nono.core.store.inflight import Progress
from nono.core.store.lines import SeatRequest, Waiting
from nono.core.turn_host import TurnHost
from nono.core.turns import Turn, TurnRecord
from nono.core.users import platform_of
from nono.core.wording import RESTARTING

if TYPE_CHECKING:
    from nono.core.lines import Ticket

log = logging.getLogger(__name__)

#: Stands in for the turn of a reply refused before it started.
_NOBODY = Speaker("?:?", "?")


class Reply:
    """One turn in progress: iterate it for chunks; afterwards `.text` holds the whole reply.

    Closing it early (or cancelling the task that iterates it) stores what was generated,
    marked incomplete. `stop()` (shutdown) ends it at once but normally: the reader gets
    the end of the stream, with `incomplete` set. Use `async with` (or `await aclose()`) so
    an abandoned reply gives its place in line back.

    A reply with a `place` is delivered: the adapter calls `shown()` for each new platform
    message and `delivered()` once the platform accepted the final text; until then the turn
    is not stored (closing it without `delivered()` stores it incomplete) and the person's next
    turn waits, so it reads this one.
    """

    def __init__(
        self, host: TurnHost, turn: Turn, ticket: Ticket | SharedTicket | None, error: UserFacingError | None = None
    ) -> None:
        self._host = host
        self.turn = turn
        #: Where the turn was stored: the conversation's id, or the linked one it resolved to (set once loaded).
        self.conversation_id: str = turn.conversation.id
        self._ticket = ticket
        self._error = error
        self._gen: AsyncGenerator[str] | None = None
        self.parts: list[str] = []
        self._length = 0  # len(self.text), kept so capping each chunk costs O(1)
        self.persona: Persona | None = None
        self.incomplete = False
        self._reader = ChunkReader()
        self._flight = Flight(host.deliveries, turn.place)
        self._undelivered: float | None = None  # generated, stored once delivery ends: when it was received

    @classmethod
    def refused(cls, host: TurnHost, error: UserFacingError, speaker: Speaker | None = None) -> Reply:
        """A reply that raises `error` when read, having taken no place in line and stored nothing."""
        return cls(host, Turn(Conversation("?:?"), speaker or _NOBODY, ""), None, error)

    @property
    def user_id(self) -> str:
        """The person who spoke."""
        return self.turn.speaker.person

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def refusal(self) -> UserFacingError | None:
        """Why the turn was refused when it was started (bad input, full line, rate limit), else None.

        Iterating a refused reply raises this error. A caller that acts before the turn runs
        (a persona switch) checks it first, so that a refused request changes nothing.
        """
        return self._error

    async def entered(self) -> None:
        """Return once the turn holds its place in line: at once in one process's lines; in a shared line,
        once its seat is taken (or the turn ended before that). Only needs its iteration to have started.

        An adapter that acknowledges a message (a webhook's 200) waits for this first, so the next
        message, whichever process it reaches, is behind this one.
        """
        if self._ticket is not None:
            await self._ticket.entered()

    async def admitted(self) -> bool:
        """Whether the turn may run: False when it was refused (bad input, full line, limits, in any process).

        A caller that acts before the turn runs (a persona switch) asks this first, so that a refused
        request changes nothing; iterating a refused reply raises the refusal.
        """
        if self._error is None and self._ticket is not None:
            try:
                await self._ticket.admit()  # the shared limits are decided in the store
            except UserFacingError as exc:
                self._error = exc
        return self._error is None

    def __aiter__(self) -> Reply:
        return self

    async def __anext__(self) -> str:
        if self._gen is None:
            self._gen = self._run()
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        """Stop the turn; a partial reply is stored marked incomplete (so is one never `delivered()`)."""
        if self._gen is not None:
            await self._gen.aclose()
        elif self._ticket is not None:
            await self._leave()
        if self._undelivered is not None:
            log.warning("turn_undelivered", extra={"conversation_id": self.conversation_id})
            await self._settle(delivered=False)

    def progress(self) -> Progress:
        """What the platform shows of this reply so far (for the record in flight)."""
        return Progress(tuple(self._flight.message_ids), self.text)

    async def shown(self, message_id: object) -> None:
        """The adapter created a platform message for this reply: record its id (one store write)."""
        await self._flight.shown(message_id, self.progress)

    async def delivered(self) -> None:
        """The platform accepted the final text: store the turn (complete unless cut short) and settle it."""
        if self._undelivered is not None:
            await self._settle(delivered=True)

    async def _settle(self, *, delivered: bool) -> None:
        received_at, self._undelivered = self._undelivered, None
        assert received_at is not None
        self.incomplete = self.incomplete or not delivered
        try:
            await self._save(received_at)
        finally:
            if self._ticket is not None:
                await self._leave()

    async def _leave(self) -> None:
        """Give the place in line up; a seat in a shared line is freed in the store before this returns."""
        assert self._ticket is not None
        freeing = self._ticket.leave()
        if freeing is not None:
            with contextlib.suppress(asyncio.CancelledError):  # the freeing goes on, shielded, if we are cancelled
                await asyncio.shield(freeing)

    def stop(self) -> None:
        """End the reply at its next chunk, or now if it is waiting for one; what was said is kept, marked."""
        self._reader.stop()

    async def __aenter__(self) -> Reply:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _run(self) -> AsyncGenerator[str]:
        person = self.user_id
        record = TurnRecord(person, platform_of(person) if ":" in person and person != _NOBODY.person else "?")
        record.text = self.turn.text
        try:
            if self._error is not None:
                raise self._error
            assert self._ticket is not None  # only a refused reply (raised above) has none
            await self._ticket.wait()
            tracker = self._host.tracker
            if tracker.closing:  # queued behind a turn that ended during shutdown
                raise ServiceUnavailable(RESTARTING)
            record.started = time.monotonic()
            tracker.started(self)
            try:
                async with aclosing(self._generate(record)) as chunks:
                    async for chunk in chunks:
                        yield chunk
            finally:
                tracker.ended(self)
            record.outcome = "incomplete" if self.incomplete else "ok"
        except UserFacingError as exc:
            record.outcome, record.error = "error", exc.code
            raise
        finally:
            if self._ticket is not None and self._undelivered is None:
                await self._leave()  # a reply still being delivered leaves once it is stored
            record.finished = time.monotonic()
            record.reply = self.text
            record.chars = len(record.reply)
            self._host.tracker.notify(record)

    async def _generate(self, record: TurnRecord) -> AsyncGenerator[str]:
        host, turn = self._host, self.turn
        received_at = host.clock()
        limits = host.limits
        flight = self._flight
        context = await self._load(turn.question(received_at))
        self.conversation_id = context.conversation_id
        self.persona = persona = host.personas.resolve(context.session.persona if context.session else None)
        record.persona = persona.name
        finished = stopped = False
        stream: AsyncIterator[str] | None = None
        await host.gate.enter()  # a background summary gives the model up first
        try:
            # The chunk loop is written out flat (no generator per concern): every layer costs
            # each chunk of each reply, 100,000 chunks when 1,000 replies stream (bench P4).
            reader = self._reader
            try:
                prompt_for = partial(turn.prompt, persona=persona, context=context, limits=limits)
                stream, chunk = await open_first(host.backends.chain(persona.backend), prompt_for, reader, record)
                while chunk is not None:
                    if chunk:
                        if record.first_token is None:
                            record.first_token = time.monotonic()
                        chunk = self._cap(chunk)
                        self.parts.append(chunk)
                        record.chunks += 1
                        yield chunk
                        if self.incomplete:  # hit MAX_REPLY_CHARS
                            break
                    chunk = await reader.next(stream)
            except ReadingStopped:
                self._stopped()
            finished = True
        except (GeneratorExit, asyncio.CancelledError):
            stopped = True  # the reader went away (stop, shutdown): keep what was said, marked
            raise
        finally:
            try:
                if stream is not None:
                    await close_stream(stream)
            finally:
                host.gate.leave()
                # A failed generation stores nothing; a stopped one stores its part, marked incomplete.
                if finished or (stopped and self.parts):
                    self.incomplete = self.incomplete or not finished
                    if flight.recorded:
                        self._undelivered = received_at  # stored when the adapter says how delivery ended
                    else:
                        await self._save(received_at)
                else:
                    await flight.give_up(host.store)

    async def _load(self, question: Message) -> Context:
        """The turn's read; in a shared line, once the turn's seat reaches the head."""
        host, flight, ticket = self._host, self._flight, self._ticket
        assert ticket is not None  # a refused reply never reads
        conversation_id, window = self.turn.conversation.id, host.limits.max_context_messages

        def load(seat: SeatRequest | None) -> Awaitable[Context | Waiting]:
            return flight.load(host.store, conversation_id, window, question, self.progress, seat)

        return await ticket.seated(load)

    def _stopped(self) -> None:
        """End the reply as incomplete; with nothing said yet, tell the user why instead."""
        if not self.parts:  # nothing said yet: nothing worth keeping, tell the user why
            raise ServiceUnavailable(RESTARTING)
        self.incomplete = True

    def _cap(self, chunk: str) -> str:
        room = self._host.limits.max_reply_chars - self._length
        if len(chunk) >= room:
            self.incomplete = True
            chunk = chunk[: max(room, 0)]
        self._length += len(chunk)
        return chunk

    async def _save(self, received_at: float) -> None:
        """Store the user's message and the reply together."""
        host, persona, ticket = self._host, self.persona, self._ticket
        assert persona is not None and ticket is not None  # set before the first chunk; only a turn that read stores
        now = host.clock()
        messages = self.turn.exchange(received_at, self.text, persona.name, now, incomplete=self.incomplete)
        stored = self._flight.store_turn(host.store, self.conversation_id, persona.name, messages, now, ticket.fence)
        if (session := await stored) is None:  # another process resolved this reply, or took the line, meanwhile
            return
        ticket.stored()  # the write freed the seat, if the line is the store's
        host.stored(self.conversation_id, session)
        about = {"conversation_id": self.conversation_id, "user_id": self.user_id, "persona": persona.name}
        log.info("turn_stored", extra={**about, "incomplete": self.incomplete})
