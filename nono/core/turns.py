"""A turn: what a person said where (its input), and what happened (handed to listeners after it ends)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from nono.core.llm.base import LLM, ChatMessage, GenerationOptions
from nono.core.memory import NewMessage, Quote, Recall, build_prompt
from nono.core.models import Message
from nono.core.people import Conversation, Speaker
from nono.core.personas import Persona
from nono.core.store.base import Context

if TYPE_CHECKING:
    from nono.core.turn_host import TurnLimits


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

    def question(self, received_at: float) -> Message:
        """What the person said, as stored (with who said it)."""
        speaker = self.speaker
        return Message("user", self.text, received_at, self.metadata, None, speaker.person, speaker.name)

    def exchange(
        self, received_at: float, reply: str, persona: str, answered_at: float, *, incomplete: bool
    ) -> list[Message]:
        """The two messages a finished turn stores: what the person said, and the reply (marked if cut short)."""
        meta = {"incomplete": True} if incomplete else {}
        answer = Message("assistant", reply, answered_at, {"persona": persona, **meta})
        return [self.question(received_at), answer]

    def prompt(
        self, llm: LLM, *, persona: Persona, context: Context, limits: TurnLimits, own: bool = True
    ) -> tuple[list[ChatMessage], GenerationOptions]:
        """The prompt and generation options of this turn, read `context`, answered by `persona` through `llm`.

        The prompt is cut to `llm`'s token count. `own`: `llm` is the persona's own backend, so its
        `model:` applies; a backend standing in for it (LLM_FALLBACK) answers with its own model.
        """
        new = NewMessage(self.text, self.speaker.name, self.quotes)
        recall = Recall(context.facts, context.summary, limits.memory_facts_tokens, limits.memory_summary_tokens)
        shared = self.conversation.shared
        messages = build_prompt(llm, persona, context.messages, new, limits.num_ctx, shared=shared, recall=recall)
        options = GenerationOptions(
            temperature=persona.temperature, max_tokens=persona.max_tokens, top_p=persona.top_p,
            model=persona.model if own else None, num_ctx=limits.num_ctx,
        )  # fmt: skip
        return messages, options


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
    #: The backend that answered (None: the turn never reached a model).
    backend: str | None = None
    #: Backends that failed before their first chunk and were stood in for, in order (LLM_FALLBACK).
    fell_back: tuple[str, ...] = ()
    #: What the person said and what was answered: for a listener logging them (only with LOG_MESSAGE_TEXT).
    text: str = ""
    reply: str = ""

    @property
    def latency(self) -> float | None:
        return None if self.started is None or self.finished is None else self.finished - self.started

    @property
    def time_to_first_token(self) -> float | None:
        return None if self.started is None or self.first_token is None else self.first_token - self.started


#: Called with each ended turn's record; it must not block (it runs in the turn's task).
TurnListener: TypeAlias = Callable[[TurnRecord], None]
