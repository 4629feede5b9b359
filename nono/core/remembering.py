"""Remembered facts: notes a conversation asked Nono to keep (/remember, /memory, /forget, REST).

A fact is text the model will read, so it is cleaned like a display name (no control characters,
no chat-template markers) and capped; it reaches every prompt of its own conversation only, as a
note rather than an instruction. The numbers people see are positions in /memory; the stable ids
are for REST.
"""

from __future__ import annotations

import logging
import secrets
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nono.core.errors import InvalidInput, MemoryFull, NotAllowed, NotFound
from nono.core.llm.base import LLM
from nono.core.memory import facts_that_fit
from nono.core.people import Conversation, strip_markers
from nono.core.personas import PersonaRegistry
from nono.core.store.base import Fact, Store, Summary
from nono.core.wording import MANAGERS_ONLY

log = logging.getLogger(__name__)

MAX_FACT_CHARS = 500
_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


@dataclass(frozen=True)
class FactLimits:
    """How many facts a conversation keeps, and how many tokens of them a prompt shows."""

    max_facts: int = 50
    facts_tokens: int = 256


@dataclass(frozen=True)
class MemoryView:
    """What a conversation remembers: its facts (oldest first), how many of the newest a prompt shows, its summary."""

    facts: list[Fact]
    shown: int
    summary: Summary | None

    def in_prompt(self, index: int) -> bool:
        """Whether the fact at `index` (0-based, oldest first) reaches the model."""
        return index >= len(self.facts) - self.shown


@dataclass(frozen=True)
class Remembered:
    """A fact just stored, its number in /memory, and whether older facts now fall outside the prompt."""

    fact: Fact
    number: int
    crowded: bool


def clean_fact(text: object) -> str:
    """A fact as stored: one line, no control characters or template markers, at most 500 characters."""
    raw = text if isinstance(text, str) else ""
    flat = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in raw)
    fact = " ".join(strip_markers(flat).split())
    if not fact:
        raise InvalidInput("Tell me what to remember, like /remember I prefer short answers.")
    if len(fact) > MAX_FACT_CHARS:
        raise InvalidInput(f"A fact can be at most {MAX_FACT_CHARS} characters long (this one has {len(fact)}).")
    return fact


def new_fact_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def require_manager(conversation: Conversation, manager: bool) -> None:
    """In a shared conversation, only the people who manage its place may change what everyone shares."""
    if conversation.shared and not manager:
        raise NotAllowed(MANAGERS_ONLY)


class Facts:
    """Facts and the summary of conversations, by conversation (callers resolve links first)."""

    def __init__(
        self,
        store: Store,
        llm: LLM,
        personas: PersonaRegistry,
        limits: FactLimits,
        clock: Callable[[], float],
        resolve: Callable[[Conversation], Awaitable[str]],
    ) -> None:
        self._store, self._llm, self._personas = store, llm, personas
        self.limits = limits
        self._clock = clock
        self._resolve = resolve

    async def remember(self, conversation: Conversation, text: str, author: str, *, manager: bool = True) -> Remembered:
        """Keep `text` as a fact of the conversation (managers only in a shared one)."""
        require_manager(conversation, manager)
        fact = await self.add(await self._resolve(conversation), text, author)
        view = await self.view(conversation)
        return Remembered(fact, len(view.facts), view.shown < len(view.facts))

    async def view(self, conversation: Conversation) -> MemoryView:
        conversation_id = await self._resolve(conversation)
        facts = await self._store.facts(conversation_id)
        summary = await self._store.get_summary(conversation_id)
        shown = facts_that_fit(self._llm, facts, self.limits.facts_tokens)
        return MemoryView(facts, shown, None if summary is None or summary.dropped else summary)

    async def forget(self, conversation: Conversation, which: str, *, manager: bool = True) -> int:
        """Remove fact number `which` (as /memory numbers them) or `all`; how many went."""
        require_manager(conversation, manager)
        conversation_id = await self._resolve(conversation)
        if which.strip().lower() == "all":
            return await self._store.delete_facts(conversation_id)
        facts = await self._store.facts(conversation_id)
        if not which.strip().isdigit() or not 1 <= int(which) <= len(facts):
            valid = f"a number from 1 to {len(facts)}, or all" if facts else "nothing: there are no facts"
            raise InvalidInput(f"/forget takes the number of a fact from /memory: {valid}.")
        return await self._store.delete_facts(conversation_id, [facts[int(which) - 1].id])

    # -- by id (REST) ---------------------------------------------------------------------

    async def add(self, conversation_id: str, text: str, author: str | None) -> Fact:
        """Store a fact; InvalidInput when it is empty or too long, or the conversation is full."""
        fact = Fact(new_fact_id(), clean_fact(text), self._clock(), author)
        limit = self.limits.max_facts
        if not await self._store.add_fact(conversation_id, fact, self._personas.default, self._clock(), limit):
            raise MemoryFull(f"This conversation already remembers {limit} facts. Remove one with /forget first.")
        log.info("fact_remembered", extra={"conversation_id": conversation_id, "fact_id": fact.id})
        return fact

    async def facts(self, conversation_id: str) -> list[Fact]:
        return await self._store.facts(conversation_id)

    async def delete(self, conversation_id: str, fact_id: str) -> None:
        """Remove one fact by id; NotFound when there is none."""
        if not await self._store.delete_facts(conversation_id, [fact_id]):
            raise NotFound(f"No fact {fact_id!r} in conversation {conversation_id}.")
        log.info("fact_forgotten", extra={"conversation_id": conversation_id, "fact_id": fact_id})

    async def summary(self, conversation_id: str) -> Summary | None:
        record = await self._store.get_summary(conversation_id)
        return None if record is None or record.dropped else record
