"""Fifty messages from one person at once through the Telegram adapter (PTB over loopback HTTP).

They arrive in one getUpdates batch; every one is answered, in order, while another person's
message is answered in the meantime; history holds the 100 entries in order; on SQLite and
the real Redis. With the default limits, the person sees clear refusals for the excess.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nono.adapters.telegram.pacing import ChatPacer
from nono.bot.services import chat_limits
from nono.core.chat import ChatLimits, ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.personas import PersonaRegistry
from tests.fakes.telegram_server import FakeTelegram
from tests.hardening.conftest import FLOOD, FLOOD_LIMITS, conversation
from tests.support.settings import make_settings
from tests.support.telegram import ALICE, BOB

ALICE_ID, BOB_ID = f"telegram:{ALICE}", f"telegram:{BOB}"


@pytest.fixture(autouse=True)
def fast_flood_control(monkeypatch: pytest.MonkeyPatch) -> None:
    """Telegram's one-message-a-second pacing, on a virtual clock: spacing and order as in production,
    without fifty seconds of real waiting per test."""
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds
        await asyncio.sleep(0)

    def pacer(min_interval: float, global_rate: float, **hooks: Any) -> ChatPacer:
        return ChatPacer(min_interval, global_rate=global_rate, clock=lambda: now[0], sleep=sleep, **hooks)

    monkeypatch.setattr("nono.adapters.telegram.app.ChatPacer", pacer)


@pytest.fixture
def limits() -> ChatLimits:
    return FLOOD_LIMITS


@pytest.fixture
def chat(durable_store: Any, fake_llm: FakeLLM, registry: PersonaRegistry, limits: ChatLimits) -> ChatService:
    """The adapter's ChatService, on SQLite and on the real Redis."""
    return ChatService(durable_store, fake_llm, registry, limits)


def flood(tg: FakeTelegram, count: int) -> None:
    """Alice sends `count` messages at once: they reach the bot in one getUpdates batch."""
    for n in range(count):
        tg.say(tg.users[ALICE], tg.chats[ALICE], f"message {n}")


async def test_fifty_messages_at_once_are_answered_in_order_and_bob_is_not_kept_waiting(
    tg: FakeTelegram, telegram_bot, chat: ChatService, fake_llm: FakeLLM
) -> None:
    first_held = asyncio.Event()
    fake_llm.enqueue("reply 0", wait_for=first_held)
    fake_llm.enqueue("Bob's answer")
    for n in range(1, FLOOD):
        fake_llm.enqueue(f"reply {n}", delay=(FLOOD - n) * 0.0002)  # later ones quicker

    async with telegram_bot():
        flood(tg, FLOOD)
        await tg.wait_for(lambda: chat.waiting(ALICE_ID) == FLOOD and len(fake_llm.history) == 1)
        tg.say(tg.users[BOB], tg.chats[BOB], "quick one")
        await tg.wait_for(lambda: tg.shown(BOB) == ["Bob's answer"])
        assert tg.shown(ALICE) == [] and chat.waiting(ALICE_ID) == FLOOD, "Alice's are still queued"
        first_held.set()
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == FLOOD and chat.waiting(ALICE_ID) == 0)

    assert tg.shown(ALICE) == [f"reply {n}" for n in range(FLOOD)]
    history = await chat.history(ALICE_ID, 200)
    assert [m.content for m in history] == conversation(FLOOD)
    assert [m.seq for m in history] == list(range(2 * FLOOD))
    # The Telegram message each turn answered is kept with it, in the order they were sent.
    sent_ids = [m.metadata["message_id"] for m in history if m.role == "user"]
    assert sent_ids == sorted(sent_ids) and len(set(sent_ids)) == FLOOD
    assert [m.content for m in await chat.history(BOB_ID)] == ["quick one", "Bob's answer"]


@pytest.mark.parametrize("limits", [chat_limits(make_settings())], ids=["default-limits"])
async def test_with_default_limits_the_excess_gets_a_clear_refusal_and_the_rest_keep_order(
    tg: FakeTelegram, telegram_bot, chat: ChatService, fake_llm: FakeLLM, limits: ChatLimits
) -> None:
    accepted = 1 + limits.max_pending_per_user  # one generating, MAX_PENDING_PER_USER waiting
    first_held = asyncio.Event()
    fake_llm.enqueue("reply 0", wait_for=first_held)
    for n in range(1, accepted):
        fake_llm.enqueue(f"reply {n}")

    async with telegram_bot():
        flood(tg, FLOOD)
        busy = "You have too many messages waiting for an answer. Please wait for my replies."
        await tg.wait_for(lambda: tg.shown(ALICE).count(busy) == FLOOD - accepted)
        first_held.set()
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == FLOOD and chat.waiting(ALICE_ID) == 0)

    answers = [text for text in tg.shown(ALICE) if text != busy]
    assert answers == [f"reply {n}" for n in range(accepted)]
    history = await chat.history(ALICE_ID, 100)
    assert [m.content for m in history] == conversation(accepted), "refused messages left no trace"
