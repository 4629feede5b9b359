"""End to end with the real SmolLM2: a Telegram DM answered at temperature 0 equals a direct greedy generation."""

from __future__ import annotations

import pytest

from nono.adapters.telegram.format import plan_parts
from nono.core.chat import ChatService
from nono.core.llm.base import ChatMessage
from nono.core.personas import PersonaRegistry
from tests.fakes.telegram_server import FakeTelegram
from tests.support.telegram import ALICE

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"


@pytest.fixture
def chat(sqlite_store, local_llm, greedy_registry) -> ChatService:
    """The bot under test answers with the real model (overrides the FakeLLM one)."""
    return ChatService(sqlite_store, local_llm, greedy_registry)


async def test_a_dm_answered_by_smollm2_matches_greedy_generation(
    tg: FakeTelegram, telegram_bot, chat: ChatService, local_llm, greedy_registry: PersonaRegistry
):
    from tests.support.greedy import greedy_reply

    async with telegram_bot():
        tg.say(tg.users[ALICE], tg.chats[ALICE], QUESTION)
        await tg.wait_for(lambda: tg.shown(ALICE), timeout=120)
        await chat.deliveries.idle()  # stored once Telegram has the final text
        history = await chat.history(f"telegram:{ALICE}")

    persona = greedy_registry.get("greedy")
    expected = greedy_reply(
        local_llm, [ChatMessage("system", persona.system_prompt), ChatMessage("user", QUESTION)], persona.max_tokens
    )
    assert expected.strip()
    assert [(m.role, m.content) for m in history] == [("user", QUESTION), ("assistant", expected)]
    # What Alice sees is that reply, formatted once and sent whole.
    (part,) = plan_parts(expected)
    (sent,) = [c for c in tg.calls_to("sendMessage", ALICE)]
    assert (sent.params["text"], sent.params["parse_mode"]) == (part.html, "HTML")
    assert tg.shown(ALICE) == [part.plain.strip()]
