"""End to end with the real SmolLM2: a Discord DM answered at temperature 0 equals a direct greedy generation."""

from __future__ import annotations

import pytest

from nono.core.chat import ChatService
from nono.core.llm.base import ChatMessage

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"


@pytest.fixture
def chat(sqlite_store, local_llm, greedy_registry) -> ChatService:
    """The bot under test answers with the real model (overrides the FakeLLM one)."""
    return ChatService(sqlite_store, local_llm, greedy_registry)


@pytest.mark.simcord(settle_timeout=120)
async def test_a_dm_answered_by_smollm2_matches_greedy_generation_and_is_stored(
    simcord_env, chat: ChatService, local_llm, greedy_registry
):
    from tests.support.greedy import greedy_reply

    quinn = simcord_env.create_user("quinn")

    asked = await quinn.send_dm(QUESTION)

    persona = greedy_registry.get("greedy")
    expected = greedy_reply(
        local_llm, [ChatMessage("system", persona.system_prompt), ChatMessage("user", QUESTION)], persona.max_tokens
    )
    assert expected.strip()
    [answer] = [m for m in quinn.dm_channel.history() if m.author.id != quinn.id]
    assert answer.content == expected
    assert answer.reference.message_id == asked.id
    history = await chat.history(f"discord:{quinn.id}")
    assert [(m.role, m.content) for m in history] == [("user", QUESTION), ("assistant", expected)]
