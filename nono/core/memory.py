"""What goes into a prompt: the persona, the newest messages that fit the token budget, quoted context.

Only the turn's own conversation is ever read for it (the privacy rule); this module decides
how much of it, and how it reads to the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nono.core.errors import ContextOverflow
from nono.core.llm.base import LLM, MESSAGE_OVERHEAD_TOKENS, ChatMessage
from nono.core.models import Message
from nono.core.people import clean_name
from nono.core.personas import Persona

QUOTES_HEADER = "(Replying to:)"


@dataclass(frozen=True)
class Quote:
    """A message the new one replies to, or one further up that reply chain: context, never stored as said."""

    author: str
    text: str

    def render(self) -> str:
        lines = self.text.strip().splitlines() or [""]
        return "\n".join([f"> {clean_name(self.author)}: {lines[0]}", *(f"> {line}" for line in lines[1:])])


@dataclass(frozen=True)
class NewMessage:
    """The message a turn answers: its text, who said it (named when the conversation is shared), what it quotes.

    `quotes` go nearest first: the replied-to message, then the one it replied to, and so on.
    """

    text: str
    speaker_name: str | None = None
    quotes: Sequence[Quote] = ()


def token_budget(llm: LLM, persona: Persona, num_ctx: int) -> int:
    """Tokens left for history and the new message: context − reply budget − system prompt."""
    system = llm.count_tokens(persona.system_prompt) + MESSAGE_OVERHEAD_TOKENS
    return num_ctx - persona.max_tokens - system


def said(message: Message, shared: bool) -> str:
    """A stored message as the model reads it: in a shared conversation, user messages name their speaker."""
    if shared and message.role == "user" and message.speaker_name:
        return f"{message.speaker_name}: {message.content}"
    return message.content


def build_prompt(
    llm: LLM,
    persona: Persona,
    window: Sequence[Message],
    new: NewMessage | str,
    num_ctx: int,
    *,
    shared: bool = False,
) -> list[ChatMessage]:
    """System prompt + the newest contiguous part of `window` that fits + quoted context + the new message.

    Raises ContextOverflow when the new message alone does not fit: we never cut a user's words
    silently. Then quotes are kept nearest first and the window newest first, each whole or not
    at all, until the budget is spent: what is dropped is always the oldest.
    """
    if isinstance(new, str):
        new = NewMessage(new)
    text = f"{new.speaker_name}: {new.text}" if shared and new.speaker_name else new.text
    budget = token_budget(llm, persona, num_ctx)
    needed = llm.count_tokens(text) + MESSAGE_OVERHEAD_TOKENS
    if needed > budget:
        raise ContextOverflow(needed, max(budget, 0))
    left = budget - needed
    quoted: list[str] = []
    for quote in new.quotes:
        line = quote.render()
        cost = llm.count_tokens(line) + 1  # +1: the line break that joins it
        if not quoted:
            cost += llm.count_tokens(QUOTES_HEADER) + 2
        if cost > left:
            break
        left -= cost
        quoted.append(line)
    kept: list[ChatMessage] = []
    for message in reversed(window):
        content = said(message, shared)
        cost = llm.count_tokens(content) + MESSAGE_OVERHEAD_TOKENS
        if cost > left:
            break
        left -= cost
        kept.append(ChatMessage(message.role, content))
    kept.reverse()
    if quoted:
        quoted.reverse()  # oldest of the chain first, as it was said
        text = "\n".join([QUOTES_HEADER, *quoted, "", text])
    return [ChatMessage("system", persona.system_prompt), *kept, ChatMessage("user", text)]
