"""Which part of the history goes into a prompt: the newest messages that fit the token budget."""

from __future__ import annotations

from collections.abc import Sequence

from nono.core.errors import ContextOverflow
from nono.core.llm.base import LLM, MESSAGE_OVERHEAD_TOKENS, ChatMessage
from nono.core.models import Message
from nono.core.personas import Persona


def token_budget(llm: LLM, persona: Persona, num_ctx: int) -> int:
    """Tokens left for history and the new message: context − reply budget − system prompt."""
    system = llm.count_tokens(persona.system_prompt) + MESSAGE_OVERHEAD_TOKENS
    return num_ctx - persona.max_tokens - system


def build_prompt(llm: LLM, persona: Persona, window: Sequence[Message], text: str, num_ctx: int) -> list[ChatMessage]:
    """System prompt + the newest contiguous part of `window` that fits + the new message.

    Raises ContextOverflow when the new message alone does not fit: we never cut a
    user's words silently. Older messages are dropped whole, oldest first.
    """
    budget = token_budget(llm, persona, num_ctx)
    needed = llm.count_tokens(text) + MESSAGE_OVERHEAD_TOKENS
    if needed > budget:
        raise ContextOverflow(needed, max(budget, 0))
    left = budget - needed
    kept: list[ChatMessage] = []
    for message in reversed(window):
        cost = llm.count_tokens(message.content) + MESSAGE_OVERHEAD_TOKENS
        if cost > left:
            break
        left -= cost
        kept.append(ChatMessage(message.role, message.content))
    kept.reverse()
    return [ChatMessage("system", persona.system_prompt), *kept, ChatMessage("user", text)]
