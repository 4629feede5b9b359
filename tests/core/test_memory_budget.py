"""The prompt window: newest messages first, cut to the token budget, never a silent truncation."""

from __future__ import annotations

import pytest

from nono.core.chat import ChatLimits, ChatService
from nono.core.errors import ContextOverflow
from nono.core.llm.base import MESSAGE_OVERHEAD_TOKENS
from nono.core.llm.fake import FakeLLM
from nono.core.memory import build_prompt, token_budget
from nono.core.models import Message

USER = "rest:budget"


def words(text: str) -> int:
    return len(text.split())


def test_budget_is_context_minus_reply_minus_system(registry):
    llm = FakeLLM(count_tokens=words)
    persona = registry.get("assistant")
    expected = 2048 - persona.max_tokens - (words(persona.system_prompt) + MESSAGE_OVERHEAD_TOKENS)
    assert token_budget(llm, persona, 2048) == expected


def test_oldest_messages_are_dropped_whole_to_fit(registry):
    llm = FakeLLM(count_tokens=words)
    persona = registry.get("assistant")
    budget = token_budget(llm, persona, 1024)
    # Each history message costs 50 words + overhead; the new message 10 words + overhead.
    window = [Message("user" if i % 2 == 0 else "assistant", f"m{i} " + "w " * 49, float(i)) for i in range(20)]
    prompt = build_prompt(llm, persona, window, "new " * 10, 1024)
    per = 50 + MESSAGE_OVERHEAD_TOKENS
    fits = (budget - (10 + MESSAGE_OVERHEAD_TOKENS)) // per
    assert len(prompt) == 1 + fits + 1
    assert [m.content.split()[0] for m in prompt[1:-1]] == [f"m{i}" for i in range(20 - fits, 20)]
    assert prompt[-1].content == "new " * 10


def test_newest_message_that_cannot_fit_is_refused_not_cut(registry):
    llm = FakeLLM(count_tokens=words)
    persona = registry.get("assistant")
    with pytest.raises(ContextOverflow) as info:
        build_prompt(llm, persona, [], "word " * 2000, 1024)
    assert "too long" in str(info.value)


async def test_a_turn_reads_only_the_window_of_a_long_history(sqlite_store, registry):
    llm = FakeLLM()
    chat = ChatService(sqlite_store, llm, registry, ChatLimits(max_context_messages=6))
    for n in range(10):
        llm.enqueue(f"answer {n}")
        await chat.reply(USER, f"question {n}")
    llm.enqueue("last")
    await chat.reply(USER, "final")
    sent = [m.content for m in llm.history[-1].messages[1:]]
    assert sent == ["question 7", "answer 7", "question 8", "answer 8", "question 9", "answer 9", "final"]
    assert len(await chat.history(USER, 100)) == 22


async def test_context_overflow_reaches_the_user_and_stores_nothing(sqlite_store, registry):
    llm = FakeLLM(count_tokens=words)
    chat = ChatService(sqlite_store, llm, registry, ChatLimits(num_ctx=1024))
    with pytest.raises(ContextOverflow):
        await chat.reply(USER, "w " * 900)
    assert llm.history == [] and await chat.history(USER) == []
