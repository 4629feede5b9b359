"""Fifty messages from one person at once, straight into ChatService, on SQLite and the real Redis.

All fifty are answered in the order they arrived and stored as exactly 100 entries in that
order, while another person is served in the meantime. With the default limits from Settings,
the messages beyond them are refused with a clear message and the accepted ones keep their order.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nono.bot.services import chat_limits
from nono.core.chat import ChatService, Reply
from nono.core.errors import Busy, RateLimited
from nono.core.llm.fake import FakeLLM
from nono.core.personas import PersonaRegistry
from tests.hardening.conftest import FLOOD, FLOOD_LIMITS, conversation, until
from tests.support.settings import make_settings

ALICE, BOB = "discord:1001", "discord:1002"


async def drain(reply: Reply) -> str:
    async with reply:
        return "".join([chunk async for chunk in reply])


def assert_each_prompt_saw_exactly_the_earlier_turns(llm: FakeLLM, user_prompts: list[int], window: int) -> None:
    """Prompt k ends with message k and carries the newest `window` stored entries before it."""
    stored = conversation(FLOOD)
    for k, index in enumerate(user_prompts):
        sent = [m.content for m in llm.history[index].messages[1:]]  # after the persona's system prompt
        assert sent[-1] == f"message {k}"
        assert sent[:-1] == stored[max(0, 2 * k - window) : 2 * k], f"turn {k} saw the wrong history"


async def test_fifty_at_once_are_answered_and_stored_in_arrival_order_while_another_user_is_served(
    durable_store: Any, registry: PersonaRegistry
) -> None:
    llm = FakeLLM()
    chat = ChatService(durable_store, llm, registry, FLOOD_LIMITS)
    first_held = asyncio.Event()
    llm.enqueue("reply 0", wait_for=first_held)
    llm.enqueue("Bob's answer")  # Bob's turn runs while Alice's first one is held open
    for n in range(1, FLOOD):
        # Later replies are quicker: without the per-user line they would overtake earlier ones.
        llm.enqueue(["reply", f" {n}"], delay=(FLOOD - n) * 0.0002)

    replies = [chat.stream(ALICE, f"message {n}") for n in range(FLOOD)]  # all arrive before any await
    # Drained newest first: the event loop starts the last message's task first.
    tasks = [asyncio.create_task(drain(r)) for r in reversed(replies)]
    await until(lambda: len(llm.history) == 1, what="Alice's first turn to start generating")

    bob = await asyncio.wait_for(chat.reply(BOB, "quick question"), timeout=10)
    assert bob.text == "Bob's answer"
    assert chat.waiting(ALICE) == FLOOD, "all of Alice's messages are still in her line"
    assert await chat.history(ALICE, 100) == [], "nothing of Alice's is stored before it is answered"

    first_held.set()
    answers = list(reversed(await asyncio.gather(*tasks)))

    assert answers == [f"reply {n}" for n in range(FLOOD)]
    history = await chat.history(ALICE, 200)
    assert [m.content for m in history] == conversation(FLOOD)
    assert [m.role for m in history] == ["user", "assistant"] * FLOOD
    assert [m.seq for m in history] == list(range(2 * FLOOD))
    assert not any(m.incomplete for m in history)
    alice_prompts = [0, *range(2, FLOOD + 1)]  # prompt 1 was Bob's
    assert_each_prompt_saw_exactly_the_earlier_turns(llm, alice_prompts, chat.limits.max_context_messages)
    assert [m.content for m in await chat.history(BOB)] == ["quick question", "Bob's answer"]
    assert chat.waiting(ALICE) == 0


async def test_default_limits_refuse_the_excess_clearly_and_keep_the_accepted_in_order(
    durable_store: Any, registry: PersonaRegistry
) -> None:
    limits = chat_limits(make_settings())
    assert (limits.max_pending_per_user, limits.rate_limit_per_minute) == (5, 20), "the documented defaults"
    now = [1000.0]
    llm = FakeLLM()
    chat = ChatService(durable_store, llm, registry, limits, clock=lambda: now[0])
    first_held = asyncio.Event()
    llm.enqueue("reply 0", wait_for=first_held)
    llm.enqueue("Bob's answer")
    for n in range(1, 20):
        llm.enqueue(f"reply {n}")

    replies = [chat.stream(ALICE, f"message {n}") for n in range(FLOOD)]
    tasks = [asyncio.create_task(drain(r)) for r in replies]
    await until(lambda: len(llm.history) == 1, what="Alice's first turn to start generating")
    bob = await asyncio.wait_for(chat.reply(BOB, "am I affected?"), timeout=10)
    assert bob.text == "Bob's answer", "another user is never refused because of Alice"
    first_held.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)

    accepted = 1 + limits.max_pending_per_user  # the one generating plus the ones waiting behind it
    assert results[:accepted] == [f"reply {n}" for n in range(accepted)]
    refused = results[accepted:]
    assert all(isinstance(r, Busy) for r in refused), refused
    assert str(refused[0]) == "You have too many messages waiting for an answer. Please wait for my replies."

    # One at a time she may go on, up to RATE_LIMIT_PER_MINUTE accepted messages in a minute.
    for n in range(accepted, 20):
        now[0] += 1
        assert (await chat.reply(ALICE, f"message {n}")).text == f"reply {n}"
    with pytest.raises(RateLimited) as limited:
        await chat.reply(ALICE, "one too many")
    assert str(limited.value) == f"Slow down a little: try again in {limited.value.retry_after} s."
    assert 1 <= limited.value.retry_after <= 60

    history = await chat.history(ALICE, 100)
    assert [m.content for m in history] == conversation(20), "refused messages left no trace"
    now[0] += 61  # a minute later the window has moved on
    llm.enqueue("welcome back")
    assert (await chat.reply(ALICE, "again")).text == "welcome back"
