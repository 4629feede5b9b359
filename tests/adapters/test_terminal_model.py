"""End to end with the real SmolLM2: `nono chat` prints what a direct greedy generation produces."""

from __future__ import annotations

import io

import pytest

from nono.adapters.terminal import run_terminal
from nono.core.chat import ChatService
from nono.core.llm.base import ChatMessage

pytestmark = pytest.mark.slow


async def test_terminal_reply_equals_direct_greedy_generation_and_is_stored(sqlite_store, local_llm, greedy_registry):
    from tests.support.greedy import greedy_reply

    registry = greedy_registry
    chat = ChatService(sqlite_store, local_llm, registry)
    stdout = io.StringIO()

    await run_terminal(chat, "terminal:alice", io.StringIO("What is the capital of France?\n"), stdout)

    persona = registry.get("greedy")
    expected = greedy_reply(
        local_llm,
        [ChatMessage("system", persona.system_prompt), ChatMessage("user", "What is the capital of France?")],
        persona.max_tokens,
    )
    assert expected.strip()
    assert stdout.getvalue() == expected + "\n"
    history = await chat.history("terminal:alice")
    assert [(m.role, m.content) for m in history] == [
        ("user", "What is the capital of France?"),
        ("assistant", expected),
    ]
