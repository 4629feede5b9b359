"""One person's messages are handled in the order they were sent; different people never wait for each other."""

from __future__ import annotations

import asyncio

from nono.core.llm.fake import FakeLLM
from nono.core.personas import PersonaRegistry
from tests.fakes.telegram_server import FakeTelegram
from tests.support.telegram import ALICE, BOB


async def test_a_command_then_a_message_sent_together_apply_in_order(
    tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM, registry: PersonaRegistry
):
    alice, chat = tg.users[ALICE], tg.chats[ALICE]
    fake_llm.enqueue("Arr!")
    # Both arrive in one getUpdates batch: the switch must land before the message is answered.
    tg.say(alice, chat, "/persona pirate")
    tg.say(alice, chat, "hello")
    async with telegram_bot():
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 2)

    assert tg.shown(ALICE)[0].startswith("Now speaking as Captain Nono")
    assert tg.shown(ALICE)[1] == "Arr!"
    assert fake_llm.history[0].system == registry.get("pirate").system_prompt


async def test_one_persons_messages_are_answered_in_order(tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM):
    alice, chat = tg.users[ALICE], tg.chats[ALICE]
    for n in range(4):
        fake_llm.enqueue(f"answer {n}", delay=0.05)
    for n in range(4):
        tg.say(alice, chat, f"question {n}")
    async with telegram_bot():
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 4)

    assert [p.messages[-1].content for p in fake_llm.history] == [f"question {n}" for n in range(4)]
    assert tg.shown(ALICE) == [f"answer {n}" for n in range(4)]
    # Each prompt saw every earlier exchange: the turns did not overlap.
    assert [len(p.messages) for p in fake_llm.history] == [2, 4, 6, 8]


async def test_a_slow_reply_does_not_hold_up_someone_else(tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM):
    release = asyncio.Event()
    fake_llm.enqueue("Alice's slow answer.", wait_for=release)
    fake_llm.enqueue("Bob's quick answer.")
    async with telegram_bot():
        tg.say(tg.users[ALICE], tg.chats[ALICE], "think hard")
        await tg.wait_for(lambda: len(fake_llm.history) == 1)
        tg.say(tg.users[BOB], tg.chats[BOB], "quick one")
        await tg.wait_for(lambda: tg.shown(BOB) == ["Bob's quick answer."])
        assert tg.shown(ALICE) == [], "Alice's reply is still being written"
        release.set()
        await tg.wait_for(lambda: tg.shown(ALICE) == ["Alice's slow answer."])
